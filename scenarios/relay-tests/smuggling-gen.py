#!/usr/bin/env python3
"""Writes scenarios/relay-tests/smuggling-{normalize,defaults,no,reject}.scn:
the 13 SMTP smuggling end-of-data variants under each smtpd_forbid_bare_newline
setting. Usage: /usr/bin/python3 smuggling-gen.py scenarios/relay-tests"""
import sys
V = [  # (escaped text, raw bytes)
    (r"\n.\n", "\n.\n"), (r"\n.\r\n", "\n.\r\n"), (r"\r.\r", "\r.\r"),
    (r"\r.\r\n", "\r.\r\n"), (r"\r\n.\r", "\r\n.\r"), (r"\r\n.\n", "\r\n.\n"),
    (r"\r\n\x00.\r\n", "\r\n\0.\r\n"), (r"\r\r\n.\r\r\n", "\r\r\n.\r\r\n"),
    (r"\n\n.\n\n", "\n\n.\n\n"), (r"\r.\n", "\r.\n"), (r"\n.\r", "\n.\r"),
    (r"\r\n.\x00\r\n", "\r\n.\0\r\n"), (r"\r\n.\r\r\n", "\r\n.\r\r\n"),
]

def has_bare_lf(raw):
    return any(c == "\n" and (i == 0 or raw[i-1] != "\r") for i, c in enumerate(raw))

def split_no(raw):
    # Postfix < 3.9 (smtpd_forbid_bare_newline = no): a bare LF ends a
    # line, every CR before the LF goes; a "." line ends DATA.
    text = "before" + raw
    lines = text.split("\n")
    return any(l.rstrip("\r") == "." for l in lines[1:-1]) and True

def payload(i, esc):
    return ("C= Subject: variant %d\\r\\n\\r\\nbefore %d%sMAIL FROM:<admin@example.net>\\r\\n"
            "RCPT TO:<hidden%d@example.org>\\r\\nDATA\\r\\nSubject: hidden %d\\r\\n\\r\\n"
            "hidden %d\\r\\n.\\r\\n" % (i, i, esc, i, i, i))

def session(i, esc, replies, src="127.1.2.3", svc=None):
    h = "[session from %s%s]" % (src, " to " + svc if svc else "")
    out = [h, "S: 220 *", "C: EHLO client.example.net", "S: 250 *",
           "C: MAIL FROM:<sender@example.net>", "S: 250 2.1.0 Ok",
           "C: RCPT TO:<user%d@example.org>" % i, "S: 250 2.1.5 Ok",
           "C: DATA", "S: 354 *", "# variant %d: %s" % (i, esc), payload(i, esc)]
    out += ["S: " + r for r in replies]
    out += ["C: QUIT", "S: 221 2.0.0 Bye", ""]
    return "\n".join(out)

MAINCF = """myhostname = relay.example.net
mydestination = $myhostname, localhost
mynetworks = 127.0.0.0/24
relay_domains = example.org
relayhost = [127.0.4.1]
"""
QUEUED = "250 2.0.0 Ok: queued as *"

def write(name, text):
    open(sys.argv[1] + "/" + name + ".scn", "w").write(text)

def norm_like(name, head, setting, mx_lenient=True):
    t = head + "\n[scenario]\nname = %s\n\n[main.cf]\n%s%s\n[mx 127.0.4.1]\nname = mx.example.org\n%s\n" % (
        name, MAINCF, setting, "eod = lenient\n" if mx_lenient else "")
    for i, (esc, raw) in enumerate(V, 1):
        t += session(i, esc, [QUEUED]) + "\n"
    t += "[expect]\n"
    for i in range(1, len(V) + 1):
        t += "delivered to 127.0.4.1 from sender@example.net rcpt user%d@example.org\n" % i
    t += ("# the hidden commands are message text (variants 7 and 12 hold a NUL\n"
          "# before them: the harness reads delivered text only up to a NUL)\n")
    for i, (esc, raw) in enumerate(V, 1):
        if "\0" not in raw:
            t += "delivered data contains RCPT TO:<hidden%d@example.org>\n" % i
    t += "delivered data contains before 3 . MAIL FROM:<admin@example.net>\n"
    t += "not delivered rcpt " + " ".join("hidden%d@example.org" % i for i in range(1, len(V) + 1)) + "\n"
    t += "deliveries %d\nqueue empty\n" % len(V)
    return t

