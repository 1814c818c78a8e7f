#!/bin/bash
# smtp-source.sh — benchmark (not a test): Postfix's smtp-source into
# mxlab-fakemx against smtp-source into Postfix's smtp-sink, in the same
# run, with the same smtp-source command line (message count, size,
# parallel sessions) for both; prints rates (messages/s), each server's
# CPU per message and the ratios. Both servers listen on loopback only.
# Every step is bounded by timeout; servers are stopped on exit.
#
# Method, the same for both peers:
# - fakemx records everything in memory (the harness's mode) and, as the
#   daemon does, writes each message's JSON line (--dump /dev/null).
# - With 2 CPUs or more, both servers run on CPU 0 and smtp-source on CPU
#   1 (taskset), so client and server do not take turns on one CPU and
#   the rate shows the server rather than the scheduler. smtp-source does
#   not pipeline (pipelining.py times pipelined batches against both
#   servers), so the client usually stays the bottleneck all the same:
#   the server's own CPU time per message (from /proc/PID/schedstat, in
#   ns; user and kernel time, the loopback TCP work done in the server's
#   system calls included) is the figure that tells the servers apart.
# - Rounds alternate the order (ABBA) so drift in the machine's other load
#   hits both; medians over the rounds are reported, and the best round.
# - Two loads: "conn", smtp-source's default of one connection per
#   message (the issue's recipe, the headline), and "reuse" (-d), one
#   connection per session for all its messages, which leaves out the TCP
#   connection setup and teardown that both servers pay alike.
# Usage: smtp-source.sh PATH/TO/mxlab-fakemx [MESSAGES] [SIZE] [SESSIONS]
#        [ROUNDS]
# Environment: BENCH_MODES ("conn reuse"), BENCH_SERVER_CPU (0),
# BENCH_CLIENT_CPU (1); BENCH_PIN=0 turns pinning off.
set -u

bin=${1:?usage: smtp-source.sh PATH/TO/mxlab-fakemx [MESSAGES] [SIZE] [SESSIONS] [ROUNDS]}
msgs=${2:-5000}
size=${3:-2048}
sessions=${4:-20}
rounds=${5:-5}
modes=${BENCH_MODES:-conn reuse}
sink_ip=127.0.0.61
fakemx_ip=127.0.0.62
tmp=$(mktemp -d)
sink_pid=
fakemx_pid=

cleanup() {
    for p in $sink_pid $fakemx_pid; do
        kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

die() {
    echo "bench-fakemx: $*" >&2
    exit 1
}

for tool in smtp-source smtp-sink; do
    command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] ||
        die "$tool is not installed (Debian: postfix)"
done
PATH=$PATH:/usr/sbin

# Pinning: the same CPUs for both peers, or none at all.
server_pin=()
client_pin=()
pin_note="no CPU pinning"
if [ "${BENCH_PIN:-1}" != 0 ] && command -v taskset >/dev/null &&
    [ "$(nproc)" -ge 2 ]; then
    server_pin=(taskset -c "${BENCH_SERVER_CPU:-0}")
    client_pin=(taskset -c "${BENCH_CLIENT_CPU:-1}")
    pin_note="servers on CPU ${BENCH_SERVER_CPU:-0}, smtp-source on CPU ${BENCH_CLIENT_CPU:-1}"
fi

# ready IP PORT: a banner within 10 seconds.
ready() {
    timeout 10 python3 - "$1" "$2" <<'PY'
import socket, sys, time
end = time.monotonic() + 10
while time.monotonic() < end:
    try:
        s = socket.create_connection((sys.argv[1], int(sys.argv[2])), 1)
        if s.recv(64).startswith(b"220"):
            s.sendall(b"QUIT\r\n")
            sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
PY
}

port=$((20000 + ($$ * 13) % 40000))
# smtp-sink: backlog 256, as the issue's recipe; -u only matters for root.
"${server_pin[@]}" smtp-sink -u nobody "$sink_ip:$port" 256 \
    >"$tmp/sink.log" 2>&1 &
sink_pid=$!
# fakemx records everything in memory (the harness's mode) and, as the
# daemon does, writes each message's JSON line; here to /dev/null.
"${server_pin[@]}" "$bin" --listen "$fakemx_ip:$port" --name bench.test \
    --dump /dev/null 2>"$tmp/fakemx.log" &
fakemx_pid=$!
ready "$sink_ip" "$port" || die "smtp-sink did not start: $(cat "$tmp/sink.log")"
ready "$fakemx_ip" "$port" || die "fakemx did not start: $(cat "$tmp/fakemx.log")"

# cpu PID: nanoseconds of CPU the process (one thread, as both servers
# are) has used so far.
cpu() {
    if [ -r "/proc/$1/schedstat" ]; then
        awk '{ print $1 }' "/proc/$1/schedstat"
    else
        awk -v hz="$(getconf CLK_TCK)" \
            '{ printf "%.0f\n", ($14 + $15) * 1e9 / hz }' "/proc/$1/stat"
    fi
}

