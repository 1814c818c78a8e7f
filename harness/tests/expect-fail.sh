#!/bin/bash
# expect-fail.sh MXLAB SCENARIO REPORTDIR — run a self-test scenario that
# must fail: mxlab must exit 1 and print the message written on the
# scenario's "# expect-failure: " line.
set -u
mxlab=$1 scn=$2 report=$3
want=$(sed -n 's/^# expect-failure: //p' "$scn")
if [ -z "$want" ]; then
    echo "expect-fail.sh: $scn has no '# expect-failure:' line" >&2
    exit 2
fi
out=$("$mxlab" run --clean --report "$report" "$scn" 2>&1)
rc=$?
echo "$out"
if [ "$rc" -ne 1 ]; then
    echo "expect-fail.sh: mxlab exited $rc, expected 1" >&2
    exit 1
fi
if ! grep -qF -- "$want" <<<"$out"; then
    echo "expect-fail.sh: expected message not found: $want" >&2
    exit 1
fi
if ! grep -q 'failures="1"' "$report/junit.xml"; then
    echo "expect-fail.sh: junit.xml does not record the failure" >&2
    exit 1
fi
echo "expect-fail.sh: failed as expected"
