#!/bin/sh
# unused-param.sh MXLAB_RELAY — a main.cf name that neither Postfix nor
# mxlab knows is reported with file:line, as postconf's "unused
# parameter"; a user-defined name used as $name and an mxlab_ name are not.
# The same for master.cf's "-o name=value" overrides (a main.cf name used
# only from master.cf is used).
set -u
relay=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat >"$dir/main.cf" <<CF
myhostname = relay.example.net
myhostnme = typo.example.net
my_domains = example.org
relay_domains = \$my_domains
mxlab_dns_servers = 127.0.0.1:9
queue_directory = $dir/queue
lab_banner = \$myhostname lab
CF
cat >"$dir/master.cf" <<'CF'
127.0.0.1:1 inet n - n - - smtpd
127.0.0.1:2 inet n - n - - smtpd -o smtpd_bogus=1
  -o { smtpd_banner = $lab_banner }
CF
"$relay" -c "$dir" mailq >"$dir/out" 2>"$dir/err"
grep -q "main.cf:2: unused parameter: myhostnme=typo.example.net" "$dir/err" ||
    { echo "unused-param.sh: no warning: $(cat "$dir/err")" >&2; exit 1; }
grep -q "master.cf:2: unused parameter: smtpd_bogus=1" "$dir/err" ||
    { echo "unused-param.sh: no -o warning: $(cat "$dir/err")" >&2; exit 1; }
if grep -q "my_domains\|mxlab_dns_servers\|lab_banner" "$dir/err"; then
    echo "unused-param.sh: a used or mxlab_ name was reported" >&2
    exit 1
fi
echo "unused-param.sh: ok"
