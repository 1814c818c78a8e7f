#!/bin/bash
# dig.sh — mxlab-fakedns end to end: serve a zone on 127.0.0.53 at a free
# high port, ask it with dig (A, MX, a name that does not exist, a name
# outside the zone), then stop it with SIGTERM and expect exit status 0.
# Usage: dig.sh PATH/TO/mxlab-fakedns
set -u

bin=${1:?usage: dig.sh PATH/TO/mxlab-fakedns}
ip=127.0.0.53
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
        sed 's/^/  server: /' "$tmp/stderr" >&2
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

cat >"$tmp/minet.zone" <<'EOF'
$TTL 300
@        IN SOA ns1 hostmaster 2024010101 3600 600 86400 60
minet.net. MX 10 mx1
           MX 10 mx2
mx1      A 192.0.2.1
mx2      A 192.0.2.2
EOF

# Start on a port derived from our PID; another one if it is taken.
for attempt in 0 1 2 3 4 5 6 7 8 9; do
    port=$((20000 + ($$ * 7 + attempt * 1009) % 40000))
    "$bin" --listen "$ip:$port" --zone "$tmp/minet.zone" \
        --origin minet.net. 2>"$tmp/stderr" &
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

out=$(ask mx1.minet.net A) || fail "dig A"
expect "$out" 'status: NOERROR' "A"
expect "$out" 'flags: qr aa;' "A"
expect "$out" '^mx1\.minet\.net\.[[:space:]]+300[[:space:]]+IN[[:space:]]+A[[:space:]]+192\.0\.2\.1$' "A"

out=$(ask minet.net MX) || fail "dig MX"
expect "$out" 'status: NOERROR' "MX"
expect "$out" 'flags: qr aa;.* ANSWER: 2,' "MX"
expect "$out" '^minet\.net\.[[:space:]]+300[[:space:]]+IN[[:space:]]+MX[[:space:]]+10 mx1\.minet\.net\.$' "MX"
expect "$out" '^minet\.net\.[[:space:]]+300[[:space:]]+IN[[:space:]]+MX[[:space:]]+10 mx2\.minet\.net\.$' "MX"

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
echo "ok: mxlab-fakedns on $ip:$port answered A, MX, NXDOMAIN, NODATA, REFUSED; exit 0 on SIGTERM"
