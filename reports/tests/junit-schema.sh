#!/bin/sh
# junit-schema.sh MXLAB SOURCE_DIR WORK — every junit.xml mxlab writes is
# valid against reports/junit.xsd: the golden file, and a real report with
# passed, failed (the harness self-tests) and skipped scenarios. A file
# that breaks the schema is refused, so the check checks something.
set -u
mxlab=$1 src=$2 work=$3
xsd=$src/reports/junit.xsd
fail() { echo "junit-schema.sh: $*" >&2; exit 1; }
rm -rf "$work"
mkdir -p "$work"
xmllint --noout --schema "$xsd" "$src/reports/tests/data/junit.xml.ref" ||
    fail "the golden junit.xml does not validate"
"$mxlab" run --clean --report "$work/r" "$src/harness/tests/scenarios" \
    "$src/scenarios/blackbox" >/dev/null 2>&1
[ -s "$work/r/junit.xml" ] || fail "no junit.xml written"
grep -q "<failure" "$work/r/junit.xml" || fail "no failure in the report"
xmllint --noout --schema "$xsd" "$work/r/junit.xml" ||
    fail "a real junit.xml does not validate"
python3 -m json.tool "$work/r/results.json" >/dev/null ||
    fail "results.json is not JSON"
sed 's/ classname="[^"]*"//' "$work/r/junit.xml" >"$work/bad.xml"
if xmllint --noout --schema "$xsd" "$work/bad.xml" 2>/dev/null; then
    fail "a testcase without classname passed the schema"
fi
echo "junit-schema.sh: ok"
