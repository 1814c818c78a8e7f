# lib.sh — sourced by the harness's shell tests. They set $mxlab (the
# binary) and $me (their name, for messages) first.

# fail MESSAGE: the test fails with MESSAGE.
fail() {
    echo "$me: $*" >&2
    exit 1
}

# mxrun WANT ARGS...: "$mxlab ARGS" with stdout and stderr in $out (also
# printed); the test fails unless it exits WANT.
mxrun() {
    want=$1
    shift
    out=$("$mxlab" "$@" 2>&1)
    rc=$?
    echo "$out"
    [ "$rc" -eq "$want" ] || fail "mxlab $*: exit $rc, expected $want"
}

# need COMMAND WHY: the test is skipped (exit 77) without COMMAND.
need() {
    command -v "$1" >/dev/null || { echo "$me: $1 not installed ($2): skipped"; exit 77; }
}

# fresh: an empty $work.
fresh() {
    rm -rf "$work"
    mkdir -p "$work"
}
