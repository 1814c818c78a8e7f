#!/bin/bash
# progress.sh MXLAB SOURCE_DIR WORK — what "mxlab run" shows while it
# runs. On a terminal (script(1) gives it one): a live line with the
# counts, the time and the current scenario with its place on its
# simulated clock ("1/2 passed 1 failed 0 — 2.4 s — current: progress
# (2 d of simulated 5 d)"), redrawn in place, finished scenarios above
# it. Elsewhere: plain lines, no control characters. --quiet: failures
# and the totals only; --verbose: each scenario's steps and the failing
# one's transcript.
set -u
mxlab=$1 src=$2 work=$3 me=progress.sh
. "$(dirname "$0")/lib.sh"
need script util-linux
fresh
ok=$src/scenarios/seeds/000-ovh-relay.scn
slow=$src/harness/tests/slow/progress.scn
args=(run --jobs 1 --clean --report "$work/r" "$ok" "$slow")
esc=$'\033'

# A terminal.
TERM=xterm script -qec "$(printf '%q ' "$mxlab" "${args[@]}")" /dev/null \
    >"$work/tty.out" 2>&1 </dev/null
tr '\r' '\n' <"$work/tty.out" >"$work/tty.lines"
grep -q "1/2 passed 1 failed 0 — [0-9.]* s — current: progress (2 d of simulated 5 d)" \
    "$work/tty.lines" || fail "no live line with the simulated clock: $(tail -5 "$work/tty.lines")"
grep -q "^${esc}\[K0/2 passed 0 failed 0 — " "$work/tty.lines" ||
    fail "the live line is not redrawn in place"
grep -q "PASS  000-ovh-relay  [0-9.]*s  \[1/2\]" "$work/tty.lines" ||
    fail "no line for the finished scenario"
grep -q "^2 passed\|^1 passed, 1 failed, 0 skipped" "$work/tty.lines" ||
    fail "no totals on the terminal"

# Not a terminal: plain lines.
mxrun 1 "${args[@]}"
grep -q "$esc\|"$'\r' <<<"$out" && fail "control characters in plain output"
grep -q "^PASS  000-ovh-relay  [0-9.]*s  \[1/2\]$" <<<"$out" || fail "plain: no PASS line"
grep -q "^FAIL  progress  [0-9.]*s  \[2/2\]  .*progress.scn:19: " <<<"$out" ||
    fail "plain: no FAIL line with the message"
grep -q "^1 passed, 1 failed, 0 skipped$" <<<"$out" || fail "plain: no totals"

mxrun 1 "${args[@]}" --quiet
grep -q "^PASS" <<<"$out" && fail "--quiet shows a passed scenario"
grep -q "^FAIL  progress" <<<"$out" || fail "--quiet hides the failure"
grep -q "^1 passed, 1 failed, 0 skipped$" <<<"$out" || fail "--quiet: no totals"
[ "$(grep -c . <<<"$out")" -le 4 ] || fail "--quiet says too much"

mxrun 1 "${args[@]}" --verbose
grep -q "^      line 16  time-passes  [0-9]* ms$" <<<"$out" || fail "--verbose: no steps"
grep -q "^      line 18  expect  [0-9]* ms  failed$" <<<"$out" ||
    fail "--verbose: the failed step not marked"
grep -q "^!! .*progress.scn:19: " <<<"$out" || fail "--verbose: no transcript of the failure"
echo "progress.sh: ok"
