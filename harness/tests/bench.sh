#!/bin/bash
# bench.sh BIN_DIR — "mxlab bench" end to end against servers the test
# starts itself on loopback: Postfix's smtp-sink, a standalone
# mxlab-fakemx, mxlab-relay relaying to that fakemx, and (as root) a
# private Postfix relaying to it; and on lab SUTs (--sut relay|postfix
# with bench/scenarios/relayhost.scn). For every run the counts add up (sent =
# accepted + refused + errors, replies by code sum to sent); for the relays
# every accepted message arrives at the fake MX (by its X-Mxlab-Bench
# number); open loop sends exactly rate x duration; refusals are counted
# by code; STARTTLS works; merge adds runs; the baseline gate passes on a
# copy and fails, naming the figure, against a better baseline; bad
# options exit 2. Bounded waits; every server is stopped on exit.
set -u
bin=$(cd "$1" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/mxlab-bench-test.XXXXXX)
chmod 755 "$work" # the relay and Postfix run as their mail owner
pids=()
pf=
cleanup() {
    [ -n "$pf" ] && postfix -c "$pf" stop >/dev/null 2>&1
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "bench.sh: $*" >&2; exit 1; }
PATH=$PATH:/usr/sbin

. "$src/bench/lib.sh"
port() { lib_port; }
wait_port() { lib_wait_port "$1" || fail "nothing listens on port $1"; }
# field FILE KEY: a top-level number of a bench.json.
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }
# check_counts FILE: sent = accepted + refused + errors = sum of outcomes.
check_counts() {
    python3 - "$1" <<'PY' || fail "counts do not add up in $1"
import json, sys
b = json.load(open(sys.argv[1]))
outcomes = sum(n for k, n in b["replies"].items() if not k.startswith("RCPT "))
assert b["sent"] > 0, "nothing sent"
assert b["sent"] == b["accepted"] + b["refused"] + b["errors"], b
assert outcomes == b["sent"], (outcomes, b["sent"])
assert b["latency_us"]["histogram"]["count"] == b["accepted"]
PY
}
# arrived N: wait until the fake MX has N messages, every one from mxlab
# bench, each number once.
arrived() {
    for _ in $(seq 600); do
        [ "$(wc -l <"$work/fakemx.jsonl")" -ge "$1" ] && break
        sleep 0.05
    done
    python3 - "$work/fakemx.jsonl" "$1" <<'PY' || fail "arrivals at the fake MX differ from accepted"
import json, re, sys
seqs = []
for line in open(sys.argv[1]):
    m = re.search(r"X-Mxlab-Bench: (\d+)", json.loads(line)["data"])
    seqs.append(int(m.group(1)))
assert len(seqs) == int(sys.argv[2]) and len(set(seqs)) == len(seqs), (len(seqs), sys.argv[2])
PY
    : >"$work/fakemx.jsonl"
}
bench() { "$bin/mxlab" bench --quiet "$@"; }

sink_port=$(port) mx_port=$(port) relay_port=$(port) pf_port=$(port)
smtps_port=$(port)
smtp-sink -u nobody "127.0.0.1:$sink_port" 256 >"$work/sink.log" 2>&1 &
pids+=($!)
"$bin/mxlab-fakemx" --listen "127.0.0.1:$mx_port" --name mx.bench.test \
    --dump "$work/fakemx.jsonl" 2>"$work/fakemx.log" &
pids+=($!)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$work/key.pem" -out "$work/cert.pem" -days 2 \
    -subj /CN=relay.bench.test 2>/dev/null || fail "openssl req failed"
mkdir -p "$work/relay/queue"
cat >"$work/relay/main.cf" <<CF
myhostname = relay.bench.test
mydestination =
mynetworks = 127.0.0.2/32
relay_domains = bench.test
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
relayhost = [127.0.0.1]:$mx_port
queue_directory = $work/relay/queue
maillog_file = $work/relay/maillog
smtpd_tls_security_level = may
smtpd_tls_cert_file = $work/cert.pem
smtpd_tls_key_file = $work/key.pem
CF
cat >"$work/relay/master.cf" <<CF
127.0.0.1:$relay_port inet n - n - - smtpd
127.0.0.1:$smtps_port inet n - n - - smtpd -o smtpd_tls_wrappermode=yes
CF
"$bin/mxlab-relay" -c "$work/relay" 2>"$work/relay/stderr" &
pids+=($!)
wait_port "$sink_port"
wait_port "$mx_port"
wait_port "$relay_port"
wait_port "$smtps_port"

# smtp-sink: closed loop, reused connections, then one per message.
bench --sut "smtp://127.0.0.1:$sink_port" --messages 500 --connections 8 \
    --report "$work/sink" >"$work/out" || fail "bench into smtp-sink failed"
