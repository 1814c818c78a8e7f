#!/usr/bin/env python3
"""relay/tests/lmtp_mailbox.py — mailbox_transport, mailbox_transport_maps
and virtual_transport over a UNIX socket, as a site with Dovecot writes
them (lmtp:unix:private/dovecot-lmtp, relative to queue_directory), which
the lab's fake MX (TCP only) cannot serve: extlab's small LMTP server
answers. Checks that local(8) hands each mailbox on after alias expansion
("passing <ADDR> to transport=lmtp", the lmtp line with to=<expanded> and
orig_to=), that a transport the relay lacks defers the hand-off, that a
virtual mailbox domain goes to virtual_transport and an unknown virtual
user is refused at RCPT; then that with virtual_transport left at
"virtual" (no virtual(8) in the relay) the start warns with file:line and
the mail is deferred, not lost.

usage: lmtp_mailbox.py BIN_DIR
"""
import extlab
from extlab import Client, free_port


def session(lab, port, rcpts, refused=()):
    c = Client(lab, port)
    c.reply()
    c.cmd("EHLO client.example", "250 ")
    c.cmd("MAIL FROM:<>", "250 ")
    for r in rcpts:
        c.cmd("RCPT TO:<%s>" % r, "250 ")
    for r, want in refused:
        c.cmd("RCPT TO:<%s>" % r, want)
    c.cmd("DATA", "354 ")
    c.send("Subject: lmtp\r\n\r\nBonjour.\r\n.")
    c.cmd("QUIT", "250 2.0.0 Ok: queued as")
    c.close()


def expect_log(lab, wants):
    log = lab.maillog()
    for want in wants:
        if want not in log:
            lab.fail("the log lacks %r:\n%s" % (want, log))


L = extlab.Lab("lmtp-mailbox", deadline=60)
srv = extlab.LmtpServer(L.path("queue", "private", "dovecot-lmtp"))
L.write("relay/aliases", "contact: adherent, inconnu\n")
L.write("relay/mbtransport", "boite virtual:\n")
L.write("relay/vmailbox", "v@minet.net minet.net/v/\n")
p25 = free_port()
main_cf = ("myhostname = mx1.minet.net\nmydestination = $myhostname\n"
           "mynetworks = 127.0.0.0/8\ncompatibility_level = 3.6\n"
           "queue_directory = %s/queue\nmaillog_file = %s/maillog\n"
           "alias_maps = texthash:$config_directory/aliases\n"
           "local_recipient_maps =\n"
           "mailbox_transport = lmtp:unix:private/dovecot-lmtp\n"
           "mailbox_transport_maps = texthash:$config_directory/mbtransport\n"
           "virtual_mailbox_domains = minet.net\n"
           "virtual_mailbox_maps = texthash:$config_directory/vmailbox\n"
           "virtual_transport = lmtp:unix:private/dovecot-lmtp\n"
           % (L.work, L.work))
L.relay(main_cf, "127.0.0.1:%d inet n - n - - smtpd\n" % p25, [p25])
session(L, p25, ["adherent@mx1.minet.net", "contact@mx1.minet.net",
                 "boite@mx1.minet.net", "v@minet.net"],
        [("inconnu@minet.net", "550 5.1.1 <inconnu@minet.net>: Recipient "
          "address rejected: User unknown in virtual mailbox table")])
L.wait_for("every outcome in the log",
           lambda: L.maillog().count("status=") >= 5)
sock = "mx1.minet.net[private/dovecot-lmtp]"
expect_log(L, [
    "passing <adherent@mx1.minet.net> to transport=lmtp",
    "passing <inconnu@mx1.minet.net> to transport=lmtp",
    "passing <boite@mx1.minet.net> to transport=virtual",
    "postfix/lmtp[", "to=<adherent@mx1.minet.net>, relay=%s, " % sock,
    "to=<adherent@mx1.minet.net>, orig_to=<contact@mx1.minet.net>, "
    "relay=%s, " % sock,
    "to=<inconnu@mx1.minet.net>, orig_to=<contact@mx1.minet.net>, "
    "relay=%s, " % sock,
    "dsn=5.1.1, status=bounced (host %s said: 550 5.1.1 "
    "<inconnu@mx1.minet.net> User unknown (in reply to end of DATA "
    "command))" % sock,
    "warning: connect to transport private/virtual: mxlab-relay has no "
    "such delivery agent",
    "postfix/local[", "to=<boite@mx1.minet.net>, relay=none, ",
    "dsn=4.3.0, status=deferred (mail transport unavailable)",
    "to=<v@minet.net>, relay=%s, " % sock,
    "dsn=2.0.0, status=sent (250 2.0.0 <v@minet.net> Saved)",
])
# One recipient per hand-off (deliver_pass()); the virtual class's
# recipient goes in a transaction of its own.
got = sorted(r for t in srv.rcpts for r in t)
want = sorted(["adherent@mx1.minet.net", "adherent@mx1.minet.net",
               "inconnu@mx1.minet.net", "v@minet.net"])
if got != want or any(len(t) != 1 for t in srv.rcpts):
    L.fail("LMTP recipients %r, expected %r one per transaction"
           % (srv.rcpts, want))
L.stop()
srv.close()

# virtual_transport left at Postfix's default: warned at start (the line
# that made minet.net a virtual mailbox domain), mail deferred.
L2 = extlab.Lab("lmtp-mailbox-virtual", deadline=60)
p25 = free_port()
main_cf = ("myhostname = mx1.minet.net\nmydestination = $myhostname\n"
           "mynetworks = 127.0.0.0/8\ncompatibility_level = 3.6\n"
           "queue_directory = %s/queue\nmaillog_file = %s/maillog\n"
           "virtual_mailbox_domains = minet.net\n"
           % (L2.work, L2.work))
L2.relay(main_cf, "127.0.0.1:%d inet n - n - - smtpd\n" % p25, [p25])
session(L2, p25, ["v@minet.net"])
L2.wait_for("the deferral", lambda: "status=deferred" in L2.maillog())
expect_log(L2, [
    "main.cf:7: virtual_mailbox_domains: their mail goes to "
    "virtual_transport = virtual, and mxlab-relay has no virtual(8) "
    "delivery agent",
    "postfix/error[", "to=<v@minet.net>, relay=none, ",
    "dsn=4.3.0, status=deferred (mail transport unavailable)",
])
L2.finish()
L.finish()
