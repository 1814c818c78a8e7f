#!/bin/sh
# logsum.sh MXLAB SRCDIR — "mxlab logsum": the Zabbix items of a real
# Postfix 3.7 log equal the golden file (the same counters as "log
# totals", which agree with pflogsumm); plain totals name every counter;
# usage errors exit 2, an unreadable log exits 1, both with a message.
set -u
mxlab=$1
data=$2/reports/tests/data
fail() { echo "logsum.sh: $*" >&2; exit 1; }

out=$("$mxlab" logsum --zabbix mx1 "$data/postfix-3.7.log") || fail "exit $?"
[ "$out" = "$(cat "$data/zabbix.txt.ref")" ] || fail "zabbix output differs: $out"
out=$("$mxlab" logsum "$data/postfix-3.7.log") || fail "exit $?"
echo "$out" | grep -qx 'received 11' || fail "no 'received 11': $out"
echo "$out" | grep -qx 'reject-warnings 0' || fail "no reject-warnings: $out"
[ "$(echo "$out" | wc -l)" -eq 16 ] || fail "expected 16 counters: $out"
"$mxlab" logsum -h | grep -q 'usage: mxlab logsum' || fail "-h"
"$mxlab" logsum >/dev/null 2>&1; [ $? -eq 2 ] || fail "no file: exit 2 expected"
"$mxlab" logsum --zabbix 'a b' "$data/postfix-3.7.log" >/dev/null 2>&1
[ $? -eq 2 ] || fail "host with a space: exit 2 expected"
err=$("$mxlab" logsum /nonexistent/maillog 2>&1 >/dev/null); st=$?
[ $st -eq 1 ] || fail "missing log: exit 1 expected, got $st"
echo "$err" | grep -q '^mxlab logsum: /nonexistent/maillog: No such file' ||
    fail "missing log message: $err"
echo "logsum.sh: ok"
