#!/bin/sh
# bench/relay-vs-postfix.sh — issue 6's benchmark (not a test), with mxlab
# bench as the client (issue 20): MESSAGES messages of SIZE bytes over
# SESSIONS connections into the system under test, which relays
# everything to smtp-sink; run through mxlab-relay and through a private
# Postfix 3.7 with the same main.cf, both with durable queues (fsync
# before 250), in the same run, ROUNDS times alternating (ABAB...).
# Prints per SUT the median of: acceptance rate and p99 latency (mxlab
# bench, MAIL to 250), the rate until smtp-sink has the last message, and
# the SUT's CPU per message over all its processes (a cgroup v2 of its
# own, so Postfix's smtpd, cleanup, qmgr and smtp count; needs root);
# then the ratios relay/Postfix and the relay's peak RSS.
#
# usage: bench/relay-vs-postfix.sh BUILD_BIN_DIR [MESSAGES [SESSIONS [SIZE
#        [ROUNDS]]]]
# Needs root (Postfix, smtp-sink -u). With 2 CPUs or more the SUT runs on
# CPU 0, mxlab bench and smtp-sink on CPU 1 (BENCH_PIN=0: no pinning).
# Loopback only; every process started is stopped on exit; each phase is
# bounded by a timeout.
set -eu

BIN=${1:?usage: $0 BUILD_BIN_DIR [MESSAGES [SESSIONS [SIZE [ROUNDS]]]]}
MESSAGES=${2:-5000}
SESSIONS=${3:-20}
SIZE=${4:-2048}
ROUNDS=${5:-3}
LIMIT=300 # seconds per phase, at most

