#!/usr/bin/env python3
"""relay/tests/policy_postgrey.py — check_policy_service with a real
postgrey (issue 17; seed 003's MX role used it for greylisting).

Starts two private postgrey daemons (Debian postgrey): one on a loopback
inet port, one on a unix socket, each with its own dbdir, empty
whitelists and --delay=2, so that greylisting takes seconds. Then
mxlab-relay as seed 003's MX (relay_domains = minet.net). Checks what
Postfix 3.7 answers and logs with the same postgrey: the first try is
"450 4.2.0 <rcpt>: Recipient address rejected: Greylisted, see
http://postgrey.schweikert.ch/help/minet.net.html", a retry before the
delay is refused again, one after it is accepted (retried every half
second, bounded) and the message arrives with postgrey's X-Greylist
header before the Received line; a policy server that cannot be reached
gives smtpd_policy_service_default_action ("451 4.3.5 ... Server
configuration problem") after smtpd_policy_service_try_limit tries, with
Postfix's warnings; smtpd_policy_service_default_action = DUNNO lets the
mail through.

usage: policy_postgrey.py BIN_DIR          (exit 77: postgrey not installed)
"""
import os
import time

import extlab
from extlab import Client, free_port

extlab.need("/usr/sbin/postgrey", "postgrey")
L = extlab.Lab("policy-postgrey")
DELAY = 2


def postgrey(listen, name):
    os.makedirs(L.path(name, "db"))
    wl = L.write(name + "/whitelist", "")
    return L.start(["/usr/sbin/postgrey", listen,
                    "--dbdir=" + L.path(name, "db"), "--delay=%d" % DELAY,
                    "--user=root", "--group=root",
                    "--pidfile=" + L.path(name, "pid"),
                    "--whitelist-clients=" + wl,
                    "--whitelist-recipients=" + wl,
                    "--hostname=mx1.minet.net"], name + ".log")


pg_port, dead_port = free_port(), free_port()
pg = postgrey("--inet=127.0.0.1:%d" % pg_port, "postgrey-inet")
L.wait_port(pg_port, pg)
sock = L.path("postgrey-unix", "socket")
os.makedirs(L.path("postgrey-unix"))
pgu = postgrey("--unix=" + sock, "postgrey-unix")
L.wait_for("postgrey's unix socket", lambda: os.path.exists(sock))

sink = L.fakemx()
p25, punix, pdead, pdunno = (free_port() for _ in range(4))
main_cf = L.mx_main_cf(sink, "inet:127.0.0.1:%d" % pg_port)
dead = ("-o { smtpd_recipient_restrictions = reject_unauth_destination, "
        "check_policy_service inet:127.0.0.1:%d }" % dead_port)
master_cf = """\
127.0.0.1:{p25} inet n - n - - smtpd
127.0.0.1:{punix} inet n - n - - smtpd -o {{ smtpd_recipient_restrictions = \
reject_unauth_destination, check_policy_service unix:{sock} }}
127.0.0.1:{pdead} inet n - n - - smtpd {dead}
127.0.0.1:{pdunno} inet n - n - - smtpd {dead} \
-o smtpd_policy_service_default_action=DUNNO
""".format(p25=p25, punix=punix, pdead=pdead, pdunno=pdunno, sock=sock,
           dead=dead)
relay = L.relay(main_cf, master_cf, [p25, punix, pdead, pdunno])

GREY = ("450 4.2.0 <%s>: Recipient address rejected: Greylisted, see "
        "http://postgrey.schweikert.ch/help/minet.net.html")


def attempt(port, src, sender, rcpt):
    """One session up to RCPT; returns the RCPT reply line and the open
    client (after a 250 the caller sends the message)."""
    c = Client(L, port, src)
    c.reply()
    c.cmd("EHLO mail.outside.example", "250 ")
    c.cmd("MAIL FROM:<%s>" % sender, "250 ")
    c.send("RCPT TO:<%s>" % rcpt)
    r = c.reply()
    return (r[-1] if r else ""), c


def greylisted_then_accepted(port, src, sender, rcpt):
    first = time.monotonic()
    line, c = attempt(port, src, sender, rcpt)
    if line != GREY % rcpt:
        L.fail("first try: %r" % line)
    c.cmd("QUIT", "221 ")
    c.close()
    while True:  # bounded by the lab's deadline (L.fail)
        line, c = attempt(port, src, sender, rcpt)
        if line.startswith("250 "):
            break
        if line != GREY % rcpt:
            L.fail("retry: %r" % line)
        c.cmd("QUIT", "221 ")
        c.close()
        if time.monotonic() > L.deadline:
            L.fail("never accepted after greylisting")
        time.sleep(0.5)  # a client's retry interval, not a synchronisation
    waited = time.monotonic() - first
    if waited < DELAY - 1:  # postgrey counts whole seconds
        L.fail("accepted after %.1fs, before the %ds delay" % (waited, DELAY))
    c.cmd("DATA", "354 ")
    c.send("Subject: greylisted %s\r\n\r\nbonjour\r\n." % src)
    c.cmd("QUIT", "250 2.0.0 Ok: queued as")
    c.close()


greylisted_then_accepted(p25, "127.0.0.20", "a@outside.example",
                         "membre@minet.net")
greylisted_then_accepted(punix, "127.0.0.21", "b@outside.example",
                         "membre@minet.net")

# Not reachable: the default action after try_limit (2) tries.
line, c = attempt(pdead, "127.0.0.22", "c@outside.example", "membre@minet.net")
if line != ("451 4.3.5 <membre@minet.net>: Recipient address rejected: "
            "Server configuration problem"):
    L.fail("dead policy server: %r" % line)
c.close()
line, c = attempt(pdunno, "127.0.0.23", "d@outside.example", "membre@minet.net")
if not line.startswith("250 "):
    L.fail("default_action DUNNO: %r" % line)
c.close()

L.wait_for("two greylisted messages at fakemx",
           lambda: L.delivered().count(b"X-Greylist: delayed") >= 2)
d = L.delivered().decode("utf-8", "replace")
if "X-Greylist: delayed" not in d.split("Received: from")[0]:
    L.fail("X-Greylist is not above the Received header")
log = L.maillog()
for want in ["NOQUEUE: reject: RCPT from unknown[127.0.0.20]: " +
             GREY % "membre@minet.net" +
             "; from=<a@outside.example> to=<membre@minet.net> proto=ESMTP "
             "helo=<mail.outside.example>",
             "warning: connect to 127.0.0.1:%d: Connection refused"
             % dead_port,
             "warning: problem talking to server 127.0.0.1:%d: Connection "
             "refused" % dead_port]:
    if want not in log:
        L.fail("maillog lacks %r" % want)
# try_limit = 2: two tries for the refused one, two for the DUNNO one.
n = log.count("warning: problem talking to server 127.0.0.1:%d" % dead_port)
if n != 4:
    L.fail("%d tries logged, not 2 per request" % n)
L.finish()
