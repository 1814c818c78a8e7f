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
# A machine whose package lists were cleaned after installation (container
# images often are) knows no candidate to download: update them once and
# try again.
download() {
    apt-get download -q exim4-daemon-light exim4-base exim4-config libidn12 \
        >/dev/null 2>"$dir/debs/apt.err"
}
download || {
    echo "fetch-exim.sh: apt-get download failed; apt-get update, then again" >&2
    apt-get update -q >"$dir/debs/update.log" 2>&1 || cat "$dir/debs/update.log" >&2
    download
} || {
    echo "fetch-exim.sh: cannot download Exim's packages:" >&2
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
