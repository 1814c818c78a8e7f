#!/bin/bash
# dig.sh — mxlab-fakedns end to end, asked with dig on loopback: a zone and
# a DNSBL served on 127.0.0.53 and 127.0.0.54 at a free high port; A, MX,
# NXDOMAIN, NODATA, REFUSED; TCP with several queries on one connection;
# EDNS sizes, TC and the retry over TCP; each fault kind written in the
# zone ($FAULT); DNSBL lists ($LISTED) and the RFC 5782 test points; junk
# datagrams; SIGHUP reload (good and bad file); a bad zone refused at
# start with file:line; exit 0 on SIGTERM. Every wait is bounded.
# Usage: dig.sh PATH/TO/mxlab-fakedns
set -u

bin=${1:?usage: dig.sh PATH/TO/mxlab-fakedns}
ip=127.0.0.53
ip2=127.0.0.54
tmp=$(mktemp -d)
pid=
port=

cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    if [ -s "$tmp/stderr" ]; then
        tail -40 "$tmp/stderr" | sed 's/^/  server: /' >&2
    fi
    exit 1
}

ask() {
    dig +tries=1 +time=1 +norec @"$ip" -p "$port" "$@"
}

# expect OUTPUT REGEX WHAT: the dig output must match the extended regex.
expect() {
    if ! grep -Eq -- "$2" <<<"$1"; then
        printf '%s\n' "$1" >&2
        fail "$3: no line matches /$2/"
    fi
}

