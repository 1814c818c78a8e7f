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
