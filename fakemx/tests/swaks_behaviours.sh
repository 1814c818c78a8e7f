#!/bin/bash
# swaks_behaviours.sh — every fakemx behaviour from real clients: one
# mxlab-fakemx process with one host per behaviour, each on its own
# 127.0.0.x address (same port), fed by swaks (and openssl s_client for
# STARTTLS, python3 for malformed input). Then a bad behaviour file must be
# refused with file:line, and --dump DIR must hold the JSON lines and the
# Maildir. Waits are bounded and on real conditions (a banner, a closed
# socket), never sleeps standing in for synchronisation.
# Usage: swaks_behaviours.sh PATH/TO/mxlab-fakemx
set -u

bin=${1:?usage: swaks_behaviours.sh PATH/TO/mxlab-fakemx}
tmp=$(mktemp -d)
pid=
port=
fails=0

cleanup() {
    exec 3>&- 4>&- 2>/dev/null
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

fatal() {
    echo "FAIL: $*" >&2
    [ -s "$tmp/stderr" ] && tail -20 "$tmp/stderr" | sed 's/^/  server: /' >&2
    exit 1
}

fail() {
    echo "FAIL: $*" >&2
    [ -s "$tmp/out" ] && sed 's/^/  client: /' "$tmp/out" >&2
    fails=$((fails + 1))
}

ok() {
    echo "ok: $*"
}

for tool in swaks python3 openssl; do
    command -v "$tool" >/dev/null || fatal "$tool is not installed"
done

# One behaviour file per host: NAME, address, behaviour text.
hosts=(
    "accept 127.0.0.41 name = mx-accept.test"
    "tls 127.0.0.42 starttls = yes|tls_required = yes"
    "maxconn 127.0.0.43 max_conn_per_ip = 1 421 smtp4-g19.free.fr Error: too many connections from %s"
    "rate 127.0.0.44 rate = 1 connections per 1h"
    "grey 127.0.0.45 greylist = 0s,1h"
    "nth 127.0.0.46 reply = RCPT #2 452 4.5.3 Too many recipients"
    "every 127.0.0.47 reply = CONNECT every 2 421 4.7.0 busy, try later"
    "match 127.0.0.48 reply = RCPT match unknown-* 550 5.1.1 User unknown|reply = MAIL match x@spam.example 550 5.7.1 No"
    "tarpit 127.0.0.49 tarpit = RCPT 400ms"
    "hang 127.0.0.50 hang = DATA"
    "dropbanner 127.0.0.51 drop = banner"
    "dropmail 127.0.0.52 drop = after MAIL"
    "dropdata 127.0.0.53 drop = data 200"
    "refuse 127.0.0.54 down = refuse"
    "blackhole 127.0.0.55 down = blackhole"
    "size 127.0.0.56 size = 1000"
    "msgrate 127.0.0.57 rate = 1 messages per 1h 450 4.7.1 slow down %s"
)
declare -A addr
names=()
for h in "${hosts[@]}"; do
    name=${h%% *}
    h=${h#* }
    addr[$name]=${h%% *}
    names+=("$name")
    beh=${h#* }
    printf '%s\n' "${beh//|/$'\n'}" >"$tmp/$name.beh"
done
listen_args() {
    local name
    for name in "${names[@]}"; do
        printf -- '--listen\n%s:%s,%s\n' "${addr[$name]}" "$1" "$tmp/$name.beh"
    done
}

banner_on() { # ip: 0 when a banner comes within 5 s
    python3 - "$1" "$port" <<'PY'
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
sys.exit(0 if s.recv(100).startswith(b"220") else 1)
PY
}

mkdir "$tmp/dump"
for attempt in 0 1 2 3 4 5 6 7 8 9; do
    port=$((20000 + ($$ * 11 + attempt * 1019) % 40000))
    mapfile -t args < <(listen_args "$port")
    "$bin" "${args[@]}" --name mx.test --dump "$tmp/dump" -v \
        2>"$tmp/stderr" &
    pid=$!
    ready=
    deadline=$((SECONDS + 10))
    while [ "$SECONDS" -lt "$deadline" ] && kill -0 "$pid" 2>/dev/null; do
        if banner_on "${addr[accept]}" 2>/dev/null; then
            ready=1
            break
        fi
        sleep 0.1 # polling for the listener, bounded by the deadline
    done
    [ -n "$ready" ] && break
    kill -0 "$pid" 2>/dev/null && fatal "not ready within 10 seconds"
    wait "$pid"
    pid=
    grep -q 'in use' "$tmp/stderr" || fatal "could not start"
done
[ -n "$ready" ] || fatal "no free port after 10 attempts"

# sw HOST [swaks options]: swaks against a host, output in $tmp/out.
sw() {
    local ip=${addr[$1]}
    shift
    swaks --server "$ip" --port "$port" --from a@x.test --to b@y.test \
        --helo client.test --timeout 5 "$@" >"$tmp/out" 2>&1
}
has() { grep -q "$@" "$tmp/out"; }

# accept: the ESMTP extensions, and the banner name from the file.
sw accept
if has '^<-  220 mx-accept.test ESMTP' && has '^<-  250-PIPELINING' &&
    has '^<-  250-SIZE 10240000' && has '^<-  250-8BITMIME' &&
    has '^<-  250 ENHANCEDSTATUSCODES' && has 'queued as FM'; then
    ok accept
else
    fail accept
fi

# tls: TLS required, then STARTTLS with the generated certificate.
sw tls
if has '^<-  250-STARTTLS' &&
    has '^<\*\* 530 5.7.0 Must issue a STARTTLS command first'; then
    ok "tls required"
else
    fail "tls required"
fi
printf 'EHLO c.test\nMAIL FROM:<a@x.test>\nRCPT TO:<b@y.test>\nDATA\nSubject: tls\n\nhi\n.\nQUIT\n' |
    timeout 20 openssl s_client -connect "${addr[tls]}:$port" -starttls smtp \
        -crlf -quiet -ign_eof >"$tmp/out" 2>&1
if has 'queued as FM' && has 'CN = mx.test'; then
    ok starttls
else
    fail starttls
fi

# maxconn: one connection held, the second gets free.fr's words.
exec 3<>"/dev/tcp/${addr[maxconn]}/$port"
read -r -t 5 -u 3 line
sw maxconn
exec 3>&-
if [[ "$line" == 220* ]] &&
    has '^<\*\* 421 smtp4-g19.free.fr Error: too many connections from 127.0.0.1'; then
    ok "max_conn_per_ip"
else
    fail "max_conn_per_ip"
fi

# rate: one connection per hour.
sw rate
first=$(grep -c 'queued as' "$tmp/out")
sw rate
if [ "$first" = 1 ] && has '^<\*\* 421 4.7.0 mx.test Error: too many connections from 127.0.0.1'; then
    ok "rate connections"
else
    fail "rate connections"
fi
sw msgrate --quit-after RCPT
sw msgrate --quit-after MAIL
if has '^<\*\* 450 4.7.1 slow down 127.0.0.1'; then
    ok "rate messages"
else
    fail "rate messages"
fi

# grey: the first try is greylisted, the retry (no minimum) passes.
sw grey
if has '^<\*\* 450 4.2.0 <b@y.test>: Recipient address rejected: Greylisted'; then
    sw grey
    if has 'queued as'; then ok greylist; else fail "greylist retry"; fi
else
    fail greylist
fi

# nth: the second RCPT of the session.
sw nth --to b@y.test,c@y.test,d@y.test
if has '^<\*\* 452 4.5.3 Too many recipients' &&
    [ "$(grep -c '^<-  250 2.1.5' "$tmp/out")" = 2 ] && has 'queued as'; then
    ok "reply by position"
else
    fail "reply by position"
fi

# every: the 2nd, 4th... connection.
sw every
a=$(grep -c 'queued as' "$tmp/out")
sw every
if [ "$a" = 1 ] && has '^<\*\* 421 4.7.0 busy, try later'; then
    ok "reply every N connections"
else
    fail "reply every N connections"
fi

# match: recipients and senders by pattern.
sw match --to unknown-7@y.test,known@y.test
if has '^<\*\* 550 5.1.1 User unknown' && has 'queued as'; then
    ok "reply by recipient pattern"
else
    fail "reply by recipient pattern"
fi
sw match --from x@spam.example
if has '^<\*\* 550 5.7.1 No'; then
    ok "reply by sender pattern"
else
    fail "reply by sender pattern"
fi

# tarpit: the RCPT reply comes no sooner than 400 ms.
t0=$(date +%s%N)
sw tarpit
t1=$(date +%s%N)
if has 'queued as' && [ $(((t1 - t0) / 1000000)) -ge 400 ]; then
    ok "tarpit ($(((t1 - t0) / 1000000)) ms)"
else
    fail "tarpit ($(((t1 - t0) / 1000000)) ms)"
fi

# hang: no answer to DATA; swaks gives up after its timeout.
sw hang --timeout 2
if has '^<-  250 2.1.5' && ! has '354' && has -i 'timeout\|timed out'; then
    ok hang
else
    fail hang
fi

# drops: after the banner, after MAIL, mid-DATA.
sw dropbanner
if has '^<-  220' && ! has '^<-  250' && has -i 'closed connection'; then
    ok "drop after banner"
else
    fail "drop after banner"
fi
sw dropmail
if has '^<-  250 2.1.0' && ! has '250 2.1.5' && ! has 'queued'; then
    ok "drop after MAIL"
else
    fail "drop after MAIL"
fi
sw dropdata --body "$(head -c 3000 /dev/zero | tr '\0' 'x' | fold -w 70)"
if has '^<-  354' && ! has 'queued'; then
    ok "drop mid-DATA"
else
    fail "drop mid-DATA"
fi

# down: refused, or a black hole that never greets.
sw refuse
if has -i 'refused'; then ok "down refuse"; else fail "down refuse"; fi
sw blackhole --timeout 2
if ! has '^<-' && has -i 'timeout\|timed out'; then
    ok "down blackhole"
else
    fail "down blackhole"
fi

# size: SIZE advertised, DATA over it refused with 552 5.3.4.
sw size --body "$(head -c 3000 /dev/zero | tr '\0' 'y' | fold -w 70)"
if has '^<-  250-SIZE 1000' && has '^<\*\* 552 5.3.4'; then
    ok "data over SIZE"
else
    fail "data over SIZE"
fi

# hardening from a raw client: long line, NUL, bare CR, order, bare LF.
python3 - "${addr[accept]}" "$port" >"$tmp/out" 2>&1 <<'PY'
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
f = s.makefile("rb")
def reply():
    lines = []
    while True:
        l = f.readline()
        if not l:
            return lines + ["EOF"]
        lines.append(l.decode().rstrip("\r\n"))
        if l[3:4] != b"-":
            return lines
def expect(send, want):
    s.sendall(send)
    got = reply()[-1]
    if not got.startswith(want):
        sys.exit("sent %r: got %r, expected %r" % (send[:40], got, want))
reply()
expect(b"NOOP " + b"x" * 5000 + b"\r\n", "500 5.5.0")
expect(b"NO\0OP\r\n", "500 5.5.2")
expect(b"NOOP\rX\r\n", "502 5.5.2")
expect(b"RCPT TO:<b@y.test>\r\n", "503 5.5.1")
expect(b"DATA\r\n", "503 5.5.1")
expect(b"MAIL FROM:<a@x.test> SIZE=99999999999\r\n", "552 5.3.4")
expect(b"NOOP\n", "521 5.5.2")
if reply() != ["EOF"]:
    sys.exit("no close after the bare LF")
print("hardening ok")
PY
if has 'hardening ok'; then ok hardening; else fail hardening; fi

# --dump DIR: one JSON line and one Maildir file per message so far.
n=$(wc -l <"$tmp/dump/fakemx.jsonl")
m=$(find "$tmp/dump/maildir/new" -type f | wc -l)
if [ "$n" -ge 8 ] && [ "$n" = "$m" ] && [ -d "$tmp/dump/maildir/cur" ] &&
    python3 - "$tmp/dump/fakemx.jsonl" <<'PY'; then
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
tls = [r for r in recs if r["tls"].startswith("TLSv1")]
assert tls and tls[0]["subject"] == "tls", tls
for r in recs:
    assert r["replies"][0] == "250 2.1.0 Ok" and r["replies"][-1].startswith("250 2.0.0"), r["replies"]
    assert r["received"] >= r["mail_time"] >= r["connected"] > 0
PY
    ok "dump DIR ($n messages)"
else
    fail "dump DIR ($n JSON lines, $m Maildir files)"
fi

# Every ended session, with every reply given, in DIR/sessions.jsonl.
if python3 - "$tmp/dump/sessions.jsonl" "${addr[maxconn]}" <<'PY'; then
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
refused = [r for r in recs if r["host"].startswith(sys.argv[2] + ":")
           and r["replies"][0].startswith("421 smtp4-g19.free.fr")]
assert len(recs) >= 20 and refused, (len(recs), refused)
assert all(r["closed"] >= r["connected"] > 0 for r in recs)
PY
    ok "session log"
else
    fail "session log"
fi

kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
[ "$rc" -eq 0 ] || fail "exit status $rc after SIGTERM"

# A bad behaviour file is refused with file:line, exit status 2.
printf 'name = x\n# fine\nreply = RCPT 250 nope\n' >"$tmp/bad.beh"
"$bin" --listen "127.0.0.41:$port" --behaviour "$tmp/bad.beh" \
    >"$tmp/out" 2>&1
rc=$?
if [ "$rc" = 2 ] && has "$tmp/bad.beh:3: reply code 250"; then
    ok "bad behaviour file"
else
    fail "bad behaviour file (status $rc)"
fi
"$bin" --listen "127.0.0.41:$port" --greylist 5x >"$tmp/out" 2>&1
rc=$?
if [ "$rc" = 2 ] && has -e '--greylist: greylist: expected'; then
    ok "bad --greylist"
else
    fail "bad --greylist (status $rc)"
fi

[ "$fails" = 0 ] || { echo "$fails behaviour check(s) failed" >&2; exit 1; }
echo "fakemx behaviours: all checks passed"
