#!/bin/bash
# dnsperf.sh — benchmark (not a test): mxlab-fakedns against NSD serving the
# same generated zone on loopback, each measured by dnsperf with the same
# query file, one after the other in the same run; prints both QPS and the
# ratio fakedns/NSD. The two are measured in alternation (fakedns, NSD,
# fakedns, NSD...: BENCH_ROUNDS rounds) and averaged, so that a noisy
# neighbour hurts both alike. Everything it starts (a private nsd in the foreground
# with its own config in a temporary directory, mxlab-fakedns) is stopped
# on exit. Both servers run single-process (nsd: server-count 1) and are
# queried the same way; on a 2-core machine dnsperf competes with them.
# Usage: dnsperf.sh PATH/TO/mxlab-fakedns [SECONDS]   (per run, default 10)
# Environment: BENCH_NAMES (zone size, default 4000), BENCH_CLIENTS (-c,
# default 4), BENCH_OUTSTANDING (-q, default 100), BENCH_QPS (-Q, default
# 1000000), BENCH_ROUNDS (default 2), BENCH_IP (default 127.0.0.77),
# BENCH_KEEP (set: keep the temporary directory).
set -u

bin=${1:?usage: dnsperf.sh PATH/TO/mxlab-fakedns [SECONDS]}
secs=${2:-10}
names=${BENCH_NAMES:-4000}
clients=${BENCH_CLIENTS:-4}
outstanding=${BENCH_OUTSTANDING:-100}
qps=${BENCH_QPS:-1000000}
rounds=${BENCH_ROUNDS:-2}
ip=${BENCH_IP:-127.0.0.77}
origin=bench.test
tmp=$(mktemp -d)
pids=()

