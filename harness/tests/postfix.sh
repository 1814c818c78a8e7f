#!/bin/bash
# postfix.sh MXLAB SOURCE_DIR WORK — --sut postfix where it cannot work:
# a report directory below one that Postfix's mail_owner cannot enter (a
# new user's "--report $(mktemp -d)/r", mode 700) is refused at the start,
# naming that directory, before anything is made in it; a Postfix that
# does not start shows the lines it logged. Root and Debian's postfix
# needed (skipped, exit 77, otherwise).
set -u
mxlab=$1 src=$2 work=$3 me=postfix.sh
. "$(dirname "$0")/lib.sh"
if [ "$(id -u)" -ne 0 ] || [ ! -x /usr/sbin/postfix ]; then
    echo "postfix.sh: needs root and Debian's postfix: skipped"
    exit 77
fi
rm -rf "$work"
mkdir -p "$work"
private=$(mktemp -d "$work/private.XXXXXX")
chmod 700 "$private"
trap 'rm -rf "$private"' EXIT

mxrun 2 run --sut postfix --report "$private/r" \
    "$src/scenarios/blackbox/smtp-basics.scn"
grep -q "^mxlab run: --sut postfix --report $private/r: $private: Postfix's mail_owner (postfix) cannot enter it (mode 700" \
    <<<"$out" || fail "the refusal does not name the directory and why"
[ ! -e "$private/r" ] || fail "the refused report directory was made"

mxrun 1 run --sut postfix --report "$work/r" \
    "$src/harness/tests/postfix/no-start.scn"
grep -q "no-start.scn:[0-9]*: postfix did not start; it logged: .*master.cf: line [0-9]*: bad field count.* | .*postfix/postfix-script\[[0-9]*\]: fatal:" \
    <<<"$out" || fail "the failure does not show what Postfix logged"
echo "postfix.sh: ok"
