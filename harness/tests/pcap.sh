#!/bin/bash
# pcap.sh MXLAB SOURCE_DIR OUT — "mxlab run --pcap" and "mxlab import" on
# the lab's own captures: two scenarios run in parallel (tests/pcap/);
# each work directory holds capture.pcap, which tshark reads back with
# the scenario's SMTP commands (client to SUT, SUT to fake MX) and DNS
# queries, and none of the other scenario's; each capture, imported with
# --server (the SUT), runs again on the scenario's own configuration and
# passes. Without CAP_NET_RAW, --pcap says so once and the run goes on.
# Needs root and tshark (exit 77: skipped).
set -u
mxlab=$1 src=$2 dir=$3 me=pcap.sh
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "$me: skipped: needs root"; exit 77; }
command -v tshark >/dev/null || { echo "$me: skipped: no tshark (ci/bootstrap)"; exit 77; }
rm -rf "$dir"
mkdir -p "$dir"

mxrun 0 run --pcap --jobs 2 --keep --report "$dir/run" "$src/harness/tests/pcap"

# ports NAME: "DNS SMTP-PORTS..." from the transcript's filter line.
ports() {
    grep -m1 -- '^-- capture: .*(filter: ' "$dir/run/work/pcap-$1/transcript" |
        grep -o 'port [0-9]*' | cut -d' ' -f2 | tr '\n' ' '
}

# fields NAME: the SMTP commands and DNS queries tshark finds in NAME's
# capture, one "COMMAND PARAMETER" or "dns NAME TYPE" a line.
fields() {
    set -- "$1" $(ports "$1")
    local cap=$dir/run/work/pcap-$1/capture.pcap dns=$2 args=()
    shift 2
    args+=(-d "udp.port==$dns,dns")
    for p in "$@"; do args+=(-d "tcp.port==$p,smtp"); done
    tshark -n -r "$cap" "${args[@]}" -Y 'smtp.req or dns.flags.response == 0' \
        -T fields -E separator=' ' -e smtp.req.command -e smtp.req.parameter \
        -e dns.qry.name -e dns.qry.type 2>/dev/null | sed 's/^  *//; s/  *$//'
}

for n in capture-a capture-b; do
    [ -s "$dir/run/work/pcap-$n/capture.pcap" ] || fail "$n: no capture.pcap"
    grep -q '^-- capture: [0-9]* packets, 0 dropped' "$dir/run/work/pcap-$n/transcript" ||
        fail "$n: the transcript does not count the capture's packets"
done
a=$(fields capture-a)
b=$(fields capture-b)
echo "capture-a: $a"
echo "capture-b: $b"
for want in 'EHLO client-a.example.net' 'MAIL FROM:<sender@example.net>' \
    'RCPT TO:<user@example.org>' 'DATA' 'QUIT' 'EHLO relay-a.example.net' \
    'example.org 15' 'mx-a.example.org 1'; do
    grep -qxF -- "$want" <<<"$a" || fail "capture-a: no \"$want\" in the capture"
done
for want in 'EHLO client-b.example.net' 'RSET' 'EHLO relay-b.example.net' \
    '2.0.0.127.in-addr.arpa 12'; do
    grep -qxF -- "$want" <<<"$b" || fail "capture-b: no \"$want\" in the capture"
done
# tshark 3.6 shows STARTTLS as command "STAR", parameter "TLS"
grep -qxE 'STAR ?TLS' <<<"$b" || fail "capture-b: no STARTTLS in the capture"
grep -q 'client-b\|relay-b' <<<"$a" && fail "capture-a holds capture-b's packets"
grep -q 'client-a\|relay-a\|example.org' <<<"$b" && fail "capture-b holds capture-a's packets"

# Import each capture (the sessions to the SUT) and play it again on the
# scenario's own configuration (its blocks before the first [session]).
for n in capture-a capture-b; do
    set -- $(ports "$n")
    sut=${!#}
    mxrun 0 import --server "127.0.0.1:$sut" -o "$dir/$n.imported.scn" \
        "$dir/run/work/pcap-$n/capture.pcap"
    grep -c '^\[session from 127.0.0.' "$dir/$n.imported.scn" | grep -qx 1 ||
        fail "$n: one session expected in the import"
    { sed -n '/^\[session/q;p' "$src/harness/tests/pcap/$n.scn"
      sed -n '/^\[session/,$p' "$dir/$n.imported.scn"; } >"$dir/$n.replay.scn"
done
grep -qxF 'C: EHLO client-a.example.net' "$dir/capture-a.imported.scn" || fail "capture-a: import lacks EHLO"
grep -qxF 'S: 250 2.0.0 Ok: queued as {qid1}' "$dir/capture-a.imported.scn" || fail "capture-a: queue id not captured"
grep -qxF 'C=   indented {braces} \r\n' "$dir/capture-b.imported.scn" || fail "capture-b: the escaped line"
grep -qxF 'C: ..a line that starts with a dot' "$dir/capture-b.imported.scn" || fail "capture-b: the dot-stuffed line"
grep -q '^# TLS from here (STARTTLS, RFC 3207)' "$dir/capture-b.imported.scn" || fail "capture-b: no TLS note"
mxrun 0 run --report "$dir/replay" "$dir/capture-a.replay.scn" "$dir/capture-b.replay.scn"

# Without CAP_NET_RAW: said once, run without capture.
if command -v setpriv >/dev/null; then
    out2=$(setpriv --bounding-set -net_raw --inh-caps -net_raw \
        "$mxlab" run --pcap --jobs 2 --report "$dir/nocap" "$src/harness/tests/pcap" 2>&1)
    rc=$?
    echo "$out2"
    [ "$rc" -eq 0 ] || fail "without CAP_NET_RAW: exit $rc"
    [ "$(grep -c -- '--pcap: no capture on loopback' <<<"$out2")" -eq 1 ] ||
        fail "without CAP_NET_RAW: the refusal is not said once"
fi
echo "$me: ok"
