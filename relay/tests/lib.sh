# lib.sh — sourced by the relay's shell tests: a work directory that the
# relay's mail_owner can reach (mode 755: started as root, the relay
# serves as that user), removed at exit with any relay started on it
# stopped; free ports; a main.cf for the lab; failure with the test's name.
# test_setup NAME MXLAB_RELAY sets $name, $relay and $dir.
test_setup() {
    name=$1
    relay=$2
    dir=$(mktemp -d)
    chmod 755 "$dir"
    trap test_cleanup EXIT
}
test_cleanup() {
    "$relay" -c "$dir" stop >/dev/null 2>&1
    rm -rf "$dir"
}
fail() { echo "$name: $*" >&2; exit 1; }
# A port the kernel has free now (a random pick could be in use).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# main.cf: the queue and log in $dir, no real DNS, then the lines given.
test_main_cf() {
    {
        echo "compatibility_level = 3.6"
        echo "queue_directory = $dir/queue"
        echo "maillog_file = $dir/maillog"
        echo "mxlab_dns_servers = 127.0.0.1:9"
        printf '%s\n' "$@"
    } >"$dir/main.cf"
}
