#!/usr/bin/env python3
"""relay/tests/sasl_dovecot.py — AUTH through a real Dovecot (issue 17).

Starts a private Dovecot 2.3 (Debian dovecot-core): its own config file,
base_dir and state_dir under a temporary directory, no protocols (only
the auth service), a passwd-file with seed 003's users, listening on a
loopback inet port and on a unix socket inside the relay's
queue_directory (smtpd_sasl_path = private/auth, as Postfix resolves
it). No system Dovecot file is touched. Then mxlab-relay, as MiNET's
smtp role (seed 003): submission on 587 with STARTTLS and
smtpd_tls_auth_only, smtps on 465, a port 25 without AUTH. Checks the
replies and log lines that Postfix 3.7 gives for the same sessions
(235 2.7.0, 535 5.7.8, 503 5.5.1, 501 5.7.0, "SASL PLAIN
authentication failed", "sasl_method=PLAIN, sasl_username=..."), that
an authenticated user relays outside, that an outsider does not, and that
an unreachable auth server ends the session as Postfix's smtpd does.

usage: sasl_dovecot.py BIN_DIR          (exit 77: dovecot not installed)
"""
import base64
import sys

import extlab
from extlab import Client, free_port

extlab.need("/usr/sbin/dovecot", "dovecot-core")
L = extlab.Lab("sasl-dovecot")


def b64(s):
    return base64.b64encode(s.encode()).decode()


def plain(user, pw):
    return b64("\0%s\0%s" % (user, pw))


auth_port, dead_port = free_port(), free_port()
L.write("dovecot/passwd", "alice@minet.net:{PLAIN}secret\n"
        "bob@minet.net:{PLAIN}hunter2\n")
L.write("dovecot/dovecot.conf", """\
base_dir = {w}/dovecot/run
state_dir = {w}/dovecot/state
instance_name = mxlab-{port}
log_path = {w}/dovecot/dovecot.log
protocols =
listen = 127.0.0.1
ssl = no
auth_mechanisms = plain login
disable_plaintext_auth = no
auth_failure_delay = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {w}/dovecot/passwd
}}
userdb {{
  driver = static
  args = uid=65534 gid=65534 home={w}/dovecot
}}
service auth {{
  inet_listener auth-inet {{
    address = 127.0.0.1
    port = {port}
  }}
  unix_listener auth-client {{
    path = {w}/queue/private/auth
    mode = 0666
  }}
}}
""".format(w=L.work, port=auth_port))
import os  # noqa: E402
os.makedirs(L.path("queue", "private"), exist_ok=True)
os.chmod(L.path("queue", "private"), 0o755)
dovecot = L.start(["/usr/sbin/dovecot", "-F", "-c",
                   L.path("dovecot", "dovecot.conf")], "dovecot.out")
L.wait_port(auth_port, dovecot)
L.wait_for("dovecot's unix socket",
           lambda: os.path.exists(L.path("queue", "private", "auth")))

sink = L.fakemx()
crt, key = L.tls_cert("smtp.minet.net")
p25, p587, p465, punix, pdead = (free_port() for _ in range(5))
main_cf = """\
myhostname = smtp.minet.net
mydestination =
mynetworks = 127.0.0.0/32
compatibility_level = 3.6
relayhost = [127.0.0.1]:{sink}
queue_directory = {w}/queue
maillog_file = {w}/maillog
smtpd_tls_cert_file = {crt}
smtpd_tls_key_file = {key}
smtpd_sasl_type = dovecot
smtpd_sasl_path = inet:127.0.0.1:{auth}
smtpd_sasl_authenticated_header = yes
smtpd_sender_login_maps = inline:{{ alice@minet.net=alice@minet.net, \
bob@minet.net=bob@minet.net }}
""".format(sink=sink, w=L.work, crt=crt, key=key, auth=auth_port)
sub = ("-o smtpd_sasl_auth_enable=yes "
       "-o smtpd_relay_restrictions=permit_sasl_authenticated,reject "
       "-o smtpd_sender_restrictions=reject_sender_login_mismatch")
