#!/bin/sh
# cli-test.sh PROGRAM NAME VERSION [SUBCOMMAND...] — what every mxlab
# program does on its command line: --help and -h print its usage on
# stdout and exit 0, --version prints "NAME VERSION", and a bad option
# exits 2 with an error that starts with the program's own name ("NAME:",
# or "NAME SUBCOMMAND:" for a subcommand). The same for each subcommand.
set -u
prog=$1 name=$2 version=$3
shift 3
fail() { echo "cli-test.sh: $*" >&2; exit 1; }
err=$(mktemp)
trap 'rm -f "$err"' EXIT

# check LABEL ARGS...: help, -h and a bad option for "prog ARGS".
check() {
    label=$1
    shift
    for h in --help -h; do
        "$prog" "$@" $h >"$err" 2>/dev/null || fail "$label $h: exit $?"
        grep -q usage "$err" || fail "$label $h: no usage on stdout"
    done
    "$prog" "$@" --no-such-option >/dev/null 2>"$err"
    rc=$?
    [ "$rc" -eq 2 ] || fail "$label --no-such-option: exit $rc, expected 2"
    head -n 1 "$err" | grep -q "^$label: " ||
        fail "$label --no-such-option: error not prefixed with \"$label: \": $(head -n 1 "$err")"
}

check "$name"
[ "$("$prog" --version)" = "$name $version" ] || fail "--version"
for sub in "$@"; do
    check "$name $sub" "$sub"
done
echo "cli-test.sh: $name ok"
