#!/bin/bash
# lab.sh BIN_DIR SOURCE_DIR — "mxlab check SCENARIO" on the lab SUTs:
#  - every seed scenario on the reference relay exits 0 (no finding);
#  - --sut postfix on seed 000-ovh-relay reports Postfix 3.7's default
#    smuggling weakness (the <LF>.<LF> family split, exit 1), and none
#    with smtpd_forbid_bare_newline = yes (exit 0).
# Postfix needs root; without it that part is skipped. Bounded: each
# check has its own --timeout and the whole test a CTest TIMEOUT.
set -u
bin=$1 src=$2
work=$(mktemp -d /tmp/mxlab-check-lab.XXXXXX)
trap 'rm -rf "$work"' EXIT
fails=0
fail() { echo "lab.sh: FAIL $*" >&2; fails=$((fails + 1)); }

for scn in "$src"/scenarios/seeds/*.scn; do
    name=$(basename "$scn" .scn)
    "$bin/mxlab" check --timeout 10 --report "$work/$name" "$scn" \
        >"$work/$name.txt" 2>&1
    rc=$?
    tail -n 1 "$work/$name.txt"
    if [ $rc -ne 0 ]; then
        grep -A1 '^WEAK' "$work/$name.txt"
        fail "relay on $name: exit $rc"
    fi
done

if [ "$(id -u)" -eq 0 ]; then
    out=$("$bin/mxlab" check --sut postfix --battery smuggling --timeout 10 \
        --report "$work/pf" "$src/scenarios/seeds/000-ovh-relay.scn" 2>&1)
    rc=$?
    echo "$out" | grep -E '^(WEAK|ok)' | cut -c1-120
    [ $rc -eq 1 ] || fail "postfix default: exit $rc, expected 1"
    grep -qE '^WEAK smuggling +lf-dot-lf +split' <<<"$out" ||
        fail "postfix default: \\n.\\n not reported split"
    out=$("$bin/mxlab" check --sut postfix --battery smuggling --timeout 10 \
        --report "$work/pf-nobare" \
        "$src/harness/tests/check/ovh-forbid-bare-newline.scn" 2>&1)
    rc=$?
    echo "$out" | tail -n 1
    [ $rc -eq 0 ] || fail "postfix smtpd_forbid_bare_newline = yes: exit $rc"
else
    echo "lab.sh: not root, Postfix part skipped"
fi
[ $fails -eq 0 ] || exit 1
echo "lab.sh: ok"