master_cf = """\
127.0.0.1:{p25} inet n - n - - smtpd
127.0.0.1:{p587} inet n - n - - smtpd -o smtpd_tls_security_level=may \
  -o smtpd_tls_auth_only=yes {sub}
127.0.0.1:{p465} inet n - n - - smtpd -o smtpd_tls_wrappermode=yes {sub}
127.0.0.1:{punix} inet n - n - - smtpd -o smtpd_sasl_path=private/auth \
  -o broken_sasl_auth_clients=yes {sub}
127.0.0.1:{pdead} inet n - n - - smtpd \
  -o smtpd_sasl_path=inet:127.0.0.1:{dead} {sub}
""".format(p25=p25, p587=p587, p465=p465, punix=punix, pdead=pdead,
           dead=dead_port, sub=sub)
relay = L.relay(main_cf, master_cf, [p25, p587, p465, punix, pdead])


def ehlo(c, name="poste.minet.net"):
    return c.cmd("EHLO " + name, "250 ")


def message(c, subject):
    """DATA with a small message, then QUIT."""
    c.cmd("DATA", "354 ")
    c.send("Subject: %s\r\n\r\nbonjour\r\n." % subject)
    r = c.reply()
    if not r or not r[-1].startswith("250 2.0.0 Ok: queued as"):
        L.fail("%s: message refused: %r" % (subject, r))
    c.cmd("QUIT", "221 ")
    c.close()


# 587: no AUTH before STARTTLS (smtpd_tls_auth_only), then PLAIN.
c = Client(L, p587, "127.0.0.10")
c.reply()
if any("AUTH" in line for line in ehlo(c)):
    L.fail("587 offers AUTH before STARTTLS")
c.cmd("AUTH PLAIN " + plain("alice@minet.net", "secret"),
      "503 5.5.1 Error: authentication not enabled")
c.starttls()
if "250-AUTH PLAIN LOGIN" not in ehlo(c):
    L.fail("587 does not offer AUTH PLAIN LOGIN after STARTTLS")
c.cmd("MAIL FROM:<alice@minet.net>", "250 2.1.0")
c.cmd("AUTH PLAIN " + plain("alice@minet.net", "secret"),
      "503 5.5.1 Error: MAIL transaction in progress")
c.cmd("RSET", "250 ")
c.cmd("AUTH PLAIN " + plain("alice@minet.net", "wrong"),
      "535 5.7.8 Error: authentication failed: (reason unavailable)")
c.cmd("AUTH PLAIN", "334 ")
c.cmd("*", "501 5.7.0 Authentication aborted")
c.cmd("AUTH PLAIN", "334 ")
c.cmd(plain("alice@minet.net", "secret"), "235 2.7.0 Authentication successful")
c.cmd("AUTH PLAIN " + plain("alice@minet.net", "secret"),
      "503 5.5.1 Error: already authenticated")
c.cmd("MAIL FROM:<bob@minet.net>", "250 ")
c.cmd("RCPT TO:<ami@example.org>",
      "553 5.7.1 <bob@minet.net>: Sender address rejected: not owned by "
      "user alice@minet.net")
c.cmd("RSET", "250 ")
c.cmd("MAIL FROM:<alice@minet.net>", "250 ")
c.cmd("RCPT TO:<ami@example.org>", "250 2.1.5")
message(c, "via 587")

# 465: TLS from the first byte, AUTH LOGIN with its two challenges.
c = Client(L, p465, "127.0.0.11", wrap=True)
c.reply()
if "250-AUTH PLAIN LOGIN" not in ehlo(c):
    L.fail("465 does not offer AUTH")
c.cmd("AUTH LOGIN", "334 VXNlcm5hbWU6")
c.cmd(b64("bob@minet.net"), "334 UGFzc3dvcmQ6")
c.cmd(b64("hunter2"), "235 2.7.0 Authentication successful")
c.cmd("MAIL FROM:<bob@minet.net>", "250 ")
c.cmd("RCPT TO:<ami@example.org>", "250 ")
message(c, "via 465")