# until_ok SECONDS COMMAND...: retry COMMAND every 0.1 s, bounded.
until_ok() {
    local deadline=$((SECONDS + $1))
    shift
    while [ "$SECONDS" -lt "$deadline" ]; do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

long=$(printf 'k%.0s' $(seq 300))
write_zone() { # write_zone MX1-ADDRESS
    cat >"$tmp/minet.zone" <<EOF
\$ORIGIN minet.net.
\$TTL 300
@        IN SOA ns1 hostmaster 2024010101 3600 600 86400 60
minet.net. MX 10 mx1
           MX 10 mx2
@        TXT "v=spf1 mx -all"
null     MX 0 .
mx1      A $1
mx2      A 127.0.2.2
sel._domainkey TXT ( "v=DKIM1; k=rsa; p=${long:0:200}"
                     "${long:200}" )
big      TXT ( "$(printf 'x%.0s' $(seq 200))" "$(printf 'y%.0s' $(seq 200))"
               "$(printf 'z%.0s' $(seq 200))" )
\$FAULT sf        A servfail
\$FAULT ref       A refused
\$FAULT gone      A nxdomain
\$FAULT lost      A timeout
\$FAULT slow      A delay=400
\$FAULT tc        A truncate
\$FAULT bad       A malformed
\$FAULT second    A servfail nth=2
sf A 127.0.2.10
ref A 127.0.2.11
gone A 127.0.2.12
lost A 127.0.2.13
slow A 127.0.2.14
tc A 127.0.2.15
bad A 127.0.2.16
second A 127.0.2.17
EOF
}
write_zone 127.0.2.1
cat >"$tmp/bl.zone" <<'EOF'
$ORIGIN bl.test.
$TTL 60
$LISTED 127.0.2.0/24 127.0.0.3 "net listed"
$LISTED 127.51.100.7 127.0.0.2 "one host"
$LISTED spam.example 127.0.0.4 "bad domain"
EOF

# A bad zone is refused at start with file:line and the reason, after
# the program's name as every error it prints.
printf '@ A 127.0.2.1\nbad A 127.0.2.300\n' >"$tmp/bad.zone"
"$bin" --listen "$ip:0" --zone "$tmp/bad.zone" --origin x.test. \
    2>"$tmp/bad.err"
rc=$?
[ "$rc" -eq 1 ] || fail "bad zone: exit status $rc, want 1"
grep -q "^mxlab-fakedns: $tmp/bad.zone:2: " "$tmp/bad.err" ||
    fail "bad zone: no file:line in \"$(cat "$tmp/bad.err")\""

# Start on a port derived from our PID; another one if it is taken.
for attempt in 0 1 2 3 4 5 6 7 8 9; do
    port=$((20000 + ($$ * 7 + attempt * 1009) % 40000))
    "$bin" -vv --listen "$ip:$port" --listen "$ip2:$port" \
        --zone "$tmp/bl.zone" --zone "$tmp/minet.zone" 2>"$tmp/stderr" &
    pid=$!
    ready=
    deadline=$((SECONDS + 10))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if ! kill -0 "$pid" 2>/dev/null; then
            break # exited: could not start
        fi
        if ask minet.net SOA >/dev/null 2>&1; then
            ready=1
            break
        fi
        sleep 0.1
    done
    [ -n "$ready" ] && break
    if kill -0 "$pid" 2>/dev/null; then
        fail "no answer on $ip:$port within 10 seconds"
    fi
    wait "$pid"
    rc=$?
    pid=
    grep -q 'in use' "$tmp/stderr" || fail "exited with status $rc at start"
done
[ -n "$ready" ] || fail "no free port after 10 attempts"

# --- authoritative answers -------------------------------------------
out=$(ask mx1.minet.net A) || fail "dig A"
expect "$out" 'status: NOERROR' "A"
expect "$out" 'flags: qr aa;' "A"
expect "$out" '^mx1\.minet\.net\.[[:space:]]+300[[:space:]]+IN[[:space:]]+A[[:space:]]+127\.0\.2\.1$' "A"

out=$(ask minet.net MX) || fail "dig MX"
expect "$out" 'status: NOERROR' "MX"
expect "$out" 'flags: qr aa;.* ANSWER: 2,' "MX"
expect "$out" '^minet\.net\.[[:space:]]+300[[:space:]]+IN[[:space:]]+MX[[:space:]]+10 mx1\.minet\.net\.$' "MX"
expect "$out" '^minet\.net\.[[:space:]]+300[[:space:]]+IN[[:space:]]+MX[[:space:]]+10 mx2\.minet\.net\.$' "MX"

out=$(ask null.minet.net MX) || fail "dig null MX"
expect "$out" 'IN[[:space:]]+MX[[:space:]]+0 \.$' "null MX"

out=$(ask sel._domainkey.minet.net TXT) || fail "dig DKIM"
expect "$out" "\"v=DKIM1; k=rsa; p=${long:0:200}\" \"${long:200}\"" "DKIM"

out=$(ask NoSuchHost.minet.net A) || fail "dig nonexistent"
expect "$out" 'status: NXDOMAIN' "NXDOMAIN"
expect "$out" 'flags: qr aa;.* ANSWER: 0, AUTHORITY: 1,' "NXDOMAIN"
expect "$out" '^;NoSuchHost\.minet\.net\.[[:space:]]+IN[[:space:]]+A$' "question echo"
expect "$out" 'IN[[:space:]]+SOA[[:space:]]+ns1\.minet\.net\. hostmaster\.minet\.net\.' "NXDOMAIN SOA"

out=$(ask mx1.minet.net MX) || fail "dig NODATA"
expect "$out" 'status: NOERROR' "NODATA"
expect "$out" 'flags: qr aa;.* ANSWER: 0, AUTHORITY: 1,' "NODATA"

out=$(ask example.com A) || fail "dig outside"
expect "$out" 'status: REFUSED' "REFUSED"

out=$(dig +tries=1 +time=1 +norec @"$ip2" -p "$port" mx1.minet.net A) ||
    fail "dig second listener"
expect "$out" 'IN[[:space:]]+A[[:space:]]+127\.0\.2\.1$' "second --listen"

# --- TCP, EDNS, TC -----------------------------------------------------
out=$(ask +tcp +keepopen mx1.minet.net A minet.net MX mx2.minet.net A) ||
    fail "dig +tcp +keepopen"
[ "$(grep -c 'status: NOERROR' <<<"$out")" -eq 3 ] || fail "TCP: 3 answers"
expect "$out" 'mx2\.minet\.net\.[[:space:]]+300[[:space:]]+IN[[:space:]]+A[[:space:]]+127\.0\.2\.2$' "TCP"
# RFC 7766: the three came over one connection (one client port).
clients=$(grep -E 'query (mx1\.minet\.net\. type 1|minet\.net\. type 15|mx2\.minet\.net\. type 1) from .* over tcp' "$tmp/stderr" |
    sed 's/.* from \([^ ]*\) over tcp.*/\1/' | sort -u)
[ "$(grep -c . <<<"$clients")" -eq 1 ] ||
    fail "TCP: queries came from several connections: $clients"

out=$(ask +bufsize=4096 big.minet.net TXT) || fail "dig EDNS 4096"
expect "$out" 'flags: qr aa;.* ANSWER: 1,' "EDNS 4096"
expect "$out" 'EDNS: version: 0, flags:; udp: 1232' "OPT in the answer"
out=$(ask +noedns +ignore big.minet.net TXT) || fail "dig no EDNS"
expect "$out" 'flags: qr aa tc;.* ANSWER: 0,' "TC without EDNS"
out=$(ask +bufsize=512 +ignore big.minet.net TXT) || fail "dig EDNS 512"
expect "$out" 'flags: qr aa tc;' "TC at EDNS 512"
out=$(ask +noedns big.minet.net TXT) || fail "dig retry over TCP"
expect "$out" 'Truncated, retrying in TCP mode' "TCP retry"
expect "$out" 'flags: qr aa;.* ANSWER: 1,' "TCP retry answer"

# --- faults ($FAULT in the zone) ---------------------------------------
out=$(ask sf.minet.net A) || fail "dig servfail"
expect "$out" 'status: SERVFAIL' "servfail"
out=$(ask ref.minet.net A) || fail "dig refused"
expect "$out" 'status: REFUSED' "refused"
out=$(ask gone.minet.net A) || fail "dig nxdomain"
expect "$out" 'status: NXDOMAIN' "nxdomain"
expect "$out" 'AUTHORITY: 1,' "nxdomain SOA"
out=$(ask lost.minet.net A)
rc=$?
[ "$rc" -eq 9 ] || fail "timeout: dig exit status $rc, want 9 (no reply)"
expect "$out" 'timed out' "timeout"
out=$(ask +tcp lost.minet.net A)
expect "$out" 'timed out|no servers could be reached' "timeout over TCP"
t0=$(date +%s%N)
out=$(ask slow.minet.net A) || fail "dig delay"
t1=$(date +%s%N)
expect "$out" 'IN[[:space:]]+A[[:space:]]+127\.0\.2\.14$' "delay"
[ $(((t1 - t0) / 1000000)) -ge 400 ] || fail "delay: answered in $(((t1 - t0) / 1000000)) ms"
out=$(ask +ignore tc.minet.net A) || fail "dig truncate"
expect "$out" 'flags: qr aa tc;.* ANSWER: 0,' "truncate"
out=$(ask tc.minet.net A) || fail "dig truncate, retry"
expect "$out" 'Truncated, retrying in TCP mode' "truncate retry"
expect "$out" 'IN[[:space:]]+A[[:space:]]+127\.0\.2\.15$' "truncate: TCP answer"
out=$(ask bad.minet.net A 2>&1)
# dig shows what it could read, after its parser's complaint.
expect "$out" 'Message parser reports malformed message packet' "malformed"
out=$(ask second.minet.net A) || fail "dig nth=2 (1)"
expect "$out" 'status: NOERROR' "nth=2, first"
out=$(ask second.minet.net A) || fail "dig nth=2 (2)"
expect "$out" 'status: SERVFAIL' "nth=2, second"
out=$(ask second.minet.net A) || fail "dig nth=2 (3)"
expect "$out" 'status: NOERROR' "nth=2, third"

# --- DNSBL ($LISTED) -----------------------------------------------------
out=$(ask 7.2.0.127.bl.test A) || fail "dig DNSBL net"
expect "$out" 'IN[[:space:]]+A[[:space:]]+127\.0\.0\.3$' "DNSBL net"
out=$(ask 7.2.0.127.bl.test TXT) || fail "dig DNSBL TXT"
expect "$out" 'TXT[[:space:]]+"net listed"$' "DNSBL TXT"
out=$(ask 7.100.51.127.bl.test A) || fail "dig DNSBL host"
expect "$out" '127\.0\.0\.2$' "DNSBL host"
out=$(ask 8.100.51.127.bl.test A) || fail "dig DNSBL not listed"
expect "$out" 'status: NXDOMAIN' "DNSBL not listed"
expect "$out" 'IN[[:space:]]+SOA' "DNSBL SOA"
out=$(ask spam.example.bl.test A) || fail "dig RHSBL"
expect "$out" '127\.0\.0\.4$' "RHSBL"
out=$(ask 2.0.0.127.bl.test A) || fail "dig test point"
expect "$out" '127\.0\.0\.2$' "RFC 5782 127.0.0.2"
out=$(ask 1.0.0.127.bl.test A) || fail "dig 127.0.0.1"
expect "$out" 'status: NXDOMAIN' "RFC 5782 127.0.0.1"

# --- junk from the network ------------------------------------------------
printf '\x12\x34' >/dev/udp/$ip/$port
printf '\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01' >/dev/udp/$ip/$port
printf '\xff\xff\x00\x00' >/dev/tcp/$ip/$port
printf '\x00\x05abcde' >/dev/tcp/$ip/$port
out=$(ask mx1.minet.net A) || fail "dig after junk"
expect "$out" '127\.0\.2\.1$' "still serving after junk"

# --- SIGHUP ------------------------------------------------------------------
write_zone 127.0.2.101
kill -HUP "$pid"
reloaded() { ask mx1.minet.net A 2>/dev/null | grep -q '127\.0\.2\.101$'; }
until_ok 10 reloaded || fail "SIGHUP: new zone not served within 10 s"
printf '%s\n' "\$ORIGIN minet.net." '@ MX 10 mx1' 'mx1 A not-an-address' \
    >"$tmp/minet.zone"
kill -HUP "$pid"
refused() { grep -q "reload refused.*$tmp/minet.zone:3: " "$tmp/stderr"; }
until_ok 10 refused || fail "SIGHUP: bad zone not reported with file:line"
out=$(ask mx1.minet.net A) || fail "dig after a bad reload"
expect "$out" '127\.0\.2\.101$' "old zones kept after a bad reload"

kill -TERM "$pid"
deadline=$((SECONDS + 10))
while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
    sleep 0.1
done
kill -0 "$pid" 2>/dev/null && fail "still running 10 seconds after SIGTERM"
wait "$pid"
rc=$?
pid=
[ "$rc" -eq 0 ] || fail "exit status $rc after SIGTERM"
echo "ok: mxlab-fakedns on $ip:$port and $ip2:$port: answers, TCP, EDNS/TC, faults, DNSBL, junk, SIGHUP, SIGTERM"