HEAD_NORM = """# SMTP smuggling (SEC Consult, 2023): a message whose text holds a
# non-standard end of data followed by a second, complete transaction
# (MAIL, RCPT, DATA, message, "."). With smtpd_forbid_bare_newline =
# normalize only <CR><LF>.<CR><LF> ends DATA: for each of 13 end-of-data
# variants the client gets one "250 ... queued" and the next reply is
# QUIT's, the hidden recipient never gets a message, and the hidden
# commands arrive as text of the visible message. The next hop is a fake
# MX with "eod = lenient" (a bare LF ends its lines, ".\\n" its DATA):
# nothing the relay passes on splits there either, since bare CR and LF
# left in the text become spaces (cleanup_replace_stray_cr_lf = yes).
# Same on Postfix 3.7.11 (checked with mxlab diff).
"""
HEAD_DEF = """# SMTP smuggling with the relay's default settings: the same sessions as
# smuggling-normalize.scn without the smtpd_forbid_bare_newline line. The
# relay's default is Postfix 3.9's (normalize): none of the 13 variants
# splits, nothing hidden reaches the lenient fake MX. Postfix 3.7.11's
# default is "no", which splits 6 of them (the first at variant 1): the
# difference is written down in diff-allow.txt.
"""
write("smuggling-normalize", norm_like("smuggling-normalize", HEAD_NORM, "smtpd_forbid_bare_newline = normalize\n"))
write("smuggling-defaults", norm_like("smuggling-defaults", HEAD_DEF, "") +
      "\n[admin]\n$ postconf -d smtpd_forbid_bare_newline smtpd_forbid_bare_newline_exclusions\n"
      "> smtpd_forbid_bare_newline = normalize\n"
      "> smtpd_forbid_bare_newline_exclusions = $mynetworks\n")

# "no": as Postfix 3.7.11 by default.
t = """# SMTP smuggling with smtpd_forbid_bare_newline = no (Postfix 3.7.11's
# default, kept for compatibility): a bare LF ends a line and every CR
# before an LF goes, so 6 of the 13 end-of-data variants end the message
# there and the hidden transaction is a second one, accepted and
# delivered: the relay splits exactly those Postfix 3.7.11 splits (an
# empty line left between two "\\n" is a command, "500 bad syntax").
# Same on Postfix 3.7.11 (mxlab diff).

[scenario]
name = smuggling-no

[main.cf]
%ssmtpd_forbid_bare_newline = no

[mx 127.0.4.1]
name = mx.example.org

""" % MAINCF
split = []
for i, (esc, raw) in enumerate(V, 1):
    if split_no(raw):
        split.append(i)
        r = [QUEUED]
        if raw == "\n\n.\n\n":
            r.append("500 5.5.2 Error: bad syntax")
        r += ["250 2.1.0 Ok", "250 2.1.5 Ok", "354 *", QUEUED]
    else:
        r = [QUEUED]
    t += session(i, esc, r) + "\n"
t += "[expect]\n"
for i in split:
    t += "delivered to 127.0.4.1 from admin@example.net rcpt hidden%d@example.org\n" % i
t += "not delivered rcpt " + " ".join("hidden%d@example.org" % i for i in range(1, len(V) + 1) if i not in split) + "\n"
t += "deliveries %d\nqueue empty\n" % (len(V) + len(split))
write("smuggling-no", t)
print("split under no:", split)

# reject
t = """# SMTP smuggling with smtpd_forbid_bare_newline = reject: a message with
# a bare LF anywhere is refused once it is in (550 5.5.2 ... bare <LF>
# received, smtpd_forbid_bare_newline_reject_code) and the session goes
# on; the variants without one are accepted as under normalize. A BDAT
# chunk (RFC 3030) with a bare LF is refused at once, the chunks after it
# thrown away. A command that ends in a bare LF gets the same code and
# the session ends. A
# client in smtpd_forbid_bare_newline_exclusions ($mynetworks by default:
# here 127.0.0.1) is not held to it (it splits, as with "no"). The "yes"
# of Postfix 3.7.9 is, since 3.7.10, another name for normalize (the
# service 127.0.0.1:2526 below). Same on Postfix 3.7.11 (mxlab diff).

[scenario]
name = smuggling-reject

[main.cf]
%ssmtpd_forbid_bare_newline = reject

[master.cf]
127.0.0.1:2526 inet n - n - - smtpd
  -o smtpd_forbid_bare_newline=yes

[mx 127.0.4.1]
name = mx.example.org
eod = lenient

""" % MAINCF
REJ = "550 5.5.2 relay.example.net Error: bare <LF> received"
rejected = []
for i, (esc, raw) in enumerate(V, 1):
    if has_bare_lf(raw):
        rejected.append(i)
        t += session(i, esc, [REJ]) + "\n"
    else:
        t += session(i, esc, [QUEUED]) + "\n"