# The unix socket under queue_directory, and broken_sasl_auth_clients.
c = Client(L, punix, "127.0.0.12")
c.reply()
r = ehlo(c)
if "250-AUTH PLAIN LOGIN" not in r or "250-AUTH=PLAIN LOGIN" not in r:
    L.fail("unix socket service: EHLO %r" % r)
c.cmd("MAIL FROM:<alice@minet.net>", "250 ")
c.cmd("RCPT TO:<ami@example.org>", "553 5.7.1 <alice@minet.net>: Sender "
      "address rejected: not logged in")
c.cmd("RSET", "250 ")
c.cmd("AUTH FOO", "535 5.7.8 Error: authentication failed: Invalid "
      "authentication mechanism")
c.cmd("AUTH PLAIN !!!", "535 5.7.8 Error: authentication failed: Invalid "
      "base64 data in initial response")
c.cmd("AUTH PLAIN " + plain("alice@minet.net", "secret"), "235 ")
c.cmd("QUIT", "221 ")
c.close()

# AUTH and QUIT in one write: the session ends in the auth server's
# answer (nothing may touch the freed session after it).
c = Client(L, punix, "127.0.0.15")
c.reply()
ehlo(c)
c.sock.sendall(("AUTH PLAIN %s\r\nQUIT\r\n"
                % plain("alice@minet.net", "secret")).encode())
r1, r2 = c.reply(), c.reply()
if not r1 or not r1[-1].startswith("235 ") or not r2 or \
        not r2[-1].startswith("221 "):
    L.fail("AUTH+QUIT pipelined: %r %r" % (r1, r2))
c.close()

# An outsider on 25: no AUTH offered, no relaying.
c = Client(L, p25, "127.0.0.13")
c.reply()
if any("AUTH" in line for line in ehlo(c, "outside.example")):
    L.fail("25 offers AUTH without smtpd_sasl_auth_enable")
c.cmd("AUTH PLAIN " + plain("alice@minet.net", "secret"),
      "503 5.5.1 Error: authentication not enabled")
c.cmd("MAIL FROM:<spam@outside.example>", "250 ")
c.cmd("RCPT TO:<victim@example.org>",
      "454 4.7.1 <victim@example.org>: Relay access denied")
c.cmd("QUIT", "221 ")
c.close()

# No auth server: Postfix's smtpd exits before its greeting.
c = Client(L, pdead, "127.0.0.14")
if c.reply() != []:
    L.fail("a greeting without an auth server")
c.close()

L.wait_for("both messages at fakemx",
           lambda: L.delivered().count(b"Authenticated sender:") >= 2)
d = L.delivered()
for want in (b"(Authenticated sender: alice@minet.net)",
             b"(Authenticated sender: bob@minet.net)", b"with ESMTPSA id"):
    if want not in d:
        L.fail("delivered messages lack %r" % want)
L.wait_for("the fatal line",
           lambda: "no SASL authentication mechanisms" in L.maillog())
log = L.maillog()
for want in (
        "warning: unknown[127.0.0.10]: SASL PLAIN authentication failed: "
        "(reason unavailable), sasl_username=alice@minet.net",
        "warning: unknown[127.0.0.10]: SASL PLAIN authentication aborted",
        "client=unknown[127.0.0.10], sasl_method=PLAIN, "
        "sasl_username=alice@minet.net",
        "client=unknown[127.0.0.11], sasl_method=LOGIN, "
        "sasl_username=bob@minet.net",
        "warning: unknown[127.0.0.12]: SASL FOO authentication failed: "
        "Invalid authentication mechanism, sasl_username=(unavailable)",
        "NOQUEUE: reject: RCPT from unknown[127.0.0.10]: 553 5.7.1 "
        "<bob@minet.net>: Sender address rejected: not owned by user "
        "alice@minet.net;",
        "warning: SASL: Connect to Dovecot auth socket "
        "'inet:127.0.0.1:%d' failed: Connection refused" % dead_port,
        "fatal: no SASL authentication mechanisms",
        "disconnect from unknown[127.0.0.10] ehlo=2 starttls=1 auth=1/6 "
        "mail=3 rcpt=1/2 data=1 rset=2 quit=1 commands=12/18"):
    if want not in log:
        L.fail("maillog lacks %r" % want)
L.finish()
