#!/usr/bin/env python3
"""relay/tests/policy_conn.py — check_policy_service's connection
management (smtpd_policy_service_request_limit, _max_idle, _timeout),
judged by a small policy server of its own that counts connections and
requests and records the attributes it was sent (it shares no code with
the relay).

Three services ask it: one with the defaults (one connection kept for
every request), one with request_limit = 1 (a connection per request),
one with max_idle = 1s (the idle connection is closed once a second has
passed: the server sees the EOF); and a server that never answers gives
the default action after timeout = 1s and try_limit = 1.

usage: policy_conn.py BIN_DIR
"""
import socket
import threading

import extlab
from extlab import Client, free_port

L = extlab.Lab("policy-conn")
lock = threading.Lock()
stats = {"conns": 0, "closed": 0, "requests": []}


def serve_one(conn, silent):
    f = conn.makefile("rb")
    attrs = {}
    while True:
        line = f.readline()
        if not line:
            break
        line = line.decode().rstrip("\n")
        if line:
            k, _, v = line.partition("=")
            attrs[k] = v
            continue
        with lock:
            stats["requests"].append(attrs)
        attrs = {}
        if not silent:
            conn.sendall(b"action=DUNNO\n\n")
    with lock:
        stats["closed"] += 1
    conn.close()


def server(sock, silent):
    while True:
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        with lock:
            stats["conns"] += 1
        threading.Thread(target=serve_one, args=(conn, silent),
                         daemon=True).start()


def listen(silent):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    threading.Thread(target=server, args=(s, silent), daemon=True).start()
    return s, s.getsockname()[1]


srv, pport = listen(False)
mute, mport = listen(True)
sink = L.fakemx()
p1, p2, p3, p4 = (free_port() for _ in range(4))
main_cf = L.mx_main_cf(sink, "inet:127.0.0.1:%d" % pport)
master_cf = """\
127.0.0.1:{p1} inet n - n - - smtpd
127.0.0.1:{p2} inet n - n - - smtpd -o smtpd_policy_service_request_limit=1
127.0.0.1:{p3} inet n - n - - smtpd -o smtpd_policy_service_max_idle=1s
127.0.0.1:{p4} inet n - n - - smtpd -o smtpd_policy_service_timeout=1s \
-o smtpd_policy_service_try_limit=1 -o {{ smtpd_recipient_restrictions = \
check_policy_service inet:127.0.0.1:{m} }}
""".format(p1=p1, p2=p2, p3=p3, p4=p4, m=mport)
relay = L.relay(main_cf, master_cf, [p1, p2, p3, p4])


def rcpts(port, n, want="250 "):
    c = Client(L, port, "127.0.0.40")
    c.reply()
    c.cmd("EHLO client.example", "250 ")
    c.cmd("MAIL FROM:<a@outside.example>", "250 ")
    for i in range(n):
        c.cmd("RCPT TO:<m%d@minet.net>" % i, want)
    c.cmd("QUIT", "221 ")
    c.close()


def snapshot():
    with lock:
        return stats["conns"], stats["closed"], len(stats["requests"])


base = snapshot()[0]
rcpts(p1, 3)
if snapshot()[0] - base != 1:
    L.fail("defaults: %d connections for 3 requests" % (snapshot()[0] - base))
base = snapshot()[0]
rcpts(p2, 3)
if snapshot()[0] - base != 3:
    L.fail("request_limit=1: %d connections for 3 requests"
           % (snapshot()[0] - base))
closed = snapshot()[1]
rcpts(p3, 1)
L.wait_for("max_idle closing the idle connection",
           lambda: snapshot()[1] > closed)
rcpts(p4, 1, "451 4.3.5 <m0@minet.net>: Recipient address rejected: "
      "Server configuration problem")
with lock:
    first = stats["requests"][0]
for k, v in (("request", "smtpd_access_policy"), ("protocol_state", "RCPT"),
             ("protocol_name", "ESMTP"), ("helo_name", "client.example"),
             ("sender", "a@outside.example"), ("recipient", "m0@minet.net"),
             ("client_address", "127.0.0.40"), ("recipient_count", "0"),
             ("server_address", "127.0.0.1"), ("server_port", str(p1))):
    if first.get(k) != v:
        L.fail("attribute %s=%r, expected %r" % (k, first.get(k), v))
with lock:
    instances = {r["instance"] for r in stats["requests"][:3]}
if len(instances) != 1 or "" in instances:
    L.fail("one message, instances %r" % instances)
if "warning: problem talking to server 127.0.0.1:%d: timeout" % mport \
        not in L.maillog():
    L.fail("no timeout warning in the maillog")
srv.close()
mute.close()
L.finish()
