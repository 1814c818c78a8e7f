#!/bin/bash
# sigint.sh MXLAB SCENARIO REPORTDIR — Ctrl-C on "mxlab run" stops every
# worker it started and exits 130. Waits are bounded and end on real
# conditions (the worker's config appears; the processes are gone).
set -u
mxlab=$1 scn=$2 report=$3
rm -rf "$report"
"$mxlab" run --report "$report" "$scn" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 200); do
    [ -f "$report"/work/*/config/main.cf ] && break
    sleep 0.05
done
if ! ls "$report"/work/*/config/main.cf >/dev/null 2>&1; then
    echo "sigint.sh: the worker never started" >&2
    kill -9 "$pid" 2>/dev/null
    exit 1
fi
kill -INT "$pid"
for _ in $(seq 200); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
done
if kill -0 "$pid" 2>/dev/null; then
    echo "sigint.sh: mxlab run did not stop on SIGINT" >&2
    kill -9 "$pid"
    exit 1
fi
wait "$pid"
rc=$?
if [ "$rc" -ne 130 ]; then
    echo "sigint.sh: exit status $rc, expected 130" >&2
    exit 1
fi
for _ in $(seq 100); do
    pgrep -f -- "--report $report" >/dev/null || break
    sleep 0.05
done
if pgrep -f -- "--report $report" >/dev/null; then
    echo "sigint.sh: workers left behind:" >&2
    pgrep -af -- "--report $report" >&2
    pkill -9 -f -- "--report $report"
    exit 1
fi
echo "sigint.sh: stopped cleanly"