cleanup() {
    for p in "${pids[@]}"; do
        kill -TERM "$p" 2>/dev/null
    done
    for p in "${pids[@]}"; do
        # Bounded: a server that ignores SIGTERM is killed after 5 s.
        for _ in $(seq 50); do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    if [ -n "${BENCH_KEEP:-}" ]; then
        echo "kept $tmp" >&2
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

die() {
    echo "dnsperf.sh: $*" >&2
    exit 1
}

for tool in dnsperf nsd dig; do
    command -v "$tool" >/dev/null || die "$tool is not installed"
done
[ -x "$bin" ] || die "$bin is not executable"

# The zone: SOA, NS, an MX, and per name an A, an MX and a TXT; the query
# file asks each name's A and MX, a TXT for every tenth, and a name that
# does not exist for every twentieth (NXDOMAIN path).
{
    echo "\$ORIGIN $origin."
    echo "\$TTL 300"
    echo "@ IN SOA ns1 hostmaster 1 3600 600 86400 60"
    echo "@ IN NS ns1"
    echo "@ IN MX 10 mx1"
    echo "ns1 IN A 127.0.2.53"
    echo "mx1 IN A 127.0.2.25"
    for i in $(seq "$names"); do
        echo "h$i IN A 127.0.2.$((i % 250 + 1))"
        echo "h$i IN MX 10 mx1"
        echo "h$i IN TXT \"v=spf1 ip4:127.0.2.$((i % 250 + 1)) -all\""
    done
} >"$tmp/bench.zone"
{
    for i in $(seq "$names"); do
        echo "h$i.$origin A"
        echo "h$i.$origin MX"
        [ $((i % 10)) -eq 0 ] && echo "h$i.$origin TXT"
        [ $((i % 20)) -eq 0 ] && echo "nx$i.$origin A"
    done
} >"$tmp/queries"

# A port from a high range, derived from our PID; checked free below.
pick_port() {
    echo $((30000 + ($$ * 13 + $1 * 1117) % 30000))
}

# wait_ready PORT PID: until dig gets the SOA (10 s at most).
wait_ready() {
    local deadline=$((SECONDS + 10))
    while [ "$SECONDS" -lt "$deadline" ]; do
        kill -0 "$2" 2>/dev/null || return 1
        dig +tries=1 +time=1 +norec @"$ip" -p "$1" "$origin" SOA 2>/dev/null |
            grep -q 'status: NOERROR' && return 0
        sleep 0.1
    done
    return 1
}

# run_dnsperf NAME PORT ROUND: QPS on stdout, dnsperf's report in the
# temp dir.
run_dnsperf() {
    dnsperf -s "$ip" -p "$2" -d "$tmp/queries" -l "$secs" -c "$clients" \
        -q "$outstanding" -Q "$qps" -t 1 >"$tmp/$1.$3.out" 2>&1 ||
        die "dnsperf against $1 failed: $(tail -3 "$tmp/$1.$3.out")"
    awk '/Queries per second:/ {print $4}' "$tmp/$1.$3.out"
}

# NSD: private config, foreground, unprivileged-less (username ""), every
# file in the temp dir.
start_nsd() {
    local port=$1
    mkdir -p "$tmp/nsd"
    cp "$tmp/bench.zone" "$tmp/nsd/bench.zone"
    cat >"$tmp/nsd/nsd.conf" <<EOF
server:
    ip-address: $ip@$port
    port: $port
    server-count: 1
    username: ""
    chroot: ""
    zonesdir: "$tmp/nsd"
    pidfile: "$tmp/nsd/nsd.pid"
    database: ""
    zonelistfile: "$tmp/nsd/zone.list"
    xfrdfile: "$tmp/nsd/xfrd.state"
    xfrdir: "$tmp/nsd"
    logfile: "$tmp/nsd/nsd.log"
    hide-version: yes
    verbosity: 0
    tcp-count: 100
    # Debian's NSD rate-limits responses (RRL, 200/s per /24 by default),
    # which would drop most benchmark queries: off, as fakedns has none.
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: "$origin"
    zonefile: "bench.zone"
EOF
    nsd -d -c "$tmp/nsd/nsd.conf" 2>"$tmp/nsd/stderr" &
    nsd_pid=$!
    pids+=("$nsd_pid")
}

for attempt in 0 1 2 3 4; do
    port=$(pick_port "$attempt")
    "$bin" --listen "$ip:$port" --zone "$tmp/bench.zone" 2>"$tmp/fakedns.err" &
    fd_pid=$!
    pids+=("$fd_pid")
    if wait_ready "$port" "$fd_pid"; then
        fakedns_port=$port
        break
    fi
    kill -KILL "$fd_pid" 2>/dev/null
    wait "$fd_pid" 2>/dev/null
done
[ -n "${fakedns_port:-}" ] || die "mxlab-fakedns did not start: $(cat "$tmp/fakedns.err")"

for attempt in 5 6 7 8 9; do
    port=$(pick_port "$attempt")
    start_nsd "$port"
    if wait_ready "$port" "$nsd_pid"; then
        nsd_port=$port
        break
    fi
    kill -KILL "$nsd_pid" 2>/dev/null
    wait "$nsd_pid" 2>/dev/null
done
[ -n "${nsd_port:-}" ] || die "nsd did not start: $(cat "$tmp/nsd/stderr" "$tmp/nsd/nsd.log" 2>/dev/null)"

echo "zone: $(grep -c ' IN ' "$tmp/bench.zone") records; queries: $(wc -l <"$tmp/queries") lines; dnsperf -l $secs -c $clients -q $outstanding -Q $qps"
# Warm both (fakedns builds its answer cache on first use), then measure.
dnsperf -s "$ip" -p "$fakedns_port" -d "$tmp/queries" -n 1 >/dev/null 2>&1
dnsperf -s "$ip" -p "$nsd_port" -d "$tmp/queries" -n 1 >/dev/null 2>&1
fakedns_sum=0
nsd_sum=0
for round in $(seq "$rounds"); do
    f=$(run_dnsperf fakedns "$fakedns_port" "$round")
    n=$(run_dnsperf nsd "$nsd_port" "$round")
    echo "round $round: fakedns $f qps, nsd $n qps"
    for who in fakedns nsd; do
        grep -E 'Queries lost' "$tmp/$who.$round.out" | sed "s/^ */  $who: /"
    done
    fakedns_sum=$(awk -v a="$fakedns_sum" -v b="$f" 'BEGIN { print a + b }')
    nsd_sum=$(awk -v a="$nsd_sum" -v b="$n" 'BEGIN { print a + b }')
done
awk -v a="$fakedns_sum" -v b="$nsd_sum" -v r="$rounds" 'BEGIN {
    printf "fakedns: %.0f qps (mean of %d)\n", a / r, r
    printf "nsd:     %.0f qps (mean of %d)\n", b / r, r
    if (b > 0) printf "ratio fakedns/nsd: %.2f\n", a / b; else print "ratio: n/a"
}'
