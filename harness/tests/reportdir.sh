#!/bin/bash
# reportdir.sh MXLAB SOURCE_DIR WORK — a report directory is never
# silently replaced: a second run into it writes a new timestamped
# subdirectory that DIR/latest points at, the first report untouched;
# --clean empties it (and DIR/latest is "."); --clean refuses a directory
# that is not an mxlab report, removing nothing.
set -u
mxlab=$1 src=$2 work=$3 me=reportdir.sh
. "$(dirname "$0")/lib.sh"
fresh
scn=$src/scenarios/seeds/000-ovh-relay.scn
r=$work/r

mxrun 0 run --report "$r" "$scn"
[ "$(readlink "$r/latest")" = . ] || fail "first run: latest is not ."
[ -f "$r/results.json" ] || fail "first run: no results.json in $r"
first=$(cat "$r/results.json")

mxrun 0 run --report "$r" "$scn"
sub=$(readlink "$r/latest")
[[ $sub =~ ^[0-9]{8}T[0-9]{6}Z(-[0-9]+)?$ ]] ||
    fail "second run: latest -> '$sub', not a timestamp"
grep -q "^mxlab run: $r is not empty: this run's report is $r/$sub " <<<"$out" ||
    fail "second run: not said where the report went"
[ -f "$r/latest/results.json" ] && [ -f "$r/latest/junit.xml" ] ||
    fail "second run: no report in $r/$sub"
[ "$(cat "$r/results.json")" = "$first" ] || fail "the first report changed"

mxrun 0 run --report "$r" "$scn"
sub2=$(readlink "$r/latest")
[ "$sub2" != "$sub" ] && [ -f "$r/$sub/results.json" ] ||
    fail "third run: latest -> $sub2, or $sub gone"

mxrun 0 run --clean --report "$r" "$scn"
[ "$(readlink "$r/latest")" = . ] || fail "--clean: latest is not ."
[ ! -e "$r/$sub" ] && [ ! -e "$r/$sub2" ] || fail "--clean: $r not emptied"
[ -f "$r/results.json" ] || fail "--clean: no results.json in $r"

mkdir -p "$work/mine"
echo keep >"$work/mine/notes.txt"
mxrun 2 run --clean --report "$work/mine" "$scn"
grep -q "^mxlab run: $work/mine: --clean: not emptied" <<<"$out" ||
    fail "--clean on a foreign directory: no clear refusal"
[ "$(cat "$work/mine/notes.txt")" = keep ] || fail "--clean removed a user file"
echo "reportdir.sh: ok"
