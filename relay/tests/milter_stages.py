#!/usr/bin/env python3
"""relay/tests/milter_stages.py — smtpd_milters command by command: a
milter's refusal at CONNECT, HELO, MAIL or RCPT answers that command (at
RCPT only that recipient is refused), and a milter that does not answer
holds only its own session.

The milter is a small one of its own, speaking libmilter's wire format
(4-byte length, command byte, data) and sharing no code with the relay.
It decides by the client's address, which CONNECT tells it:

    127.0.0.11  REJECT at CONNECT        127.0.0.14  REJECT RCPT bad@
    127.0.0.12  TEMPFAIL at HELO         127.0.0.15  CONNECT held until
    127.0.0.13  REJECT at MAIL                       released
    127.0.0.17  never answers CONNECT (milter_command_timeout = 1s)

The replies and log lines expected here were taken from Postfix 3.7.11
with the same milter and configuration (MXLAB_SUT=postfix runs this
script against a private Postfix instead of the relay; root only).

usage: milter_stages.py BIN_DIR
"""
import os
import re
import select
import shutil
import socket
import struct
import subprocess
import threading

import extlab
from extlab import Client, free_port

SUT = os.environ.get("MXLAB_SUT", "relay")
L = extlab.Lab("milter-stages")
release = threading.Event()  # 127.0.0.15's CONNECT is answered
held = threading.Event()  # 127.0.0.15's CONNECT has come


def packet(cmd, data=b""):
    return struct.pack(">I", len(data) + 1) + cmd + data


def serve(conn):
    f = conn.makefile("rb")
    client = ""
    while True:
        head = f.read(5)
        if len(head) < 5:
            break
        n, cmd = struct.unpack(">I", head[:4])[0], head[4:5]
        data = f.read(n - 1)
        reply = b"c"
        if cmd == b"O":
            conn.sendall(packet(b"O", struct.pack(">III", 6, 0, 0)))
            continue
        if cmd in (b"D", b"A"):
            continue  # macros, abort: no reply
        if cmd == b"Q":
            break
        if cmd == b"C":
            # hostname NUL, family, port (2 bytes), address NUL
            rest = data[data.index(b"\0") + 1:]
            client = rest[3:rest.index(b"\0", 3)].decode()
            if client == "127.0.0.15":
                held.set()
                release.wait(60)
            elif client == "127.0.0.17":
                continue  # never answered
        decide = {("127.0.0.11", b"C"): b"r", ("127.0.0.12", b"H"): b"t",
                  ("127.0.0.13", b"M"): b"r"}
        reply = decide.get((client, cmd), reply)
        if client == "127.0.0.14" and cmd == b"R" and b"<bad@" in data:
            reply = b"r"
        conn.sendall(packet(reply))
    conn.close()


def milter_server():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)

    def loop():
        while True:
            try:
                conn, _ = s.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()
    return s.getsockname()[1]


def start_postfix(main_cf, master_cf):
    """A private Postfix 3.7 (see /work/shared/POSTFIX-ORACLE.md)."""
    d = L.path("postfix")
    os.makedirs(d)
    for sub in ("data", "queue"):
        os.makedirs(os.path.join(d, sub))
    shutil.chown(os.path.join(d, "data"), "postfix")
    proto = open("/etc/postfix/master.cf.proto").read()
    lines = []
    for ln in proto.splitlines():
        f = ln.split()
        if len(f) >= 8 and not ln.startswith((" ", "#")):
            if f[0] == "smtp" and f[1] == "inet":
                continue
            f[4] = "n"
            ln = " ".join(f)
        lines.append(ln)
    L.write("postfix/master.cf", "\n".join(lines) + "\n" + master_cf)
    L.write("postfix/main.cf", main_cf.replace(L.work + "/queue",
                                               d + "/queue") +
            "data_directory = %s/data\ninet_protocols = ipv4\n"
            "maillog_file_prefixes = /var, /tmp\n"
            "inet_interfaces = loopback-only\n" % d)
    for root, dirs, _ in os.walk(L.work):
        for x in dirs + [""]:
            os.chmod(os.path.join(root, x), 0o755)
    subprocess.run(["script", "-qc", "postfix -c %s start" % d, "/dev/null"],
                   check=True)
    L.procs.append(PostfixStop(d))


class PostfixStop:
    def __init__(self, d):
        self.d = d

    def poll(self):
        return None

    def terminate(self):
        subprocess.run(["postfix", "-c", self.d, "stop"])

    def wait(self, t=None):
        return 0

    def kill(self):
        pass


mport = milter_server()
sink = L.fakemx()
p1, p2 = free_port(), free_port()
main_cf = ("myhostname = smtp.minet.net\nmydestination =\n"
           "mynetworks = 127.0.0.0/8\ncompatibility_level = 3.6\n"
           "relayhost = [127.0.0.1]:%d\nqueue_directory = %s/queue\n"
           "maillog_file = %s/maillog\nsmtpd_milters = inet:127.0.0.1:%d\n"
           % (sink, L.work, L.work, mport))
