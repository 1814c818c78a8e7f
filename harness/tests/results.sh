#!/bin/bash
# results.sh MXLAB SOURCE_DIR WORK — what "mxlab run" records: a scenario
# that fails at its first step lists that step, marked failed, in
# results.json (a lab that cannot be built lists a setup step at the
# failing line); the reports name the system tested, the start and
# mxlab's version; a path that does not exist is a usage error (exit 2)
# naming it, not a failed scenario.
set -u
mxlab=$1 src=$2 work=$3 me=results.sh
. "$(dirname "$0")/lib.sh"
rm -rf "$work"
mkdir -p "$work"

mxrun 1 run --clean --report "$work/r" "$src/harness/tests/scenarios/wrong-reply.scn" \
    "$src/harness/tests/scenarios/bad-config.scn"
json=$work/r/results.json
python3 -m json.tool "$json" >/dev/null || fail "results.json is not JSON"
grep -q '"name":"wrong-reply",.*"steps":\[{"line":14,"kind":"session","ms":[0-9]*,"failed":true}\]' \
    "$json" || fail "wrong-reply's failing first step is not listed"
grep -q '"name":"bad-config",.*"steps":\[{"line":10,"kind":"setup","ms":[0-9]*,"failed":true}\]' \
    "$json" || fail "bad-config's failing setup is not listed"
version=$("$mxlab" --version | sed 's/^mxlab //')
grep -q "^{\"run\":{\"sut\":\"relay\",\"started\":\"20[0-9-]*T[0-9:]*Z\",\"version\":\"$version\"}," \
    "$json" || fail "results.json does not say which run it was"
grep -q '<property name="sut" value="relay"/>' "$work/r/junit.xml" &&
    grep -q "<property name=\"mxlab_version\" value=\"$version\"/>" \
        "$work/r/junit.xml" &&
    grep -q '<property name="started" value="20' "$work/r/junit.xml" ||
    fail "junit.xml does not say which run it was"
grep -q "^mxlab $version  sut=relay  started 20" <<<"$out" ||
    fail "the table's header does not say which run it was"

mxrun 2 run --clean --report "$work/r2" "$work/DOES-NOT-EXIST"
grep -q "^mxlab run: $work/DOES-NOT-EXIST: No such file or directory$" \
    <<<"$out" || fail "a missing path is not named"
[ ! -e "$work/r2/results.json" ] || fail "a usage error wrote a report"
echo "results.sh: ok"
