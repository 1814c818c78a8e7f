#!/bin/bash
# html.sh MXLAB SOURCE_DIR WORK — index.html of "mxlab run" in headless
# Chromium (Debian's chromium, from ci/bootstrap), every host name made
# unresolvable so the page must stand alone: the page loads, its own check
# (#selfcheck) finds every scenario's section and drawn timeline, each
# scenario of results.json has its section, timeline and steps, the one
# with [time passes] its queue plot, the failing one its message and a
# link to its kept work files; a screenshot is written to WORK/index.png.
# mxlab diff's report shows what it compared.
# Exit 77 (skip) without chromium.
set -u
mxlab=$1 src=$2 work=$3 me=html.sh
. "$(dirname "$0")/lib.sh"
need chromium ci/bootstrap
fresh
r=$work/report
mxrun 1 run --report "$r" "$src/scenarios/seeds" \
    "$src/scenarios/relay-tests/bounce.scn" \
    "$src/harness/tests/scenarios/wrong-reply.scn"
[ -f "$r/index.html" ] || fail "no index.html"
page=file://$r/index.html
chrome=(timeout 60 chromium --headless=new --no-sandbox --disable-gpu
    --host-resolver-rules="MAP * ~NOTFOUND" --window-size=1200,2400
    --user-data-dir="$work/profile")
"${chrome[@]}" --dump-dom "$page" >"$work/dom.html" 2>"$work/chromium.log" ||
    fail "chromium --dump-dom failed: $(tail -3 "$work/chromium.log")"
n=$(grep -c '^{"name":' "$r/results.json")
[ "$n" -ge 12 ] || fail "results.json lists $n scenarios"
grep -q "<p id=\"selfcheck\">ok: $n scenarios</p>" "$work/dom.html" ||
    fail "the page's check: $(grep -o '<p id="selfcheck">[^<]*' "$work/dom.html")"
# Each scenario of results.json: its section, timeline and step table.
sed -n 's/^{"name":"\([^"]*\)","class":"\([^"]*\)".*/\2-\1/p' "$r/results.json" |
    while read -r id; do
        grep -q "<section class=\"scenario\" id=\"s-$id\"" "$work/dom.html" ||
            fail "no section for $id"
        grep -q "<svg class=\"timeline\" id=\"tl-s-$id\"" "$work/dom.html" ||
            fail "no timeline for $id"
    done || exit 1
[ "$(grep -c '<table class="steps">' "$work/dom.html")" -eq "$n" ] ||
    fail "not one step table per scenario"
grep -q '<svg class="queue" id="q-s-relay-tests-bounce" data-points="[1-9]' \
    "$work/dom.html" || fail "no queue plot for bounce ([time passes])"
grep -q 'class="mx-4xx"' "$work/dom.html" || fail "no refused (retried) session drawn"
grep -q '<circle class="msg"' "$work/dom.html" || fail "no delivery drawn"
grep -q 'id="s-scenarios-wrong-reply" data-status="failed"' "$work/dom.html" ||
    fail "the failing scenario is not marked failed"
grep -q 'wrong-reply.scn:20: expected' "$work/dom.html" || fail "no failure message"
grep -q '<a class="workdir" href="work/scenarios-wrong-reply/">' "$work/dom.html" ||
    fail "no link to the failing scenario's work files"
[ -f "$r/work/scenarios-wrong-reply/maillog" ] || fail "the linked work files are not there"
grep -q '<summary>maillog</summary>' "$work/dom.html" || fail "no maillog excerpt"
"${chrome[@]}" --screenshot="$work/index.png" "$page" >>"$work/chromium.log" 2>&1 ||
    fail "chromium --screenshot failed"
[ "$(head -c 8 "$work/index.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
    fail "$work/index.png is not a PNG"
[ "$(stat -c %s "$work/index.png")" -gt 20000 ] || fail "$work/index.png is nearly empty"

# mxlab diff's findings in the relay's report (root and Postfix needed).
if [ "$(id -u)" -eq 0 ] && [ -x /usr/sbin/postfix ]; then
    mxrun 0 diff --report "$work/diff" "$src/scenarios/seeds/000-ovh-relay.scn"
    "${chrome[@]}" --dump-dom "file://$work/diff/relay/index.html" \
        >"$work/diff-dom.html" 2>>"$work/chromium.log" || fail "chromium: the diff report"
    grep -q '<details class="diff" open=""><summary>mxlab diff: relay vs postfix</summary><pre>SAME  000-ovh-relay' \
        "$work/diff-dom.html" || fail "no diff in the relay's index.html"
else
    echo "html.sh: not root or no Postfix: mxlab diff's part not checked"
fi
echo "html.sh: ok, screenshot $work/index.png"