check_counts "$work/sink/bench.json"
[ "$(field "$work/sink/bench.json" accepted)" = 500 ] || fail "smtp-sink: not all accepted"
grep -q "^latency .*p99.9" "$work/out" || fail "no latency line in the table"
bench --sut "smtp://127.0.0.1:$sink_port" --messages 100 --per-connection 1 \
    --size 1k-8k --report "$work/sink1" >/dev/null || fail "one per connection failed"
check_counts "$work/sink1/bench.json"

# fakemx alone, open loop: rate x duration messages, no more, no less.
bench --sut "smtp://127.0.0.1:$mx_port" --rate 100/s --duration 2s \
    --connections 4 --report "$work/open" >/dev/null || fail "open loop failed"
check_counts "$work/open/bench.json"
[ "$(field "$work/open/bench.json" sent)" = 200 ] || fail "open loop: $(field "$work/open/bench.json" sent) sent, want 200"
arrived 200

# A throttling server: greetings of 421 beyond 2 connections, counted
# by code (and the session goes on for those let in).
thr_port=$(port)
"$bin/mxlab-fakemx" --listen "127.0.0.1:$thr_port" --max-conn-per-ip 2 \
    --dump /dev/null 2>"$work/throttle.log" &
pids+=($!)
wait_port "$thr_port"
bench --sut "smtp://127.0.0.1:$thr_port" --messages 300 --connections 6 \
    --per-connection 10 --report "$work/throttle" >/dev/null
check_counts "$work/throttle/bench.json"
python3 -c "import json,sys; b=json.load(open(sys.argv[1])); r=b['replies']; assert r.get('421', 0) > 0 and r.get('250', 0) > 0 and b['refused'] == r['421'], r" \
    "$work/throttle/bench.json" || fail "421 greetings not counted"

# The relay: every accepted message arrives at the fake MX.
bench --sut "smtp://127.0.0.1:$relay_port" --messages 300 --connections 6 \
    --recipients 2 --to @bench.test --report "$work/relay-run" >/dev/null ||
    fail "bench into the relay failed"
check_counts "$work/relay-run/bench.json"
arrived "$(field "$work/relay-run/bench.json" accepted)"
# STARTTLS on every connection.
bench --sut "smtp://127.0.0.1:$relay_port" --messages 40 --connections 4 \
    --per-connection 5 --tls --report "$work/tls" >/dev/null || fail "--tls failed"
check_counts "$work/tls/bench.json"
[ "$(field "$work/tls/bench.json" accepted)" = 40 ] || fail "--tls: not all accepted"
arrived 40
# TLS from the first byte (smtps://), and bench.json on standard output.
bench --sut "smtps://127.0.0.1:$smtps_port" --messages 20 --connections 2 \
    --json --report "$work/smtps" >"$work/smtps.json" || fail "smtps:// failed"
check_counts "$work/smtps.json"
[ "$(field "$work/smtps.json" accepted)" = 20 ] || fail "smtps: not all accepted"
arrived 20
# Refusals by code: the relay does not relay for other.test.
bench --sut "smtp://127.0.0.1:$relay_port" --messages 30 --connections 3 \
    --to someone@other.test --report "$work/refused" >/dev/null
check_counts "$work/refused/bench.json"
python3 -c "import json,sys; b=json.load(open(sys.argv[1])); assert b['refused'] == 30 and b['replies'].get('554') == 30, b['replies']" \
    "$work/refused/bench.json" || fail "refusals not counted by code"

# A private Postfix relaying to the fake MX (root only).
if [ "$(id -u)" = 0 ] && command -v postfix >/dev/null; then
    lib_postfix_conf "$work" "$pf_port" "[127.0.0.1]:$mx_port"
    pf=$work/pf
    # Postfix tells why it did not start only on a terminal (no syslog).
    out=$(script -qec "postfix -c $pf start" /dev/null 2>&1) ||
        fail "postfix did not start: $out $(tail -n 5 "$work/pf.maillog" 2>/dev/null)"
    wait_port "$pf_port"
    bench --sut "smtp://127.0.0.1:$pf_port" --messages 200 --connections 4 \
        --report "$work/pf-run" >/dev/null || fail "bench into Postfix failed"
    check_counts "$work/pf-run/bench.json"
    arrived "$(field "$work/pf-run/bench.json" accepted)"
else
    echo "bench.sh: not root: the private Postfix part is skipped"
fi

# Lab SUTs: the scenario's world around the embedded relay (and, as root,
# a private Postfix in its own cgroup): every accepted message arrives at
# the scenario's fake MX, end-to-end delays and queue sizes are recorded.
lab_check() {
    python3 - "$1" "$2" <<'PY' || fail "lab SUT $2: arrivals, e2e or queue missing"
import json, sys
b = json.load(open(sys.argv[1]))
assert b["accepted"] > 0 and b["arrived"] == b["accepted"], (b["accepted"], b.get("arrived"))
assert b["e2e_us"]["histogram"]["count"] == b["accepted"]
assert all(p[3] >= 0 for p in b["timeline"]), b["timeline"]
if sys.argv[2] == "postfix":
    assert b["cpu_source"] == "cgroup" and b["sut_cpu_ns"] > 0, b["sut_cpu_ns"]
PY
}
bench --sut relay "$src/bench/scenarios/relayhost.scn" --messages 200 \
    --connections 4 --to @bench.test --report "$work/lab-relay" >/dev/null ||
    fail "bench on the lab relay failed"
