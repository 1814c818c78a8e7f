#!/usr/bin/env python3
"""relay/tests/lmtp_unix.py — LMTP delivery over a UNIX socket
(transport "lmtp:unix:PATH", as Dovecot's private/dovecot-lmtp), which
the lab's fake MX (TCP only) cannot serve: a small LMTP server here
(RFC 2033, a judge of its own) answers LHLO, and after the final dot one
reply per recipient: 250 for one, 550 for "inconnu". Checks the replies
reach the right recipients' log lines, with Postfix's relay=HOST[PATH].

usage: lmtp_unix.py BIN_DIR
"""
import extlab
from extlab import Client, free_port

L = extlab.Lab("lmtp-unix", deadline=60)
path = L.path("lmtp.sock")
srv = extlab.LmtpServer(path)
L.write("relay/transport", "minet.net lmtp:unix:%s\n" % path)
p25 = free_port()
main_cf = ("myhostname = mx1.minet.net\nmydestination =\n"
           "relay_domains = minet.net\nmynetworks = 127.0.0.0/8\n"
           "compatibility_level = 3.6\nqueue_directory = %s/queue\n"
           "maillog_file = %s/maillog\n"
           "transport_maps = texthash:%s\n"
           % (L.work, L.work, L.path("relay/transport")))
L.relay(main_cf, "127.0.0.1:%d inet n - n - - smtpd\n" % p25, [p25])
c = Client(L, p25)
c.reply()
c.cmd("EHLO client.example", "250 ")
c.cmd("MAIL FROM:<>", "250 ")
c.cmd("RCPT TO:<adherent@minet.net>", "250 ")
c.cmd("RCPT TO:<inconnu@minet.net>", "250 ")
c.cmd("DATA", "354 ")
c.send("Subject: lmtp\r\n\r\nBonjour.\r\n.")
c.cmd("QUIT", "250 2.0.0 Ok: queued as")
c.close()
L.wait_for("both outcomes in the log",
           lambda: "status=bounced" in L.maillog() and
           "status=sent" in L.maillog())
log = L.maillog()
for want in ("to=<adherent@minet.net>, relay=mx1.minet.net[%s], " % path,
             "dsn=2.0.0, status=sent (250 2.0.0 <adherent@minet.net> Saved)",
             "dsn=5.1.1, status=bounced (host mx1.minet.net[%s] said: 550 "
             "5.1.1 <inconnu@minet.net> User unknown (in reply to end of "
             "DATA command))" % path):
    if want not in log:
        L.fail("the log lacks %r:\n%s" % (want, log))
if not srv.lines or not srv.lines[0].startswith("LHLO mx1.minet.net"):
    L.fail("the client did not start with LHLO: %r" % srv.lines[:2])
srv.close()
L.finish()
