#!/usr/bin/env python3
"""relay/tests/milter_opendkim.py — smtpd_milters with the real opendkim
(Debian opendkim + opendkim-tools), as seed 003's smtp server signs
("les emails provenant de MiNET sont signés par DKIM, en utilisant
opendkim").

A key made here by opendkim-genkey (selector "mail", minet.net), its
public half served by mxlab-fakedns on 127.53.X.Y:53 (opendkim's
Nameservers; its resolver asks port 53 only). opendkim runs with a
private configuration (Mode sv, socket inet:PORT@127.0.0.1); no system
opendkim file is touched. Checks: a message from 127.0.0.1 (opendkim's
InternalHosts) leaves the relay signed, and Debian's python3-dkim finds
the signature valid with the key fetched from fakedns; the signed
message sent back in from an outside address is verified by opendkim
(Authentication-Results: dkim=pass), a changed body gives dkim=fail;
with the milter down, milter_default_action = tempfail answers MAIL
FROM with 451.

usage: /usr/bin/python3 milter_opendkim.py BIN_DIR   (exit 77: missing)
"""
import atexit
import json
import os
import random
import subprocess

import extlab
from extlab import Client, free_port

extlab.need("/usr/sbin/opendkim", "opendkim")
extlab.need("/usr/sbin/opendkim-genkey", "opendkim-tools")
try:
    import dkim
    import dns.resolver
except ImportError:
    print("SKIP: python3-dkim and python3-dnspython (Debian's, run with "
          "/usr/bin/python3) are needed")
    raise SystemExit(extlab.SKIP)
if os.geteuid() != 0:
    print("SKIP: fakedns on port 53 (opendkim's resolver) needs root")
    raise SystemExit(extlab.SKIP)
L = extlab.Lab("milter-opendkim")
atexit.register(L.stop)  # an exception too ends what was started

os.makedirs(L.path("keys"))
subprocess.run(["/usr/sbin/opendkim-genkey", "-b", "1024", "-D",
                L.path("keys"), "-s", "mail", "-d", "minet.net"], check=True)
txt = open(L.path("keys", "mail.txt")).read()
rdata = "".join(txt.split('"')[1::2])
dns_ip = "127.53.%d.%d" % (random.randint(1, 254), random.randint(1, 254))
L.write("zones/minet.net", """\
$ORIGIN minet.net.
$TTL 300
@    IN SOA ns hostmaster 1 3600 600 86400 300
mail._domainkey IN TXT "%s"
""" % rdata)
fakedns = L.start([extlab.BIN + "/mxlab-fakedns", "--listen", dns_ip + ":53",
               "--zone", L.path("zones/minet.net")], "fakedns.log")
L.wait_port(53, fakedns, host=dns_ip)

dkim_port = free_port()
# RequireSafeKeys no: the work directory is under /tmp, which others may
# write (opendkim refuses such a key path otherwise).
conf = L.write("opendkim.conf", """\
Mode sv
Domain minet.net
Selector mail
KeyFile %s
Canonicalization relaxed/simple
Socket inet:%d@127.0.0.1
PidFile %s
Nameservers %s
AuthservID smtp.minet.net
Background no
RequireSafeKeys no
Syslog no
""" % (L.path("keys", "mail.private"), dkim_port, L.path("opendkim.pid"),
       dns_ip))
od = L.start(["/usr/sbin/opendkim", "-f", "-x", conf], "opendkim.log")
L.wait_port(dkim_port, od)

sink = L.fakemx()
p25 = free_port()
main_cf = ("myhostname = smtp.minet.net\nmydestination =\n"
           "mynetworks = 127.0.0.0/8\ncompatibility_level = 3.6\n"
           "relayhost = [127.0.0.1]:%d\nqueue_directory = %s/queue\n"
           "maillog_file = %s/maillog\n"
           "smtpd_milters = inet:127.0.0.1:%d\n"
           % (sink, L.work, L.work, dkim_port))
relay = L.relay(main_cf, "127.0.0.1:%d inet n - n - - smtpd\n" % p25, [p25])


def send(src, data, want="250 2.0.0 Ok: queued as"):
    c = Client(L, p25, src)
    c.reply()
    c.cmd("EHLO client.example", "250 ")
    c.cmd("MAIL FROM:<adherent@minet.net>", "250 ")
    c.cmd("RCPT TO:<ami@example.org>", "250 ")
    c.cmd("DATA", "354 ")
    dotted = "\r\n".join("." + ln if ln.startswith(".") else ln
                         for ln in data.split("\r\n"))
    c.send(dotted + "\r\n.")
    c.cmd("QUIT", want)
    c.close()


def messages():
    return [json.loads(ln)["data"] for ln in
            L.delivered().decode().splitlines() if ln.strip()]


def txt_from_fakedns(name, timeout=5):
    r = dns.resolver.Resolver(configure=False)
    r.nameservers = [dns_ip]
    a = r.resolve(name.decode().rstrip("."), "TXT", lifetime=timeout)
    return b"".join(b"".join(rr.strings) for rr in a)


send("127.0.0.1", "From: Adherent <adherent@minet.net>\r\nTo: ami@example.org"
     "\r\nSubject: signe\r\n\r\nBonjour.\r\n")
L.wait_for("the signed message", lambda: len(messages()) >= 1)
signed = messages()[0]
if not signed.startswith("DKIM-Signature: v=1; a=rsa-sha256; "
                         "c=relaxed/simple; d=minet.net; s=mail;"):
    L.fail("not signed by opendkim: %r" % signed[:300])
if not dkim.verify(signed.encode(), dnsfunc=txt_from_fakedns):
    L.fail("python3-dkim: the signature does not verify: %r" % signed)

# In again from outside: opendkim verifies (its DNS: fakedns).
send("127.0.0.30", signed)
send("127.0.0.30", signed.replace("Bonjour.", "Bonsoir."))
L.wait_for("two verified messages", lambda: len(messages()) >= 3)
good, bad = messages()[1], messages()[2]
if "dkim=pass" not in good or "header.d=minet.net" not in good:
    L.fail("opendkim did not find the signature good: %r" % good[:600])
if "dkim=fail" not in bad and "dkim=neutral" not in bad:
    L.fail("opendkim did not find the changed body bad: %r" % bad[:600])

# opendkim down: milter_default_action = tempfail from the start of the
# session, as in Postfix: the greeting and EHLO as usual (the refusal
# logged), MAIL FROM refused.
od.terminate()
od.wait(10)
c = Client(L, p25, "127.0.0.1")
c.reply()
c.cmd("EHLO client.example", "250 ")
c.cmd("MAIL FROM:<adherent@minet.net>",
      "451 4.7.1 Service unavailable - try again later")
c.cmd("QUIT", "221 ")
c.close()
log = L.maillog()
for want in ("warning: connect to Milter service inet:127.0.0.1:%d: "
             "Connection refused" % dkim_port,
             "NOQUEUE: milter-reject: MAIL from localhost[127.0.0.1]: 451 "
             "4.7.1 Service unavailable - try again later; "
             "from=<adherent@minet.net> proto=ESMTP helo=<client.example>"):
    if want not in log:
        L.fail("not in the log: %r" % want)
L.finish()
