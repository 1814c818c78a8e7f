#!/bin/bash
# remote.sh BIN_DIR SOURCE_DIR — "mxlab run --sut smtp://HOST:PORT" against
# a server the test starts itself (mxlab-relay on a free loopback port):
# the black-box scenarios pass, a scenario that configures its SUT is
# skipped with the reason, a bad URL is refused with exit 2, and a session
# goes on under TLS after STARTTLS (the relay has a certificate made with
# openssl req). Bounded waits; the relay is stopped on exit.
set -u
bin=$1 src=$2
work=$(mktemp -d /tmp/mxlab-remote.XXXXXX)
chmod 755 "$work" # started as root, the relay serves as mail_owner
relay=
cleanup() {
    [ -n "$relay" ] && kill "$relay" 2>/dev/null && wait "$relay" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "remote.sh: $*" >&2; exit 1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/queue"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$work/key.pem" -out "$work/cert.pem" -days 2 \
    -subj /CN=candidate.example 2>/dev/null || fail "openssl req failed"
cat >"$work/main.cf" <<CF
myhostname = candidate.example
mydestination =
mynetworks = 127.0.0.0/24
queue_directory = $work/queue
maillog_file = $work/maillog
smtpd_tls_security_level = may
smtpd_tls_cert_file = $work/cert.pem
smtpd_tls_key_file = $work/key.pem
smtpd_tls_loglevel = 1
CF
echo "127.0.0.1:$port inet n - n - - smtpd" >"$work/master.cf"
"$bin/mxlab-relay" -c "$work" 2>"$work/stderr" &
relay=$!
for _ in $(seq 200); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),1)" 2>/dev/null && break
    sleep 0.05
done

out=$("$bin/mxlab" run --report "$work/report" --sut "smtp://127.0.0.1:$port" \
    "$src/scenarios/blackbox" "$src/scenarios/seeds/000-ovh-relay.scn")
rc=$?
echo "$out"
[ $rc -eq 0 ] || fail "mxlab run exited $rc"
grep -q "^2 passed, 0 failed, 1 skipped$" <<<"$out" || fail "wrong totals"
grep -q "000-ovh-relay.scn:[0-9]*: needs its own system under test" <<<"$out" ||
    fail "no skip reason for a scenario with [main.cf]"
grep -q "candidate.example postfix/smtpd.*connect from" "$work/maillog" ||
    fail "the sessions did not reach the candidate server"

"$bin/mxlab" run --report "$work/report-tls" --sut "smtp://127.0.0.1:$port" \
    "$src/harness/tests/remote/starttls.scn" || fail "STARTTLS session failed"
grep -q "Anonymous TLS connection established from localhost" \
    "$work/maillog" || fail "no TLS session in the candidate's log"

"$bin/mxlab" run --sut smtp://nowhere "$src/scenarios/blackbox" 2>"$work/err"
rc=$?
[ $rc -eq 2 ] || fail "a bad URL: exit $rc, expected 2"
grep -q "expected smtp://HOST:PORT" "$work/err" || fail "a bad URL: no reason"
echo "remote.sh: ok"
