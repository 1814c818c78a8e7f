#!/bin/bash
# swaks.sh — mxlab-fakemx end to end: listen on 127.0.0.25 at a free high
# port with --dump, deliver one message with swaks using PIPELINING and one
# without, check swaks' exit status and the two JSON lines of the dump,
# then stop the server with SIGTERM and expect exit status 0.
# Usage: swaks.sh PATH/TO/mxlab-fakemx
set -u

bin=${1:?usage: swaks.sh PATH/TO/mxlab-fakemx}
ip=127.0.0.25
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

command -v swaks >/dev/null || fail "swaks is not installed"
command -v python3 >/dev/null || fail "python3 is not installed"

# 1 when something accepts TCP connections on $ip:$port.
accepts() {
    (exec 3<>"/dev/tcp/$ip/$port") 2>/dev/null
}

# Start on a port derived from our PID; another one if it is taken.
for attempt in 0 1 2 3 4 5 6 7 8 9; do
    port=$((20000 + ($$ * 7 + attempt * 1013) % 40000))
    "$bin" --listen "$ip:$port" --name mx.swaks.test --dump "$tmp/dump" \
        -v 2>"$tmp/stderr" &
    pid=$!
    ready=
    deadline=$((SECONDS + 10))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if ! kill -0 "$pid" 2>/dev/null; then
            break # exited: could not start
        fi
        if accepts; then
            ready=1
            break
        fi
        sleep 0.1
    done
    [ -n "$ready" ] && break
    if kill -0 "$pid" 2>/dev/null; then
        fail "not accepting on $ip:$port within 10 seconds"
    fi
    wait "$pid"
    rc=$?
    pid=
    [ "$rc" -eq 1 ] || fail "exited with status $rc at start (expected 1)"
    grep -q "$ip:$port" "$tmp/stderr" || fail "start error does not name the address"
    grep -q 'in use' "$tmp/stderr" || fail "exited with status $rc at start"
done
[ -n "$ready" ] || fail "no free port after 10 attempts"

# send FROM TO [swaks options]
send() {
    local from=$1 to=$2
    shift 2
    swaks --server "$ip" --port "$port" --from "$from" --to "$to" \
        --helo client.swaks.test --timeout 20 "$@" >"$tmp/swaks.log" 2>&1
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        cat "$tmp/swaks.log" >&2
        fail "swaks $* exited with status $rc"
    fi
}

send a@example.com b@example.org,c@example.org --pipeline
grep -q '^<- *250-PIPELINING' "$tmp/swaks.log" ||
    { cat "$tmp/swaks.log" >&2; fail "no PIPELINING in the EHLO reply"; }
grep -q '^<- *250 ENHANCEDSTATUSCODES' "$tmp/swaks.log" ||
    { cat "$tmp/swaks.log" >&2; fail "EHLO reply not as expected"; }
send d@example.com e@example.org

# The dump is written and flushed per message: no need to stop first.
python3 - "$tmp/dump" "$ip:$port" <<'PY' || fail "dump check failed"
import hashlib, json, sys
path, host = sys.argv[1], sys.argv[2]
with open(path, encoding="utf-8") as f:
    lines = f.read().splitlines()
if len(lines) != 2:
    sys.exit("expected 2 JSON lines, got %d" % len(lines))
envelopes = [("a@example.com", ["b@example.org", "c@example.org"]),
             ("d@example.com", ["e@example.org"])]
for n, (line, (sender, rcpts)) in enumerate(zip(lines, envelopes), 1):
    m = json.loads(line)
    want = {"host": host, "name": "mx.swaks.test",
            "helo": "client.swaks.test", "mail_from": sender,
            "rcpt_to": rcpts}
    for k, v in want.items():
        if m.get(k) != v:
            sys.exit("line %d: %s is %r, expected %r" % (n, k, m.get(k), v))
    if not m["client_ip"].startswith("127."):
        sys.exit("line %d: client_ip %r" % (n, m["client_ip"]))
    data = m["data"].encode("utf-8")
    if m["size"] != len(data) or m["sha256"] != hashlib.sha256(data).hexdigest():
        sys.exit("line %d: size or sha256 do not match the data" % n)
    if not data.endswith(b"\r\n") or b"\r\n.\r\n" in data:
        sys.exit("line %d: data is not CRLF lines without the final dot" % n)
    if "This is a test mailing" not in m["data"]:
        sys.exit("line %d: swaks' body is missing" % n)
PY

kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
[ "$rc" -eq 0 ] || fail "exit status $rc after SIGTERM (expected 0)"
echo "fakemx swaks: 2 messages (with and without PIPELINING) recorded"