BIN=$(cd "$BIN" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
WORK=$(mktemp -d /tmp/mxlab-bench.XXXXXX)
chmod 755 "$WORK"
PIDS=""
CGROOT=/sys/fs/cgroup/unified
[ -f "$CGROOT/cgroup.procs" ] || CGROOT=/sys/fs/cgroup
CG=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    [ -d "$WORK/pf" ] && postfix -c "$WORK/pf" stop >/dev/null 2>&1 || true
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    for g in $CG; do rmdir "$g" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

SUT_PIN="" CLIENT_PIN=""
if [ "${BENCH_PIN:-1}" != 0 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    SUT_PIN="taskset -c 0" CLIENT_PIN="taskset -c 1"
fi
SINK_PORT=$(lib_port)
SUT_PORT=$(lib_port)

# cgroup NAME: G := a fresh cgroup v2 for one SUT run (empty if none
# can be made: no root, no cgroup v2); the SUT is started inside it.
cgroup() {
    G=$CGROOT/mxlab-bench-$$-$1
    if mkdir "$G" 2>/dev/null; then
        CG="$CG $G"
    else
        G=""
    fi
}
# sh -c "$INCG" sh DIR CMD...: run CMD inside cgroup DIR (if any) with the
# same PID (a simple command, so "&" gives the SUT's own PID).
INCG='[ -n "$1" ] && echo $$ >"$1/cgroup.procs"; shift; exec "$@"'

# smtp-sink counts messages; its -c counter line is "sess=N quit=N mesg=N\r".
start_sink() {
    # shellcheck disable=SC2086
    $CLIENT_PIN smtp-sink -u nobody -c "127.0.0.1:$SINK_PORT" 256 >"$WORK/sink.out" 2>&1 &
    SINK=$!
    PIDS="$PIDS $SINK"
    lib_wait_port "$SINK_PORT"
}
sink_count() {
    tr '\r' '\n' <"$WORK/sink.out" | sed -n 's/.*mesg=\([0-9]*\).*/\1/p' | tail -1
}

# run_load NAME CGROUP: mxlab bench into the SUT, then wait for the sink
# to have every message; appends "rate p99_us e2e_rate cpu_us" to
# WORK/NAME.res.
run_load() {
    cpuopt=""
    [ -n "$2" ] && cpuopt="--cpu-cgroup $2"
    t0=$(date +%s.%N)
    # shellcheck disable=SC2086
    timeout "$LIMIT" $CLIENT_PIN "$BIN/mxlab" bench --quiet \
        --sut "smtp://127.0.0.1:$SUT_PORT" --messages "$MESSAGES" \
        --connections "$SESSIONS" --size "$SIZE" --from sender@bench.example \
        --to rcpt@sink.example $cpuopt --report "$WORK/report-$1" \
        >"$WORK/bench.out" 2>&1 ||
        { echo "bench: mxlab bench failed:" >&2; cat "$WORK/bench.out" >&2; exit 1; }
    deadline=$(($(date +%s) + LIMIT))
    while [ "$(sink_count)" != "$MESSAGES" ]; do
        [ "$(date +%s)" -gt "$deadline" ] &&
            { echo "bench: the sink got $(sink_count) of $MESSAGES" >&2; exit 1; }
        sleep 0.02
    done
    t1=$(date +%s.%N)
    python3 - "$WORK/report-$1/bench.json" "$t0" "$t1" "$MESSAGES" >>"$WORK/$1.res" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
n = int(sys.argv[4])
assert b["accepted"] == n, "%d of %d accepted: %s" % (b["accepted"], n, b["replies"])
cpu = b["sut_cpu_ns"] / n / 1e3 if b["sut_cpu_ns"] >= 0 else -1
print("%.1f %d %.1f %.1f" % (b["rate_msg_s"], b["latency_us"]["p99"],
                             n / (float(sys.argv[3]) - float(sys.argv[2])), cpu))
PY
}

common_cf() {
    cat <<CF
compatibility_level = 3.6
myhostname = bench.example
mydestination =
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:$SINK_PORT
maillog_file = $1/maillog
CF
}

# --- one round of mxlab-relay -------------------------------------------
relay_round() {
    rm -rf "$WORK/relay"
    mkdir -p "$WORK/relay/queue"
    common_cf "$WORK/relay" >"$WORK/relay/main.cf"
    echo "queue_directory = $WORK/relay/queue" >>"$WORK/relay/main.cf"
    echo "127.0.0.1:$SUT_PORT inet n - n - - smtpd" >"$WORK/relay/master.cf"
    start_sink
    cgroup "relay$1"
    # shellcheck disable=SC2086
    sh -c "$INCG" sh "$G" $SUT_PIN ${RELAY_WRAP:-} "$BIN/mxlab-relay" \
        -c "$WORK/relay" 2>"$WORK/relay.stderr" &
    RELAY=$!
    PIDS="$PIDS $RELAY"
    lib_wait_port "$SUT_PORT"
    run_load relay "$G"
    awk '/VmHWM/ { print $2 }' /proc/$RELAY/status >>"$WORK/relay.rss"
    kill "$RELAY"
    wait "$RELAY" 2>/dev/null || true
    kill "$SINK"
    wait "$SINK" 2>/dev/null || true
}

# --- one round of Postfix -----------------------------------------------
postfix_round() {
    rm -rf "$WORK/pf" "$WORK/pfq" "$WORK/pfdata"
    lib_postfix_conf "$WORK" "$SUT_PORT" "[127.0.0.1]:$SINK_PORT"
    echo "myhostname = bench.example" >>"$WORK/pf/main.cf"
    start_sink
    cgroup "postfix$1"
    # shellcheck disable=SC2086
    sh -c "$INCG" sh "$G" $SUT_PIN postfix -c "$WORK/pf" start >/dev/null 2>&1 ||
        { script -qc "postfix -c $WORK/pf start" /dev/null; exit 1; }
    lib_wait_port "$SUT_PORT"
    run_load postfix "$G"
    postfix -c "$WORK/pf" stop >/dev/null 2>&1 || true
    kill "$SINK"
    wait "$SINK" 2>/dev/null || true
}

r=1
while [ "$r" -le "$ROUNDS" ]; do
    if [ $((r % 2)) = 1 ]; then relay_round "$r"; postfix_round "$r"
    else postfix_round "$r"; relay_round "$r"; fi
    r=$((r + 1))
done

python3 - "$WORK" "$MESSAGES" "$SESSIONS" "$SIZE" "$ROUNDS" "${SUT_PIN:+pinned}" <<'PY'
import statistics, sys
work, n, s, l, rounds, pin = sys.argv[1:7]
def med(name):
    rows = [list(map(float, x.split())) for x in open("%s/%s.res" % (work, name))]
    return [statistics.median(r[i] for r in rows) for i in range(4)]
r, p = med("relay"), med("postfix")
rss = max(int(x) for x in open(work + "/relay.rss"))
print("%s messages of %s bytes in %s sessions, mxlab bench -> SUT -> smtp-sink, "
      "medians of %s rounds%s" % (n, l, s, rounds,
                                   ", SUT on CPU 0, client and sink on CPU 1" if pin else ""))
for name, v in (("mxlab-relay", r), ("Postfix 3.7", p)):
    print("%s: %8.1f msg/s accepted, p99 %6.2f ms (MAIL to 250), %8.1f msg/s "
          "to the sink, %s" % (name, v[0], v[1] / 1e3, v[2],
                               "CPU %.0f us/msg" % v[3] if v[3] >= 0 else "CPU not measured (no cgroup v2)"))
print("mxlab-relay peak RSS %d KiB" % rss)
print("ratio relay/Postfix: accepted rate %.2f, rate to the sink %.2f, p99 %.2f%s" %
      (r[0] / p[0], r[2] / p[2], r[1] / p[1],
       ", CPU per message %.2f" % (r[3] / p[3]) if r[3] > 0 and p[3] > 0 else ""))
PY
