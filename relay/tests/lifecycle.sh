#!/bin/bash
# lifecycle.sh MXLAB_RELAY — "mxlab-relay -c DIR start|status|reload|stop"
# as postfix(1): start daemonises and returns once the relay listens;
# status names its pid; a second start is refused; reload (SIGHUP) gives
# new sessions a changed smtpd_banner and keeps the queued message; stop
# ends it with SIGTERM and the message is still queued after another
# start. A parameter the relay does not implement is warned about in the
# mail log at start and at reload. Every wait is bounded and ends on a
# real condition.
set -u
. "$(dirname "$0")/lib.sh"
test_setup lifecycle.sh "$1"
port=$(free_port)
dead=$(free_port)
config() {
    test_main_cf "myhostname = relay.example.net" \
        "mynetworks = 127.0.0.0/8" "relayhost = [127.0.2.77]:$dead" \
        "smtpd_banner = \$myhostname $1" "$2"
}
config "ESMTP first" "header_checks = regexp:/etc/postfix/header_checks"
echo "127.0.0.1:$port inet n - n - - smtpd" >"$dir/master.cf"
banner() {
    swaks --server 127.0.0.1:$port --quit-after BANNER 2>/dev/null |
        sed -n 's/^<- *\(220 .*\)/\1/p' | tr -d '\r'
}
run() { "$relay" -c "$dir" "$@" >"$dir/out" 2>&1; echo $? >"$dir/rc"; }
expect() { # expect RC TEXT: the last command's exit code and message
    [ "$(cat "$dir/rc")" = "$1" ] && grep -qF -- "$2" "$dir/out" ||
        fail "expected exit $1 and \"$2\", got $(cat "$dir/rc"): $(cat "$dir/out")"
}

run status
expect 1 "postfix/postfix-script: the Postfix mail system is not running"
run stop
expect 1 "postfix/postfix-script: fatal: the Postfix mail system is not running"
run reload
expect 1 "postfix/postfix-script: fatal: the Postfix mail system is not running"

# start returns once the relay answers: no wait loop needed.
run start
expect 0 "postfix/postfix-script: starting the Postfix mail system"
[ "$(banner)" = "220 relay.example.net ESMTP first" ] || fail "banner: $(banner)"
run status
expect 0 "postfix/postfix-script: the Postfix mail system is running: PID: "
pid=$(sed -n 's/.*PID: \([0-9]*\).*/\1/p' "$dir/out")
[ "$(tr -d ' \n' <"$dir/queue/pid/master.pid")" = "$pid" ] ||
    fail "master.pid: $(cat "$dir/queue/pid/master.pid")"
run start
expect 1 "postfix/postfix-script: fatal: the Postfix mail system is already running"
grep -qF "postfix/master[$pid]: warning: $dir/main.cf:9: header_checks is not implemented by mxlab-relay; content is not inspected" \
    "$dir/maillog" || fail "no header_checks warning at start"

# A message, queued (its relayhost refuses: it stays deferred).
swaks --server 127.0.0.1:$port --from sender@example.net \
    --to a@example.org --helo client.example.net >"$dir/swaks" 2>&1 ||
    fail "swaks: $(tail -3 "$dir/swaks")"
id=$(sed -n 's/.*Ok: queued as \([0-9A-F]*\).*/\1/p' "$dir/swaks" | tail -1)
[ -n "$id" ] || fail "no queue ID"

# reload: new sessions see the new banner; the message stays queued.
config "ESMTP reloaded" "header_checks = regexp:/nonexistent/header_checks"
run reload
expect 0 "postfix/postfix-script: refreshing the Postfix mail system"
for _ in $(seq 100); do
    [ "$(banner)" = "220 relay.example.net ESMTP reloaded" ] && break
    sleep 0.05
done
[ "$(banner)" = "220 relay.example.net ESMTP reloaded" ] || fail "after reload: $(banner)"
grep -q "postfix/master\[$pid\]: reload -- version" "$dir/maillog" ||
    fail "no reload log line"
grep -qF "postfix/master[$pid]: warning: $dir/main.cf:9: header_checks is not implemented by mxlab-relay; content is not inspected" \
    "$dir/maillog" || fail "no header_checks warning at reload"
run status
expect 0 "PID: $pid"
run mailq
grep -q "^$id" "$dir/out" || fail "mailq after reload: $(cat "$dir/out")"

# stop: SIGTERM, a bounded wait, then gone.
run stop
expect 0 "postfix/postfix-script: stopping the Postfix mail system"
# (A zombie has exited: its reaper, pid 1 here, may be slow to reap.)
case $(ps -o stat= -p "$pid" 2>/dev/null) in
"" | Z*) ;;
*) fail "pid $pid still runs after stop" ;;
esac
run status
expect 1 "the Postfix mail system is not running"
run mailq
grep -q "^$id" "$dir/out" || fail "mailq while stopped: $(cat "$dir/out")"

# And again: the queued message is recovered.
run start
expect 0 "starting the Postfix mail system"
run mailq
grep -q "^$id" "$dir/out" || fail "mailq after restart: $(cat "$dir/out")"
run stop
expect 0 "stopping the Postfix mail system"
echo "lifecycle.sh: ok"