master_cf = ("127.0.0.1:%d inet n - n - - smtpd\n"
             "127.0.0.1:%d inet n - n - - smtpd "
             "-o milter_command_timeout=1s\n" % (p1, p2))
if SUT == "postfix":
    start_postfix(main_cf, master_cf)
    for p in (p1, p2):
        L.wait_port(p, L.procs[-1])
else:
    L.relay(main_cf, master_cf, [p1, p2])


def session(src, port=p1, greeting="220 "):
    c = Client(L, port, src)
    r = c.reply()
    if not r or not r[-1].startswith(greeting):
        L.fail("%s: greeting %r, expected %r" % (src, r, greeting))
    return c


def logged(pattern):
    L.wait_for("the log line %r" % pattern,
               lambda: re.search(pattern, L.maillog(), re.M))


# RCPT: only the recipient the milter refuses; the message goes on.
c = session("127.0.0.14")
c.cmd("EHLO client.example", "250 ")
c.cmd("MAIL FROM:<a@example.com>", "250 ")
c.cmd("RCPT TO:<good@example.org>", "250 ")
c.cmd("RCPT TO:<bad@example.org>", "550 5.7.1 Command rejected")
c.cmd("RCPT TO:<good2@example.org>", "250 ")
c.cmd("DATA", "354 ")
c.send("Subject: stages\r\n\r\nhello\r\n.")
c.reply()
c.cmd("QUIT", "221 ")
logged(r"\w+: milter-reject: RCPT from \S+\[127\.0\.0\.14\]: 550 5\.7\.1 "
       r"Command rejected; from=<a@example\.com> to=<bad@example\.org> "
       r"proto=ESMTP helo=<client\.example>$")
L.wait_for("the message at the sink", lambda: b"good2@" in L.delivered())
if b"bad@" in L.delivered():
    L.fail("the refused recipient was delivered: %r" % L.delivered())

# MAIL: refused, and again after RSET.
c = session("127.0.0.13")
c.cmd("EHLO client.example", "250 ")
c.cmd("MAIL FROM:<a@example.com>", "550 5.7.1 Command rejected")
c.cmd("RSET", "250 ")
c.cmd("MAIL FROM:<a@example.com>", "550 5.7.1 Command rejected")
c.cmd("QUIT", "221 ")
logged(r"NOQUEUE: milter-reject: MAIL from \S+\[127\.0\.0\.13\]: 550 5\.7\.1 "
       r"Command rejected; from=<a@example\.com> proto=ESMTP "
       r"helo=<client\.example>$")

# CONNECT: Postfix's 554 greeting; EHLO is answered, MAIL refused.
c = session("127.0.0.11",
            greeting="554 smtp.minet.net ESMTP not accepting connections")
c.cmd("EHLO client.example", "250 ")
c.cmd("MAIL FROM:<a@example.com>", "550 5.7.1 Command rejected")
c.cmd("QUIT", "221 ")
logged(r"NOQUEUE: milter-reject: CONNECT from \S+\[127\.0\.0\.11\]: 550 "
       r"5\.7\.1 Command rejected; proto=SMTP$")

# HELO: TEMPFAIL is logged; EHLO answered, MAIL refused with it.
c = session("127.0.0.12")
c.cmd("EHLO client.example", "250 ")
c.cmd("MAIL FROM:<a@example.com>",
      "451 4.7.1 Service unavailable - try again later")
c.cmd("QUIT", "221 ")
logged(r"NOQUEUE: milter-reject: EHLO from \S+\[127\.0\.0\.12\]: 451 4\.7\.1 "
       r"Service unavailable - try again later; proto=SMTP "
       r"helo=<client\.example>$")

# A milter that holds one session's CONNECT: another session is served
# meanwhile, then the first gets its greeting once the milter answers.
a = Client(L, p1, "127.0.0.15")
L.wait_for("the milter holding 127.0.0.15", held.is_set)
b = session("127.0.0.16")
b.cmd("EHLO client.example", "250 ")
b.cmd("QUIT", "221 ")
if select.select([a.sock], [], [], 0)[0]:
    L.fail("127.0.0.15 was greeted before its milter answered")
release.set()
if not a.reply()[-1].startswith("220 "):
    L.fail("127.0.0.15: no greeting once the milter answered")
a.cmd("QUIT", "221 ")

# milter_command_timeout: milter_default_action (tempfail) from then on.
c = session("127.0.0.17", port=p2)
c.cmd("EHLO client.example", "250 ")
c.cmd("MAIL FROM:<a@example.com>",
      "451 4.7.1 Service unavailable - try again later")
c.cmd("QUIT", "221 ")
logged(r"warning: milter inet:127\.0\.0\.1:%d: can't read SMFIC_CONNECT "
       r"reply packet header: Connection timed out$" % mport)
L.finish()