# run IP PID OPTS...: "wall-seconds server-ns client-seconds" for
# smtp-source to send $msgs messages to the server PID at IP.
run() {
    local ip=$1 pid=$2 t0 t1 c0 c1
    shift 2
    c0=$(cpu "$pid")
    t0=$(date +%s.%N)
    timeout 300 /usr/bin/time -f '%U %S' -o "$tmp/time" \
        "${client_pin[@]}" smtp-source "$@" -s "$sessions" -m "$msgs" \
        -l "$size" -f bench@source.test -t sink@bench.test "$ip:$port" ||
        die "smtp-source against $ip failed"
    t1=$(date +%s.%N)
    c1=$(cpu "$pid")
    echo "$t0 $t1 $c0 $c1 $(cat "$tmp/time")" |
        awk '{ printf "%.4f %d %.2f\n", $2 - $1, $4 - $3, $5 + $6 }'
}

# median: of the numbers on standard input, one a line.
median() {
    sort -g | awk '{ v[NR] = $1 } END {
        if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
for mode in $modes; do
    case $mode in
    conn) opts=() note="one connection per message" ;;
    reuse) opts=(-d) note="-d: one connection per session" ;;
    *) die "unknown mode $mode (conn, reuse)" ;;
    esac
    echo "smtp-source ${opts[*]:+${opts[*]} }-s $sessions -m $msgs -l $size ($note)," \
        "$rounds rounds, alternating; $pin_note"
    : >"$tmp/sink.$mode"
    : >"$tmp/fakemx.$mode"
    for r in $(seq 1 "$rounds"); do
        # ABBA: odd rounds start with smtp-sink, even ones with fakemx.
        if [ $((r % 2)) = 1 ]; then
            read -r ts cs ks < <(run "$sink_ip" "$sink_pid" "${opts[@]}")
            read -r tf cf kf < <(run "$fakemx_ip" "$fakemx_pid" "${opts[@]}")
        else
            read -r tf cf kf < <(run "$fakemx_ip" "$fakemx_pid" "${opts[@]}")
            read -r ts cs ks < <(run "$sink_ip" "$sink_pid" "${opts[@]}")
        fi
        if [ -z "${ts:-}" ] || [ -z "${tf:-}" ]; then
            die "a run failed"
        fi
        echo "$ts $cs $ks" >>"$tmp/sink.$mode"
        echo "$tf $cf $kf" >>"$tmp/fakemx.$mode"
        awk -v m="$msgs" -v r="$r" -v ts="$ts" -v cs="$cs" -v ks="$ks" \
            -v tf="$tf" -v cf="$cf" -v kf="$kf" 'BEGIN {
            printf "round %d: smtp-sink %5.0f msg/s (server %3.0f us/msg, client %3.0f us/msg), fakemx %5.0f msg/s (server %3.0f us/msg, client %3.0f us/msg)\n",
                r, m / ts, cs / m / 1000, ks * 1e6 / m,
                m / tf, cf / m / 1000, kf * 1e6 / m }'
    done
    # Per peer: median and best rate, median server and client CPU.
    for peer in sink fakemx; do
        f=$tmp/$peer.$mode
        echo "$(awk '{ print $1 }' "$f" | median)" \
            "$(sort -g "$f" | head -1 | awk '{ print $1 }')" \
            "$(awk '{ print $2 }' "$f" | median)" \
            "$(awk '{ print $3 }' "$f" | median)" >"$f.sum"
    done
    read -r ms bs ss ks <"$tmp/sink.$mode.sum"
    read -r mf bf sf kf <"$tmp/fakemx.$mode.sum"
    awk -v m="$msgs" -v ms="$ms" -v bs="$bs" -v ss="$ss" -v ks="$ks" \
        -v mf="$mf" -v bf="$bf" -v sf="$sf" -v kf="$kf" 'BEGIN {
        printf "median rate: smtp-sink %.0f msg/s, fakemx %.0f msg/s, ratio fakemx/smtp-sink %.2f\n",
            m / ms, m / mf, ms / mf
        printf "best round:  smtp-sink %.0f msg/s, fakemx %.0f msg/s, ratio fakemx/smtp-sink %.2f\n",
            m / bs, m / bf, bs / bf
        printf "median server cpu: smtp-sink %.0f us/msg, fakemx %.0f us/msg, ratio smtp-sink/fakemx %.2f\n",
            ss / m / 1000, sf / m / 1000, ss / sf
        printf "median client cpu: against smtp-sink %.0f us/msg, against fakemx %.0f us/msg\n",
            ks * 1e6 / m, kf * 1e6 / m
        # smtp-source on its own CPU cannot go faster than its CPU time
        # allows, whatever the server: how close each peer came to that.
        if (kf > 0 && ks > 0)
            printf "client-bound ceiling (1 / client cpu): against smtp-sink %.0f msg/s (%.0f%% reached), against fakemx %.0f msg/s (%.0f%% reached)\n",
                m / ks, 100 * ks / ms, m / kf, 100 * kf / mf }'
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" \
    "(other load on the machine makes every figure noisier)"
