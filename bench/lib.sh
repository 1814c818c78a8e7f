# bench/lib.sh — what the shell benchmarks and tests share (POSIX sh, to
# be sourced): a free loopback port, a bounded wait for a listener, and a
# private Postfix 3.7 configuration (own config, queue and data
# directories, log file, one smtpd on a loopback port), as
# docs/POSTFIX-ORACLE.md describes.

# lib_port: a free TCP port on 127.0.0.1.
lib_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# lib_wait_port PORT: return once 127.0.0.1:PORT accepts (10 s at most).
lib_wait_port() {
    i=0
    until python3 -c "import socket; socket.create_connection(('127.0.0.1',$1),1)" 2>/dev/null; do
        i=$((i + 1))
        [ $i -gt 200 ] && { echo "nothing listens on port $1" >&2; return 1; }
        sleep 0.05
    done
}

# lib_postfix_conf DIR PORT RELAYHOST: a private Postfix in DIR (config in
# DIR/pf, queue DIR/pfq, data DIR/pfdata, log DIR/pf.maillog) relaying
# everything from 127.0.0.0/8 to RELAYHOST, smtpd on 127.0.0.1:PORT.
# Start it with "postfix -c DIR/pf start" (root).
lib_postfix_conf() {
    mkdir -p "$1/pf" "$1/pfq" "$1/pfdata"
    chown postfix "$1/pfdata"
    cat >"$1/pf/main.cf" <<CF
compatibility_level = 3.6
myhostname = pf.bench.test
mydestination =
mynetworks = 127.0.0.0/8
relayhost = $3
queue_directory = $1/pfq
data_directory = $1/pfdata
maillog_file = $1/pf.maillog
maillog_file_prefixes = /var, /tmp
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
CF
    awk '/^smtp +inet/ { next } /^[a-z]/ && NF >= 8 { $5 = "n" } { print }' \
        /etc/postfix/master.cf.proto >"$1/pf/master.cf"
    echo "127.0.0.1:$2 inet n - n - - smtpd" >>"$1/pf/master.cf"
}
