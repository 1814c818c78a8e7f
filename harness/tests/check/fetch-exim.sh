#!/bin/sh
# fetch-exim.sh DIR — Debian 12's Exim 4.96 unpacked into DIR/root, never
# installed: installing exim4 would remove Postfix (both provide
# mail-transport-agent). "apt-get download" fetches the packages from the
# configured Debian mirror and "dpkg -x" unpacks them; libidn12, which the
# daemon needs and Postfix does not pull in, comes the same way. Prints
# DIR/root. Idempotent: an unpacked tree is reused.
set -eu
dir=$1
root=$dir/root
if [ -x "$root/usr/sbin/exim4" ] &&
    ls "$root"/usr/lib/*/libidn.so.12 >/dev/null 2>&1; then
    echo "$root"
    exit 0
fi
mkdir -p "$dir/debs" "$root"
cd "$dir/debs"
# _apt cannot write into a root-owned mktemp directory: let it.
chmod 777 "$dir/debs"
apt-get download -q exim4-daemon-light exim4-base exim4-config libidn12 \
    >/dev/null 2>"$dir/debs/apt.err" || {
    cat "$dir/debs/apt.err" >&2
    exit 1
}
for deb in ./*.deb; do
    dpkg -x "$deb" "$root"
done
[ -x "$root/usr/sbin/exim4" ] || {
    echo "fetch-exim.sh: no exim4 binary in the packages" >&2
    exit 1
}
echo "$root"
