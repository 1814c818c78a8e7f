#!/bin/sh
# bench/relay-vs-postfix.sh — issue 6's benchmark (not a test):
# smtp-source (SESSIONS parallel sessions, MESSAGES messages of SIZE bytes)
# into the system under test, which relays everything to smtp-sink; timed
# from the first connection until the sink has the last message. Run once
# through mxlab-relay and once through a private Postfix 3.7 with the same
# main.cf, both with durable queues, in the same run; prints both rates
# and the ratio relay/Postfix, and the relay's peak RSS.
#
# usage: bench/relay-vs-postfix.sh BUILD_BIN_DIR [MESSAGES [SESSIONS [SIZE]]]
# Needs root (Postfix, smtp-sink -u). Loopback only; every process started
# is stopped on exit; each phase is bounded by a timeout.
set -eu

BIN=${1:?usage: $0 BUILD_BIN_DIR [MESSAGES [SESSIONS [SIZE]]]}
MESSAGES=${2:-5000}
SESSIONS=${3:-20}
SIZE=${4:-2048}
LIMIT=300 # seconds per phase, at most

BIN=$(cd "$BIN" && pwd)
WORK=$(mktemp -d /tmp/mxlab-bench.XXXXXX)
chmod 755 "$WORK"
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    [ -d "$WORK/pf" ] && postfix -c "$WORK/pf" stop >/dev/null 2>&1 || true
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# Free loopback ports, one per role.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SINK_PORT=$(port)
SUT_PORT=$(port)

now() { date +%s.%N; }

# Start smtp-sink; its -c counter line is "sess=N quit=N mesg=N\r".
start_sink() {
    : >"$WORK/sink.out"
    smtp-sink -u nobody -c "127.0.0.1:$SINK_PORT" 256 >"$WORK/sink.out" 2>&1 &
    SINK=$!
    PIDS="$PIDS $SINK"
    wait_port "$SINK_PORT"
}
sink_count() {
    tr '\r' '\n' <"$WORK/sink.out" | sed -n 's/.*mesg=\([0-9]*\).*/\1/p' | tail -1
}
wait_port() {
    i=0
    until python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),1)" 2>/dev/null; do
        i=$((i + 1))
        [ $i -gt 200 ] && { echo "bench: nothing listens on port $1" >&2; exit 1; }
        sleep 0.05
    done
}

# One run: smtp-source into the SUT, wait for the sink's count. Prints the
# elapsed seconds.
run_load() {
    t0=$(now)
    timeout "$LIMIT" smtp-source -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" \
        -f sender@bench.example -t rcpt@sink.example \
        "127.0.0.1:$SUT_PORT" >"$WORK/source.out" 2>&1 ||
        { echo "bench: smtp-source failed:" >&2; cat "$WORK/source.out" >&2; exit 1; }
    deadline=$(($(date +%s) + LIMIT))
    while [ "$(sink_count)" != "$MESSAGES" ]; do
        [ "$(date +%s)" -gt "$deadline" ] &&
            { echo "bench: the sink got $(sink_count) of $MESSAGES" >&2; exit 1; }
        sleep 0.05
    done
    t1=$(now)
    echo "$t0 $t1" | awk '{ printf "%.3f", $2 - $1 }'
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

# --- mxlab-relay --------------------------------------------------------
mkdir -p "$WORK/relay/queue"
common_cf "$WORK/relay" >"$WORK/relay/main.cf"
echo "queue_directory = $WORK/relay/queue" >>"$WORK/relay/main.cf"
echo "127.0.0.1:$SUT_PORT inet n - n - - smtpd" >"$WORK/relay/master.cf"
start_sink
${RELAY_WRAP:-} "$BIN/mxlab-relay" -c "$WORK/relay" 2>"$WORK/relay/stderr" &
RELAY=$!
PIDS="$PIDS $RELAY"
wait_port "$SUT_PORT"
relay_secs=$(run_load)
relay_rss=$(awk '/VmHWM/ { print $2 }' /proc/$RELAY/status)
kill "$RELAY"
wait "$RELAY" 2>/dev/null || true
kill "$SINK"
wait "$SINK" 2>/dev/null || true

# --- Postfix ------------------------------------------------------------
mkdir -p "$WORK/pf" "$WORK/pfq" "$WORK/pfdata"
chown postfix "$WORK/pfdata"
common_cf "$WORK" >"$WORK/pf/main.cf"
cat >>"$WORK/pf/main.cf" <<CF
queue_directory = $WORK/pfq
data_directory = $WORK/pfdata
maillog_file_prefixes = /var, /tmp
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
CF
awk '/^smtp +inet/ { next } /^[a-z]/ && NF >= 8 { $5 = "n" } { print }' \
    /etc/postfix/master.cf.proto >"$WORK/pf/master.cf"
echo "127.0.0.1:$SUT_PORT inet n - n - - smtpd" >>"$WORK/pf/master.cf"
start_sink
postfix -c "$WORK/pf" start >/dev/null 2>&1 ||
    { script -qc "postfix -c $WORK/pf start" /dev/null; exit 1; }
wait_port "$SUT_PORT"
pf_secs=$(run_load)
postfix -c "$WORK/pf" stop >/dev/null 2>&1 || true

awk -v n="$MESSAGES" -v r="$relay_secs" -v p="$pf_secs" -v rss="$relay_rss" \
    -v s="$SESSIONS" -v l="$SIZE" 'BEGIN {
    printf "%d messages of %d bytes in %d sessions, smtp-source -> SUT -> smtp-sink\n", n, l, s
    printf "mxlab-relay: %7.3f s  %8.1f msg/s  (peak RSS %d KiB)\n", r, n / r, rss
    printf "Postfix 3.7: %7.3f s  %8.1f msg/s\n", p, n / p
    printf "ratio relay/Postfix: %.2f\n", (n / r) / (n / p)
}'
