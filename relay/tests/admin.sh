#!/bin/bash
# admin.sh MXLAB_RELAY — the admin commands from the command line:
# through the control socket while the relay runs, on the queue files while
# it is stopped, and the queue recovered after kill -9. Every wait is
# bounded and ends on a real condition (a banner, a log line, an exit).
set -u
relay=$1
dir=$(mktemp -d)
chmod 755 "$dir"
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
fail() { echo "admin.sh: $*" >&2; exit 1; }

# Ports the kernel has free now (a random pick could be some other
# test's ephemeral port); "dead" is free and stays unused.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
port=$(free_port)
dead=$(free_port)
cat >"$dir/main.cf" <<CF
compatibility_level = 3.6
myhostname = relay.example.net
mynetworks = 127.0.0.0/8
queue_directory = $dir/queue
maillog_file = $dir/maillog
mxlab_dns_servers = 127.0.0.1:9
relayhost = [127.0.2.77]:$dead
CF
echo "127.0.0.1:$port inet n - n - - smtpd" >"$dir/master.cf"

start() {
    "$relay" -c "$dir" 2>>"$dir/stderr" &
    pid=$!
    for _ in $(seq 100); do
        swaks --server 127.0.0.1:$port --quit-after BANNER >/dev/null 2>&1 && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    cat "$dir/stderr" >&2
    fail "relay did not start"
}
send() {
    swaks --server 127.0.0.1:$port --from sender@example.net --to "$1" \
        --helo client.example.net >"$dir/swaks" 2>&1 || fail "swaks: $(tail -3 "$dir/swaks")"
    sed -n 's/.*Ok: queued as \([0-9A-F]*\).*/\1/p' "$dir/swaks" | tail -1
}
wait_log() {
    for _ in $(seq 200); do
        grep -q -- "$1" "$dir/maillog" 2>/dev/null && return 0
        sleep 0.05
    done
    fail "no log line with: $1"
}
admin() { "$relay" -c "$dir" "$@" >"$dir/out" 2>"$dir/err"; echo $? >"$dir/rc"; }

# Running: the control socket.
start
id=$(send a@example.org)
[ -n "$id" ] || fail "no queue ID"
wait_log "$id: to=<a@example.org>, relay=none, .*status=deferred (connect to 127.0.2.77\[127.0.2.77\]:$dead: Connection refused)"
admin mailq
grep -q "^$id.* sender@example.net$" "$dir/out" || fail "mailq: $(cat "$dir/out")"
# After 76 - length spaces, as Postfix's showq prints it.
reason="connect to 127.0.2.77[127.0.2.77]:$dead: Connection refused"
line=$(printf '%*s(%s)' $((76 - ${#reason})) '' "$reason")
grep -qxF -- "$line" "$dir/out" || fail "mailq reason: $(cat "$dir/out")"
grep -qx -- "-- 0 Kbytes in 1 Request." "$dir/out" || fail "mailq footer: $(cat "$dir/out")"
admin postsuper -d ALL
grep -qx "postsuper: Deleted: 1 message" "$dir/err" || fail "postsuper -d: $(cat "$dir/err")"
admin postqueue -p
grep -qx "Mail queue is empty" "$dir/out" || fail "after -d: $(cat "$dir/out")"
admin postqueue -f
[ "$(cat "$dir/rc")" = 0 ] || fail "postqueue -f while running: $(cat "$dir/err")"
admin postsuper -x
[ "$(cat "$dir/rc")" = 2 ] || fail "bad command: exit $(cat "$dir/rc")"

# Crash: a message acknowledged with 250 survives kill -9.
id=$(send b@example.org)
wait_log "$id: to=<b@example.org>.*status=deferred"
kill -9 "$pid"; wait "$pid" 2>/dev/null; pid=

# Stopped: the queue files.
admin mailq
grep -q "^$id " "$dir/out" || fail "mailq while stopped: $(cat "$dir/out")"
admin postqueue -f
[ "$(cat "$dir/rc")" = 1 ] && grep -q "mail system is down" "$dir/err" || fail "postqueue -f while stopped"

# Restart: recovered, then deleted through the socket; SIGTERM exits 0.
start
admin mailq
grep -q "^$id" "$dir/out" || fail "not recovered after kill -9: $(cat "$dir/out")"
admin postsuper -d "$id"
grep -qx "postsuper: Deleted: 1 message" "$dir/err" || fail "postsuper -d ID: $(cat "$dir/err")"
kill -TERM "$pid"; wait "$pid"; rc=$?; pid=
[ "$rc" = 0 ] || fail "exit status $rc on SIGTERM"
[ -e "$dir/queue/public/mxlab-admin" ] && fail "control socket left behind"
admin mailq
grep -qx "Mail queue is empty" "$dir/out" || fail "final mailq: $(cat "$dir/out")"
echo "admin.sh: ok"
