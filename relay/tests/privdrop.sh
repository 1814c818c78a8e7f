#!/bin/bash
# privdrop.sh MXLAB_RELAY — started as root, the relay serves as
# mail_owner: /proc/PID/status shows that uid in all four Uid fields
# (real, effective, saved, filesystem), the queue belongs to it, and an
# unknown or uid-0 mail_owner is refused as Postfix refuses it.
# Skipped (exit 77) when not run as root.
set -u
. "$(dirname "$0")/lib.sh"
if [ "$(id -u)" != 0 ]; then
    echo "privdrop.sh: skipped: needs root (it checks the drop from root)"
    exit 77
fi
test_setup privdrop.sh "$1"
owner=postfix
getent passwd "$owner" >/dev/null || owner=nobody
uid=$(id -u "$owner")
port=$(free_port)
config() { test_main_cf "mail_owner = $1"; }
echo "127.0.0.1:$port inet n - n - - smtpd" >"$dir/master.cf"

config no-such-user-mxlab
"$relay" -c "$dir" start >"$dir/out" 2>&1 && fail "started with an unknown mail_owner"
grep -qF "parameter mail_owner: unknown user name value: no-such-user-mxlab" "$dir/out" ||
    fail "unknown mail_owner: $(cat "$dir/out")"
config root
"$relay" -c "$dir" start >"$dir/out" 2>&1 && fail "started with mail_owner = root"
grep -qF "parameter mail_owner: user root has privileged user ID" "$dir/out" ||
    fail "root mail_owner: $(cat "$dir/out")"

config "$owner"
"$relay" -c "$dir" start >"$dir/out" 2>&1 || fail "start: $(cat "$dir/out")"
pid=$(tr -d ' \n' <"$dir/queue/pid/master.pid")
uids=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status")
[ "$uids" = "$uid $uid $uid $uid" ] || fail "Uid of $pid: $uids, expected $uid ($owner)"
[ "$(stat -c %u "$dir/queue/deferred")" = "$uid" ] || fail "queue not given to $owner"
# A session works as that user: the message is written to the queue.
swaks --server 127.0.0.1:$port --from a@example.net --to b@example.org \
    --helo client.example.net >"$dir/swaks" 2>&1
grep -q "Ok: queued as" "$dir/swaks" || fail "swaks: $(tail -3 "$dir/swaks")"
"$relay" -c "$dir" stop >/dev/null 2>&1 || fail "stop"
echo "privdrop.sh: ok ($owner, uid $uid)"
