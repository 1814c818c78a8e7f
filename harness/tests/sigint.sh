#!/bin/bash
# sigint.sh MXLAB SCENARIO REPORTDIR — Ctrl-C on "mxlab run" stops every
# worker it started and exits 130. Waits are bounded and end on real
# conditions (the worker's config appears; the processes are gone).
set -u
mxlab=$1 scn=$2 report=$3 sut=${4:-relay}
if [ "$sut" = postfix ] && [ "$(id -u)" -ne 0 ]; then
    echo "sigint.sh: --sut postfix needs root: skipped"
    exit 77
fi
rm -rf "$report"
"$mxlab" run --sut "$sut" --report "$report" "$scn" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 200); do
    [ -f "$report"/work/*/config/main.cf ] && break
    sleep 0.05
done
queue=
if [ "$sut" = postfix ]; then
    # Wait for the private Postfix's master (its pid file in its queue).
    for _ in $(seq 200); do
        queue=$(sed -n 's/^queue_directory = //p' "$report"/work/*/config/main.cf 2>/dev/null)
        [ -n "$queue" ] && [ -s "$queue/pid/master.pid" ] && break
        sleep 0.05
    done
    master=$(tr -d ' ' <"$queue/pid/master.pid" 2>/dev/null)
    [ -n "$master" ] || { echo "sigint.sh: Postfix never started" >&2; kill -9 "$pid"; exit 1; }
fi
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
if [ -n "$queue" ]; then
    for _ in $(seq 100); do
        [ "$(readlink "/proc/$master/cwd" 2>/dev/null)" = "$queue" ] || break
        sleep 0.05
    done
    if [ "$(readlink "/proc/$master/cwd" 2>/dev/null)" = "$queue" ]; then
        echo "sigint.sh: the private Postfix (pid $master) was left running" >&2
        kill -9 "$master"
        exit 1
    fi
    [ -d "$queue" ] && { echo "sigint.sh: $queue left behind" >&2; exit 1; }
fi
echo "sigint.sh: stopped cleanly"
