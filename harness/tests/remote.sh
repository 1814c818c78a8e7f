#!/bin/bash
# remote.sh BIN_DIR SOURCE_DIR — "mxlab run --sut smtp://HOST:PORT" against
# a server the test starts itself (mxlab-relay on free loopback ports):
# the black-box scenarios pass, a scenario that configures its SUT is
# skipped with the reason, a bad URL is refused with exit 2, a session
# goes on under TLS after STARTTLS (the relay has a certificate made with
# openssl req), smtps:// speaks TLS from the first byte to its wrapper-mode
# service, a port where nothing listens says "connection refused", a
# session from a non-loopback address says which addresses can be used,
# and the reports name the system tested. Bounded waits; the relay is
# stopped on exit.
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
mxlab=$bin/mxlab me=remote.sh
. "$(dirname "$0")/lib.sh"

freeport() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
port=$(freeport)
sport=$(freeport)
closed=$(freeport)
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
cat >"$work/master.cf" <<MCF
127.0.0.1:$port inet n - n - - smtpd
127.0.0.1:$sport inet n - n - - smtpd -o smtpd_tls_wrappermode=yes
MCF
"$bin/mxlab-relay" -c "$work" 2>"$work/stderr" &
relay=$!
for _ in $(seq 200); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),1)" 2>/dev/null && break
    sleep 0.05
done

# runsut WANT REPORT SUT PATH...: "mxlab run" against SUT (lib.sh's
# mxrun).
runsut() {
    want=$1 rep=$2 sut=$3
    shift 3
    mxrun "$want" run --report "$work/$rep" --sut "$sut" "$@"
}

runsut 0 report "smtp://127.0.0.1:$port" \
    "$src/scenarios/blackbox" "$src/scenarios/seeds/000-ovh-relay.scn"
grep -q "^2 passed, 0 failed, 1 skipped$" <<<"$out" || fail "wrong totals"
grep -q "000-ovh-relay.scn:[0-9]*: needs its own system under test" <<<"$out" ||
    fail "no skip reason for a scenario with [main.cf]"
grep -q "candidate.example postfix/smtpd.*connect from" "$work/maillog" ||
    fail "the sessions did not reach the candidate server"
# The reports name the system tested, when, and by which mxlab.
grep -q "^mxlab .* sut=smtp://127.0.0.1:$port  started 20" <<<"$out" ||
    fail "the table's header does not name the SUT"
grep -q '<property name="sut" value="smtp://127.0.0.1:'"$port"'"/>' \
    "$work/report/junit.xml" || fail "junit.xml does not name the SUT"
grep -q '"run":{"sut":"smtp://127.0.0.1:'"$port"'","started":"20' \
    "$work/report/results.json" || fail "results.json does not name the SUT"

runsut 0 report-tls "smtp://127.0.0.1:$port" \
    "$src/harness/tests/remote/starttls.scn"
grep -q "Anonymous TLS connection established from localhost" \
    "$work/maillog" || fail "no TLS session in the candidate's log"

# smtps://: TLS from the first byte, the greeting under it.
runsut 0 report-smtps "smtps://127.0.0.1:$sport" "$src/scenarios/blackbox"
grep -q "sut=smtps://127.0.0.1:$sport" <<<"$out" || fail "smtps: no header"
grep -c "TLS connection established from localhost" "$work/maillog" |
    grep -qv '^[01]$' || fail "smtps: no TLS sessions in the candidate's log"

# Nothing listens: "connection refused", not "closed by the server".
runsut 1 report-refused "smtp://127.0.0.1:$closed" \
    "$src/scenarios/blackbox/smtp-basics.scn"
grep -q "cannot connect to 127.0.0.1:$closed: connection refused" <<<"$out" ||
    fail "a refused connection is not called refused"

# A session from an address that is not loopback: which ones can be used.
# (Refused before any socket: the test needs a non-loopback address.)
runsut 1 report-from "smtp://127.0.0.1:$port" \
    "$src/harness/tests/remote/from-outside.scn"
grep -q "from-outside.scn:[0-9]*: 10.1.2.3 is not an address the lab sends from: a session can come from any address in 127.0.0.0/8 or from ::1" <<<"$out" ||
    fail "a session from 10.1.2.3 does not say which addresses can be used"

for url in smtp://127.0.0.1:0 smtp://127.0.0.1:x smtp:// ftp://127.0.0.1; do
    "$bin/mxlab" run --sut "$url" "$src/scenarios/blackbox" 2>"$work/err"
    rc=$?
    [ $rc -eq 2 ] || fail "a bad URL $url: exit $rc, expected 2"
    grep -q "^mxlab run: --sut $url: .*expected" "$work/err" ||
        fail "a bad URL $url: no reason"
done
echo "remote.sh: ok"
