#!/bin/sh
# param-warnings.sh MXLAB_RELAY SCENARIO_DIR REF — the start-up warnings
# about parameters the relay ignores or implements in part (params.c) and
# about restriction names it does not know (policy.c),
# for the main.cf of each seed scenario and for Debian 12's stock main.cf
# with what documents commonly paste into it, compared with REF (one
# "config: warning" line each, the directory left out). A change in what
# the relay implements shows here as a changed warning.
set -u
relay=$1
seeds=$2
ref=$3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
out=$dir/out

# $1: a name for the output; main.cf and master.cf are in $dir/cf.
warnings() {
    echo "127.0.0.1:1 inet n - n - - smtpd" >>"$dir/cf/master.cf"
    echo "queue_directory = $dir/queue" >>"$dir/cf/main.cf"
    "$relay" -c "$dir/cf" mailq 2>&1 >/dev/null |
        grep 'warning: .*\(implemented\|unused parameter\|not an mxlab\|unknown smtpd restriction\)' |
        sed "s|^.*warning: $dir/cf/|$1: |" | sort >>"$out"
}

: >"$out"
for scn in "$seeds"/*.scn; do
    rm -rf "$dir/cf" && mkdir -p "$dir/cf" && : >"$dir/cf/master.cf"
    awk '/^\[main\.cf\]/ { on = 1; next } /^\[/ { on = 0 } on' "$scn" \
        >"$dir/cf/main.cf"
    warnings "$(basename "$scn" .scn)"
done

rm -rf "$dir/cf" && mkdir -p "$dir/cf"
cat >"$dir/cf/main.cf" <<'CF'
# Debian 12's main.cf as its postinst writes it for an Internet site,
# then lines that documents commonly add.
smtpd_banner = $myhostname ESMTP $mail_name (Debian/GNU)
biff = no
append_dot_mydomain = no
readme_directory = no
compatibility_level = 3.6
smtpd_tls_cert_file=/nonexistent/ssl-cert-snakeoil.pem
smtpd_tls_key_file=/nonexistent/ssl-cert-snakeoil.key
smtpd_tls_security_level=may
smtp_tls_CApath=/etc/ssl/certs
smtp_tls_security_level=may
smtp_tls_session_cache_database = btree:${data_directory}/smtp_scache
smtpd_relay_restrictions = permit_mynetworks permit_sasl_authenticated defer_unauth_destination
myhostname = mx.example.net
alias_maps = hash:/etc/aliases
alias_database = hash:/etc/aliases
mydestination = $myhostname, example.net, localhost
relayhost =
mynetworks = 127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128
mailbox_size_limit = 0
recipient_delimiter = +
inet_interfaces = all
inet_protocols = all
smtpd_milters = inet:127.0.0.1:8891
non_smtpd_milters = $smtpd_milters
smtpd_sasl_auth_enable = yes
header_checks = regexp:/etc/postfix/header_checks
smtpd_forbid_bare_newline = normalize
smtpd_recipient_restrictions = permit_mynetworks, check_client_access
  hash:/nonexistent/access, reject_rbl_client zen.example,
  check_policy_service unix:private/policy, permit_mynetwork,
  reject_unauth_destination
CF
cat >"$dir/cf/master.cf" <<'CF'
127.0.0.1:2 inet n - n - - smtpd -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_new_tls_session_rate_limit=10
  -o smtpd_helo_restrictions=permit_sasl_authenticated,rejectt
CF
warnings debian

if ! diff -u "$ref" "$out"; then
    echo "param-warnings.sh: warnings differ from $ref (above)" >&2
    exit 1
fi
echo "param-warnings.sh: ok ($(wc -l <"$out") warnings)"
