#!/bin/bash
# smtp-source.sh — benchmark (not a test): Postfix's smtp-source into
# mxlab-fakemx against smtp-source into Postfix's smtp-sink, in the same
# run, with the same message count, size and parallelism; prints both
# rates (messages/s) and the ratio fakemx/smtp-sink. Both servers listen on
# loopback only. Every step is bounded by timeout; servers are stopped on
# exit.
# Usage: smtp-source.sh PATH/TO/mxlab-fakemx [MESSAGES] [SIZE] [SESSIONS]
#        [ROUNDS]
set -u

bin=${1:?usage: smtp-source.sh PATH/TO/mxlab-fakemx [MESSAGES] [SIZE] [SESSIONS] [ROUNDS]}
msgs=${2:-5000}
size=${3:-2048}
sessions=${4:-20}
rounds=${5:-5}
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
smtp-sink -u nobody "$sink_ip:$port" 256 >"$tmp/sink.log" 2>&1 &
sink_pid=$!
# fakemx records everything in memory (the harness's mode) and, as the
# daemon does, writes each message's JSON line; here to /dev/null.
"$bin" --listen "$fakemx_ip:$port" --name bench.test --dump /dev/null \
    2>"$tmp/fakemx.log" &
fakemx_pid=$!
ready "$sink_ip" "$port" || die "smtp-sink did not start: $(cat "$tmp/sink.log")"
ready "$fakemx_ip" "$port" || die "fakemx did not start: $(cat "$tmp/fakemx.log")"

hz=$(getconf CLK_TCK)
# cpu PID: CPU seconds (user + system) the process has used so far.
cpu() {
    awk -v hz="$hz" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"
}

# run IP PID: "wall server-cpu client-cpu" seconds for smtp-source to send
# $msgs messages to the server PID at IP.
run() {
    local t0 t1 c0 c1
    c0=$(cpu "$2")
    t0=$(date +%s.%N)
    timeout 300 /usr/bin/time -f '%U %S' -o "$tmp/time" \
        smtp-source -s "$sessions" -m "$msgs" -l "$size" \
        -f bench@source.test -t sink@bench.test "$1:$port" ||
        die "smtp-source against $1 failed"
    t1=$(date +%s.%N)
    c1=$(cpu "$2")
    echo "$(echo "$t1 - $t0" | bc -l) $(echo "$c1 - $c0" | bc -l)" \
        "$(awk '{ print $1 + $2 }' "$tmp/time")"
}

echo "smtp-source -s $sessions -m $msgs -l $size, $rounds rounds, alternating"
best_sink=
best_fakemx=
sum_sink=0
sum_fakemx=0
cpu_sink=0
cpu_fakemx=0
for r in $(seq 1 "$rounds"); do
    read -r ts cs ks < <(run "$sink_ip" "$sink_pid")
    read -r tf cf kf < <(run "$fakemx_ip" "$fakemx_pid")
    printf 'round %d: smtp-sink %.3f s (server cpu %.2f s, client cpu %.2f s), fakemx %.3f s (server cpu %.2f s, client cpu %.2f s)\n' \
        "$r" "$ts" "$cs" "$ks" "$tf" "$cf" "$kf"
    sum_sink=$(echo "$sum_sink + $ts" | bc -l)
    sum_fakemx=$(echo "$sum_fakemx + $tf" | bc -l)
    cpu_sink=$(echo "$cpu_sink + $cs" | bc -l)
    cpu_fakemx=$(echo "$cpu_fakemx + $cf" | bc -l)
    if [ -z "$best_sink" ] || [ "$(echo "$ts < $best_sink" | bc -l)" = 1 ]; then
        best_sink=$ts
    fi
    if [ -z "$best_fakemx" ] || [ "$(echo "$tf < $best_fakemx" | bc -l)" = 1 ]; then
        best_fakemx=$tf
    fi
done
# Best round of each (the least disturbed by other load on the machine),
# and all rounds together; then the servers' own CPU per message, which
# still tells them apart when smtp-source itself is the bottleneck.
rate_sink=$(echo "$msgs / $best_sink" | bc -l)
rate_fakemx=$(echo "$msgs / $best_fakemx" | bc -l)
all_sink=$(echo "$msgs * $rounds / $sum_sink" | bc -l)
all_fakemx=$(echo "$msgs * $rounds / $sum_fakemx" | bc -l)
printf 'best round: smtp-sink %.0f msg/s, fakemx %.0f msg/s, ratio fakemx/smtp-sink %.2f\n' \
    "$rate_sink" "$rate_fakemx" "$(echo "$rate_fakemx / $rate_sink" | bc -l)"
printf 'all rounds: smtp-sink %.0f msg/s, fakemx %.0f msg/s, ratio fakemx/smtp-sink %.2f\n' \
    "$all_sink" "$all_fakemx" "$(echo "$all_fakemx / $all_sink" | bc -l)"
if [ "$(echo "$cpu_fakemx > 0" | bc -l)" = 1 ]; then
    printf 'server cpu: smtp-sink %.0f us/msg, fakemx %.0f us/msg, ratio smtp-sink/fakemx %.2f\n' \
        "$(echo "$cpu_sink * 1000000 / ($msgs * $rounds)" | bc -l)" \
        "$(echo "$cpu_fakemx * 1000000 / ($msgs * $rounds)" | bc -l)" \
        "$(echo "$cpu_sink / $cpu_fakemx" | bc -l)"
fi
