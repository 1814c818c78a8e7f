#!/usr/bin/env python3
"""relay/tests/policy_spf.py — check_policy_service with the real
policyd-spf (Debian postfix-policyd-spf-python), as seed 003's MX role
checks SPF ("on vérifie aussi la politique du domaine (y compris le
nôtre !)").

policyd-spf is a spawn(8) service: one process per connection on
stdin/stdout. Here spawn_tcp.py plays spawn(8) on a loopback port, in a
private mount namespace whose /etc/resolv.conf points at mxlab-fakedns
on 127.53.X.Y:53 (as docs/postfix-oracle.md does for Postfix), so that
its DNS (python3-dns) asks only the lab: minet.net has seed 003's
"v=spf1 mx ~all" with mx1/mx2, fail.example has "v=spf1 -all". Checks:
an outsider using minet.net is accepted with policyd-spf's
"Received-SPF: Softfail" header (once per message, however many
recipients), mx1 itself gets "Pass", and fail.example is refused with
policyd-spf's 550 5.7.23 as an access table's result.

usage: policy_spf.py BIN_DIR     (exit 77: policyd-spf or unshare missing)
"""
import os
import random

import extlab
from extlab import Client, free_port

extlab.need("/usr/bin/policyd-spf", "postfix-policyd-spf-python")
extlab.need("/usr/bin/unshare", "util-linux")
if os.geteuid() != 0:
    print("SKIP: a private /etc/resolv.conf needs root (mount namespace)")
    raise SystemExit(extlab.SKIP)
L = extlab.Lab("policy-spf")
HERE = os.path.dirname(os.path.abspath(__file__))

dns_ip = "127.53.%d.%d" % (random.randint(1, 254), random.randint(1, 254))
L.write("zones/minet.net", """\
$ORIGIN minet.net.
$TTL 300
@    IN SOA ns hostmaster 1 3600 600 86400 300
; $ dig txt +short minet.net  (seed 003)
@    IN TXT "v=spf1 mx ~all"
@    IN MX 10 mx1
@    IN MX 10 mx2
mx1  IN A 127.0.8.1
mx2  IN A 127.0.8.2
""")
L.write("zones/fail.example", """\
$ORIGIN fail.example.
$TTL 300
@    IN SOA ns hostmaster 1 3600 600 86400 300
@    IN TXT "v=spf1 -all"
""")
dns = L.start([extlab.BIN + "/mxlab-fakedns", "--listen", dns_ip + ":53",
               "--zone", L.path("zones/minet.net"),
               "--zone", L.path("zones/fail.example")], "fakedns.log")
L.wait_port(53, dns, host=dns_ip)  # fakedns serves TCP too
resolv = L.write("resolv.conf", "nameserver %s\n" % dns_ip)
conf = L.write("policyd-spf.conf", """\
debugLevel = 1
TestOnly = 1
HELO_reject = Fail
Mail_From_reject = Fail
PermError_reject = False
TempError_Defer = False
skip_addresses = ::1/128
""")
spf_port = free_port()
spawn = L.start(["/usr/bin/unshare", "-m", "sh", "-c",
                 'mount --bind "$0" /etc/resolv.conf && exec "$@"', resolv,
                 "/usr/bin/python3", os.path.join(HERE, "spawn_tcp.py"),
                 "127.0.0.1:%d" % spf_port, "/usr/bin/policyd-spf", conf],
                "policyd-spf.log")
L.wait_port(spf_port, spawn)

sink = L.fakemx()
p25 = free_port()
main_cf = L.mx_main_cf(sink, "inet:127.0.0.1:%d" % spf_port,
                       "mxlab_dns_servers = %s:53\n" % dns_ip)
relay = L.relay(main_cf, "127.0.0.1:%d inet n - n - - smtpd\n" % p25, [p25])


def session(src, sender, rcpts, want):
    c = Client(L, p25, src)
    c.reply()
    c.cmd("EHLO client.example", "250 ")
    c.cmd("MAIL FROM:<%s>" % sender, "250 ")
    for r in rcpts:
        c.cmd("RCPT TO:<%s>" % r, want)
    if want.startswith("250"):
        c.cmd("DATA", "354 ")
        c.send("Subject: spf %s %s\r\n\r\nbonjour\r\n." % (src, sender))
        c.cmd("QUIT", "250 2.0.0 Ok: queued as")
    c.close()


session("127.0.0.30", "adherent@minet.net",
        ["membre1@minet.net", "membre2@minet.net"], "250 2.1.5")
session("127.0.8.1", "adherent@minet.net", ["membre1@minet.net"], "250 2.1.5")
session("127.0.0.30", "x@fail.example", ["membre1@minet.net"],
        "550 5.7.23 <membre1@minet.net>: Recipient address rejected: "
        "Message rejected due to: SPF fail - not authorized. Please see "
        "http://www.openspf.net/Why?s=mfrom;id=x@fail.example;"
        "ip=127.0.0.30;r=")

L.wait_for("two messages at fakemx",
           lambda: L.delivered().count(b"Received-SPF:") >= 2)
d = L.delivered().decode("utf-8", "replace")
for want in ("Received-SPF: Softfail (mailfrom) identity=mailfrom; "
             "client-ip=127.0.0.30; helo=client.example; "
             "envelope-from=adherent@minet.net;",
             "Received-SPF: Pass (mailfrom) identity=mailfrom; "
             "client-ip=127.0.8.1;"):
    if want not in d:
        L.fail("delivered messages lack %r" % want)
if d.count("Received-SPF: Softfail") != 1:
    L.fail("Received-SPF added %d times to a two-recipient message"
           % d.count("Received-SPF: Softfail"))
if "550 5.7.23 <membre1@minet.net>" not in L.maillog():
    L.fail("no NOQUEUE line for the SPF fail")
L.finish()