t += session(1, r"\n.\n", [QUEUED], svc="127.0.0.1:2526").replace("user1@", "yes1@") + "\n"
t += session(1, r"\n.\n", [QUEUED, "250 2.1.0 Ok", "250 2.1.5 Ok", "354 *", QUEUED], src="127.0.0.1").replace("user1@", "trusted1@").replace("hidden1@", "trustedhidden1@") + "\n"
def bdat(esc, last=False):
    n = len(esc.encode().decode("unicode_escape"))
    return "C= BDAT %d%s\\r\\n%s" % (n, " LAST" if last else "", esc)
# BDAT (RFC 3030): no end of data to fool, but a bare LF is refused all
# the same, at the chunk that holds it (Postfix: "BDAT content").
t += "\n".join(["# BDAT: a bare LF in a chunk is refused at that chunk; the chunks after",
                 "# it are thrown away; a chunk with a bare CR only is accepted.",
                 "[session from 127.1.2.3]", "S: 220 *", "C: EHLO client.example.net", "S: 250 *",
                 "C: MAIL FROM:<sender@example.net>", "S: 250 2.1.0 Ok",
                 "C: RCPT TO:<bdat1@example.org>", "S: 250 2.1.5 Ok",
                 bdat(r"Subject: bdat 1\r\n\r\na\n.\n"), "S: " + REJ,
                 bdat(r"MAIL FROM:<admin@example.net>\r\n", True),
                 "S: 551 5.0.0 Discarded 31 bytes after earlier error",
                 "C: MAIL FROM:<sender@example.net>", "S: 250 2.1.0 Ok",
                 "C: RCPT TO:<bdat2@example.org>", "S: 250 2.1.5 Ok",
                 bdat(r"Subject: bdat 2\r\n\r\na\r\n.\r\nb\r.\rc\r\n", True),
                 "S: 250 2.0.0 Ok: * bytes queued as *", "C: QUIT", "S: 221 2.0.0 Bye", "", ""])
t += """[session from 127.1.2.3]
S: 220 *
C: EHLO client.example.net
S: 250 *
C= NOOP\\n
S: %s
S= closed

[expect]
""" % REJ
for i in range(1, len(V) + 1):
    if i not in rejected:
        t += "delivered to 127.0.4.1 rcpt user%d@example.org\n" % i
t += "delivered to 127.0.4.1 rcpt yes1@example.org\n"
t += "delivered to 127.0.4.1 rcpt bdat2@example.org\n"
t += "delivered data contains b . c\n"
t += "not delivered rcpt bdat1@example.org\n"
t += "delivered to 127.0.4.1 from admin@example.net rcpt trustedhidden1@example.org\n"
t += "not delivered rcpt " + " ".join("user%d@example.org" % i for i in rejected) + "\n"
t += "not delivered rcpt " + " ".join("hidden%d@example.org" % i for i in range(1, len(V) + 1)) + "\n"
t += "deliveries %d\n" % (len(V) - len(rejected) + 4)
t += "log contains : reject: BDAT content from unknown[127.1.2.3]: bare <LF> received; from=<sender@example.net> to=<bdat1@example.org> proto=ESMTP helo=<client.example.net>\n"
t += "log contains : reject: END-OF-MESSAGE from unknown[127.1.2.3]: bare <LF> received; from=<sender@example.net> to=<user1@example.org> proto=ESMTP helo=<client.example.net>\n"
t += "log contains NOQUEUE: reject: EHLO from unknown[127.1.2.3]: bare <LF> received; proto=ESMTP helo=<client.example.net>\n"
t += "queue empty\n"
write("smuggling-reject", t)
print("rejected:", rejected)