check_counts "$work/lab-relay/bench.json"
lab_check "$work/lab-relay/bench.json" relay
"$bin/mxlab" bench --sut smtp://127.0.0.1:1 "$src/bench/scenarios/relayhost.scn" \
    2>"$work/err" >/dev/null
[ $? = 2 ] && grep -q "needs a lab SUT" "$work/err" || fail "smtp:// with a SCENARIO"
"$bin/mxlab" bench --sut relay 2>"$work/err" >/dev/null
[ $? = 2 ] && grep -q "needs a SCENARIO" "$work/err" || fail "relay without a SCENARIO"
if [ -n "$pf" ]; then
    bench --sut postfix "$src/bench/scenarios/relayhost.scn" --messages 200 \
        --connections 4 --to @bench.test --report "$work/lab-postfix" >/dev/null ||
        fail "bench on the lab Postfix failed"
    check_counts "$work/lab-postfix/bench.json"
    lab_check "$work/lab-postfix/bench.json" postfix
fi

# merge: counts and histograms add.
"$bin/mxlab" bench merge --report "$work/merged" "$work/sink/bench.json" \
    "$work/sink1/bench.json" >/dev/null || fail "merge failed"
check_counts "$work/merged/bench.json"
[ "$(field "$work/merged/bench.json" sent)" = 600 ] || fail "merge: sent is not 500 + 100"
[ "$(field "$work/merged/bench.json" loaders)" = 2 ] || fail "merge: loaders"
[ -s "$work/merged/bench.html" ] || fail "merge: no bench.html"

# The gate: a copy passes; a baseline twice as fast fails on throughput,
# one with a tenth of the latency fails on p99.
cp "$work/sink/bench.json" "$work/copy.json"
"$bin/mxlab" bench merge --report "$work/g1" --baseline "$work/copy.json" \
    "$work/sink/bench.json" >"$work/gate.out" || fail "the gate failed on a copy"
grep -q "gate: throughput .*: ok" "$work/gate.out" || fail "gate: no ok line"
python3 - "$work/copy.json" "$work/faster.json" "$work/quicker.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
b["seconds"] /= 2
json.dump(b, open(sys.argv[2], "w"))
b = json.load(open(sys.argv[1]))
h = b["latency_us"]["histogram"]
h["buckets"] = [[max(lo // 10, 0), n] for lo, n in h["buckets"]]
merged = {}
for lo, n in h["buckets"]:
    merged[lo] = merged.get(lo, 0) + n
h["buckets"] = sorted([lo, n] for lo, n in merged.items())
h["min"] //= 10
h["max"] //= 10
json.dump(b, open(sys.argv[3], "w"))
PY
"$bin/mxlab" bench merge --report "$work/g2" --baseline "$work/faster.json" \
    "$work/sink/bench.json" >"$work/gate.out"
[ $? = 1 ] || fail "the gate passed against a faster baseline"
grep -q "gate: throughput .*REGRESSED" "$work/gate.out" || fail "gate: throughput not named"
"$bin/mxlab" bench merge --report "$work/g3" --baseline "$work/quicker.json" \
    "$work/sink/bench.json" >"$work/gate.out"
[ $? = 1 ] || fail "the gate passed against a quicker baseline"
grep -q "gate: p99 latency .*REGRESSED" "$work/gate.out" || fail "gate: p99 not named"
# A real run against a baseline 1000 times faster fails as well.
python3 -c "import json,sys; b=json.load(open(sys.argv[1])); b['seconds']/=1000; json.dump(b,open(sys.argv[2],'w'))" \
    "$work/copy.json" "$work/far.json"
bench --sut "smtp://127.0.0.1:$sink_port" --messages 100 --report "$work/g4" \
    --baseline "$work/far.json" --tolerance 10% >/dev/null
[ $? = 1 ] || fail "a run did not fail against a far better baseline"

# Bad usage: exit 2 with the reason.
for bad in "--size 10" "--rate x" "--sut smtp://" "--sut ftp://x" "--connections 0"; do
    # shellcheck disable=SC2086
    "$bin/mxlab" bench $bad --messages 1 2>"$work/err" >/dev/null
    [ $? = 2 ] || fail "$bad: not exit 2"
    [ -s "$work/err" ] || fail "$bad: no reason given"
done
"$bin/mxlab" bench merge "$work/nonexistent.json" 2>"$work/err"
[ $? = 2 ] && grep -q "nonexistent.json" "$work/err" || fail "merge: missing file"
"$bin/mxlab" bench --help | grep -q "no coordinated" || fail "--help"
echo "bench.sh: ok"
