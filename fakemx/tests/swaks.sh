#!/bin/bash
# swaks.sh MXLAB_FAKEMX — mxlab-fakemx on loopback, driven by swaks (with
# and without pipelining): both messages are dumped as JSON lines with the
# right envelopes, and SIGTERM ends the server with status 0.
set -u
fakemx=$1
dir=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
for attempt in 1 2 3 4 5; do
    port=$((20000 + (RANDOM % 20000)))
    "$fakemx" --listen 127.0.0.25:$port --name mx.swaks.test \
        --dump "$dir/dump.jsonl" 2>"$dir/err" &
    pid=$!
    for _ in $(seq 100); do
        if swaks --server 127.0.0.25:$port --quit-after BANNER \
            >/dev/null 2>&1; then
            break 2
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -9 "$pid" 2>/dev/null
    pid=
done
[ -n "$pid" ] || { echo "swaks.sh: mxlab-fakemx did not start" >&2; cat "$dir/err"; exit 1; }
swaks --server 127.0.0.25:$port --from a@example.com \
    --to b@example.org,c@example.org --pipeline >"$dir/s1" 2>&1 ||
    { echo "swaks.sh: pipelined session failed" >&2; cat "$dir/s1"; exit 1; }
swaks --server 127.0.0.25:$port --from d@example.com --to e@example.org \
    >"$dir/s2" 2>&1 ||
    { echo "swaks.sh: plain session failed" >&2; cat "$dir/s2"; exit 1; }
grep -q '<\*\* 250 ENHANCEDSTATUSCODES\|<-  250 ENHANCEDSTATUSCODES' "$dir/s1" ||
    { echo "swaks.sh: EHLO reply not as expected" >&2; exit 1; }
python3 - "$dir/dump.jsonl" <<'PY' || exit 1
import json, sys
msgs = [json.loads(l) for l in open(sys.argv[1])]
assert len(msgs) == 2, msgs
assert msgs[0]["mail_from"] == "a@example.com", msgs[0]
assert msgs[0]["rcpt_to"] == ["b@example.org", "c@example.org"], msgs[0]
assert msgs[1]["mail_from"] == "d@example.com"
assert msgs[1]["rcpt_to"] == ["e@example.org"]
assert msgs[0]["name"] == "mx.swaks.test" and len(msgs[0]["sha256"]) == 64
print("swaks.sh: 2 messages recorded")
PY
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
[ "$rc" -eq 0 ] || { echo "swaks.sh: exit status $rc on SIGTERM" >&2; exit 1; }
