#!/bin/bash
# shard.sh MXLAB SOURCE_DIR WORK — a suite split 3 ways (mxlab run --shard
# K/3) and merged (mxlab merge) gives exactly the unsplit run: the same
# scenarios in the same order with the same statuses in results.json,
# junit.xml and index.html. The split is stable (the same part twice),
# the parts are disjoint, --durations balances them by a previous run's
# times, and missing or repeated shards are refused. The suite: the
# repository's seed and black-box scenarios and the harness's self-tests
# (which fail); the whole suite takes longer, and splits the same way.
set -u
mxlab=$1 src=$2 work=$3 me=shard.sh
. "$(dirname "$0")/lib.sh"
fresh
suite=("$src/scenarios/seeds" "$src/scenarios/blackbox"
    "$src/harness/tests/scenarios")

"$mxlab" run --report "$work/all" "${suite[@]}" >"$work/all.out" 2>&1
[ $? -eq 1 ] || fail "unsplit run: exit $?, expected 1 (the self-tests fail)"
for k in 1 2 3; do
    "$mxlab" run --shard "$k/3" --report "$work/s$k" "${suite[@]}" \
        >"$work/s$k.out" 2>&1
    rc=$?
    [ $rc -le 1 ] || fail "shard $k/3: exit $rc: $(tail -3 "$work/s$k.out")"
    grep -q "^shard $k/3: [0-9]* of [0-9]* scenarios (balanced by name hash)" \
        "$work/s$k.out" || fail "shard $k/3 does not say what it runs"
done
mxrun 1 merge --report "$work/merged" "$work/s1" "$work/s2" "$work/s3"

# name, class and status of each scenario, in order, from each report.
list() {
    /usr/bin/python3 - "$1" <<'PY'
import json, sys, xml.etree.ElementTree as ET, re
d = sys.argv[1]
for s in json.load(open(d + "/results.json"))["scenarios"]:
    print("json", s["class"], s["name"], s["status"])
for t in ET.parse(d + "/junit.xml").iter("testcase"):
    st = "failed" if t.find("failure") is not None else \
         "skipped" if t.find("skipped") is not None else "passed"
    print("junit", t.get("classname"), t.get("name"), st)
for m in re.finditer(r'<section class="scenario" id="(s-[^"]*)" data-status="(\w+)"',
                     open(d + "/index.html").read()):
    print("html", m.group(1), m.group(2))
PY
}
list "$work/all" >"$work/all.list" || fail "cannot read the unsplit reports"
list "$work/merged" >"$work/merged.list" || fail "cannot read the merged reports"
[ "$(grep -c '^json' "$work/all.list")" -ge 20 ] || fail "the unsplit run is too small"
diff -u "$work/all.list" "$work/merged.list" >&2 ||
    fail "the merged reports differ from the unsplit run"
# Disjoint parts; the same part again.
cat "$work"/s[123]/results.json | grep -o '^{"name":"[^"]*","class":"[^"]*"' |
    sort | uniq -d | grep . && fail "a scenario ran in two shards"
"$mxlab" run --shard 2/3 --report "$work/s2-again" "${suite[@]}" >/dev/null 2>&1
cmp -s <(grep -o '^{"name":"[^"]*"' "$work/s2/results.json") \
    <(grep -o '^{"name":"[^"]*"' "$work/s2-again/results.json") ||
    fail "shard 2/3 did not run the same scenarios twice"

# Balanced by the unsplit run's times: no shard over the mean plus the
# longest scenario (the greedy bound), merged again to the same result.
for k in 1 2 3; do
    "$mxlab" run --shard "$k/3" --durations "$work/all/results.json" --report "$work/d$k" \
        "${suite[@]}" >"$work/d$k.out" 2>&1
    grep -q "balanced by recorded durations" "$work/d$k.out" ||
        fail "--durations: $(head -3 "$work/d$k.out")"
done
/usr/bin/python3 - "$work" <<'PY' || fail "--durations: the shards are not balanced"
import json, sys
w = sys.argv[1]
rec = {(s["class"], s["name"]): s["seconds"]
       for s in json.load(open(w + "/all/results.json"))["scenarios"]}
loads = [sum(rec[(s["class"], s["name"])]
             for s in json.load(open("%s/d%d/results.json" % (w, k)))["scenarios"])
         for k in (1, 2, 3)]
bound = sum(rec.values()) / 3 + max(rec.values())
print("recorded seconds per shard:", ["%.2f" % x for x in loads], "bound %.2f" % bound)
assert max(loads) <= bound + 1e-6, loads
PY
"$mxlab" run --shard 1/3 --durations "$work/all" --report "$work/d1-dir" \
    "${suite[@]}" >/dev/null 2>&1
cmp -s <(grep -o '^{"name":"[^"]*"' "$work/d1/results.json") \
    <(grep -o '^{"name":"[^"]*"' "$work/d1-dir/results.json") ||
    fail "--durations DIR and DIR/results.json split differently"
mxrun 1 merge --report "$work/merged-d" "$work/d3" "$work/d1" "$work/d2"
list "$work/merged-d" | diff -u "$work/all.list" - >&2 ||
    fail "the merged balanced shards differ from the unsplit run"

# What cannot be merged, and bad usage.
mxrun 2 merge --report "$work/m2" "$work/s1" "$work/s2"
grep -q "^mxlab merge: shard 3/3 is missing" <<<"$out" || fail "a missing shard not named"
mxrun 2 merge --report "$work/m3" "$work/s1" "$work/s1" "$work/s2" "$work/s3"
grep -q "^mxlab merge: shard 1/3 given twice" <<<"$out" || fail "a repeated shard not named"
mxrun 2 run --shard 4/3 --report "$work/bad" "$src/scenarios/seeds"
grep -q "^mxlab run: --shard 4/3: K/N expected" <<<"$out" || fail "--shard 4/3 accepted"
mxrun 2 run --durations "$work/all" --report "$work/bad" "$src/scenarios/seeds"
mxrun 2 run --shard 1/2 --durations "$work/nothing" --report "$work/bad" \
    "$src/scenarios/seeds"
# The CI examples: valid YAML, a parallel: / matrix job running its
# shard and a job merging them, with options mxlab accepts.
/usr/bin/python3 - "$src/ci/examples" <<'PY' || fail "ci/examples"
import sys, yaml
d = sys.argv[1]
gl = yaml.safe_load(open(d + "/gitlab-ci.yml"))
par = [j for j in gl.values() if isinstance(j, dict) and "parallel" in j]
assert par and any('mxlab run --shard "$CI_NODE_INDEX/$CI_NODE_TOTAL"' in l
                   for l in par[0]["script"]), "gitlab: no parallel shard job"
assert any("mxlab merge" in l for j in gl.values() if isinstance(j, dict)
           for l in j.get("script", [])), "gitlab: no merge job"
gh = yaml.safe_load(open(d + "/github-actions.yml"))["jobs"]
n = len(gh["shard"]["strategy"]["matrix"]["shard"])
runs = [s.get("run", "") for j in gh.values() for s in j["steps"]]
assert any("--shard ${{ matrix.shard }}/%d" % n in r for r in runs), "github: shard"
assert any("mxlab merge" in r for r in runs), "github: no merge"
PY
"$mxlab" run --help | grep -q -- "--shard K/N" || fail "run --help: no --shard"
"$mxlab" run --help | grep -q -- "--durations REPORT" || fail "run --help: no --durations"
echo "shard.sh: ok"
