#!/usr/bin/env python3
"""relay/tests/garbage.py — hostile SMTP input never crashes the relay.

A seeded generator (the same sessions on every run) opens SESSIONS
sessions to mxlab-relay and sends each a mix of valid commands and
mutations of them: odd case, missing or doubled brackets, overlong
arguments and lines, NUL bytes, bare CR and LF, 8-bit bytes, pipelined
bursts, BDAT with wrong or huge counts, DATA with unterminated content,
STARTTLS followed by plain text or garbage, abrupt closes. After every
session the relay must still be running; at the end it must answer a
well-formed session, which is delivered (the upstream is an
mxlab-fakemx), stop cleanly on SIGTERM, and its log must be free of
"panic" and "fatal".
Under the sanitizer build (ci/sanitize) any memory error ends the relay
and fails the test.

usage: garbage.py BIN_DIR [SESSIONS [SEED]]
Loopback only; every wait is bounded; every process started is stopped.
"""
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "bench"))
import lab  # noqa: E402
from lab import free_port  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
SESSIONS = int(sys.argv[2]) if len(sys.argv) > 2 else 200
SEED = int(sys.argv[3]) if len(sys.argv) > 3 else 20261123
DEADLINE = time.monotonic() + 240

VERBS = [b"HELO", b"EHLO", b"MAIL FROM:", b"RCPT TO:", b"DATA", b"BDAT",
         b"RSET", b"NOOP", b"VRFY", b"ETRN", b"STARTTLS", b"QUIT", b"AUTH",
         b"XCLIENT", b"HELP", b""]
ADDRS = [b"<a@example.net>", b"<b@example.org>", b"<>", b"a@example.net",
         b"<@hop:b@example.org>", b"<\"x y\"@example.org>",
         b"<b%c@example.org>", b"<c!b@example.org>", b"<a@[127.0.0.1]>",
         b"<" + b"x" * 300 + b"@example.org>", b"<a@example.net",
         b"<<a@b>>", b"<a@b> SIZE=99999999999999999999",
         b"<a@b> BODY=8BITMIME SMTPUTF8", b"<b@example.org> NOTIFY=NEVER,SUCCESS",
         b"<b@example.org> ORCPT=rfc822;+2Bx+ZZ", b"<a@b> RET=HDRS ENVID=+00"]


def wait_port(port, proc):
    lab.wait_port(port, proc, DEADLINE, "garbage.py")


def mutate(rng, line):
    """One of a dozen ways to spoil a command line."""
    k = rng.randrange(12)
    if k == 0:
        return line.lower()
    if k == 1:
        return line + b"\x00" + bytes(rng.randrange(256) for _ in range(8))
    if k == 2:
        return line + b"X" * rng.choice([999, 1000, 2048, 5000, 70000])
    if k == 3:
        return line.replace(b"<", b"", 1)
    if k == 4:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
    if k == 5:
        return line + b"\r" + line
    if k == 6:
        return line + b"\n" + line
    if k == 7:
        return line[:rng.randrange(len(line) + 1)]
    if k == 8:
        return line + b" " + b"\xc3\xa9\xff\xfe"
    if k == 9:
        return b" " + line + b"   "
    return line


def session_bytes(rng):
    """The bytes of one session, in chunks sent one after the other."""
    chunks = []
    for _ in range(rng.randrange(1, 20)):
        verb = rng.choice(VERBS)
        if verb in (b"MAIL FROM:", b"RCPT TO:", b"VRFY"):
            line = verb + rng.choice(ADDRS)
        elif verb in (b"HELO", b"EHLO"):
            line = verb + b" " + rng.choice([b"client.example.net", b"x",
                                               b"[127.0.0.1]", b"", b"a..b"])
        elif verb == b"BDAT":
            n = rng.choice([0, 1, 5, 100, 10**9, -1])
            line = b"BDAT %d%s" % (n, rng.choice([b"", b" LAST", b" MORE"]))
            if 0 < n < 1000:
                line += b"\r\n" + b"y" * rng.randrange(n + 5)
        elif verb == b"DATA":
            body = b"Subject: g\r\n\r\n" + b".\r\n..x\r\n" * rng.randrange(3)
            end = rng.choice([b"\r\n.\r\n", b"\n.\n", b"", b"\r\n.\r\nQUIT\r\n"])
            line = b"DATA\r\n" + body + end
        elif verb == b"STARTTLS":
            line = b"STARTTLS" + rng.choice([b"", b"\r\nEHLO x",
                                             b"\r\n\x16\x03\x01\x00\x05zzzzz"])
        else:
            line = verb + rng.choice([b"", b" arg", b" " + b"z" * 600])
        if rng.random() < 0.4:
            line = mutate(rng, line)
        chunks.append(line + rng.choice([b"\r\n", b"\r\n", b"\n", b""]))
    if rng.random() < 0.5:
        chunks.append(b"QUIT\r\n")
    return chunks


def run_session(port, chunks, rng):
    try:
        s = socket.create_connection(("127.0.0.1", port), 5)
        s.settimeout(0.3)
        try:
            s.recv(4096)
            for c in chunks:
                s.sendall(c)
                if rng.random() < 0.5:
                    try:
                        s.recv(65536)
                    except socket.timeout:
                        pass
        except OSError:
            pass  # the relay may end a session it finds hostile
        finally:
            if rng.random() < 0.3:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()
    except OSError as e:
        sys.exit("garbage.py: cannot connect: %s" % e)


work = tempfile.mkdtemp(prefix="mxlab-garbage-")
os.chmod(work, 0o755)  # started as root, the relay serves as mail_owner
procs = []
try:
    sink_port, smtp_port = free_port(), free_port()
    os.makedirs(work + "/queue")
    os.makedirs(work + "/dump")
    with open(work + "/main.cf", "w") as f:
        f.write("myhostname = relay.example.net\nmydestination =\n"
                "mynetworks = 127.0.0.0/8\nrelayhost = [127.0.0.1]:%d\n"
                "queue_directory = %s/queue\nmaillog_file = %s/maillog\n"
                "smtpd_error_sleep_time = 0\nmessage_size_limit = 100000\n"
                "smtpd_timeout = 3s\n" % (sink_port, work, work))
    with open(work + "/master.cf", "w") as f:
        f.write("127.0.0.1:%d inet n - n - - smtpd\n" % smtp_port)

    def start(args):
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                             stderr=open(work + "/stderr", "a"))
        procs.append(p)
        return p

    fakemx = start([BIN + "/mxlab-fakemx", "--listen",
                    "127.0.0.1:%d" % sink_port, "--dump", work + "/dump"])
    wait_port(sink_port, fakemx)
    relay = start([BIN + "/mxlab-relay", "-c", work])
    wait_port(smtp_port, relay)
    rng = random.Random(SEED)
    for i in range(SESSIONS):
        if time.monotonic() > DEADLINE:
            sys.exit("garbage.py: out of time after %d sessions" % i)
        run_session(smtp_port, session_bytes(rng), rng)
        if relay.poll() is not None:
            sys.exit("garbage.py: the relay died during session %d (seed %d, "
                     "exit %s): %s" % (i, SEED, relay.returncode,
                                       open(work + "/stderr").read()[-2000:]))
    # A well-formed message still goes through.
    s = socket.create_connection(("127.0.0.1", smtp_port), 5)
    f = s.makefile("rb")
    replies = []
    f.readline()
    for line in (b"EHLO client.example.net", b"MAIL FROM:<a@example.net>",
                 b"RCPT TO:<b@example.org>", b"DATA"):
        s.sendall(line + b"\r\n")
        r = f.readline()
        while r[3:4] == b"-":
            r = f.readline()
        replies.append(r)
    s.sendall(b"Subject: after the garbage\r\n\r\nfine\r\n.\r\nQUIT\r\n")
    replies.append(f.readline())
    s.close()
    if not replies[-1].startswith(b"250"):
        sys.exit("garbage.py: a good message was refused: %r" % replies)
    while time.monotonic() < DEADLINE:
        if os.path.exists(work + "/dump/fakemx.jsonl") and \
                b"after the garbage" in open(work + "/dump/fakemx.jsonl",
                                             "rb").read():
            break
        time.sleep(0.05)
    else:
        sys.exit("garbage.py: the good message was not delivered")
    # A clean stop (leak reports of the sanitizer build come then).
    lab.stop_relay(relay, work, "garbage.py")
    log = open(work + "/maillog", errors="replace").read()
    for bad in ("panic", "fatal"):
        if bad in log:
            sys.exit("garbage.py: the log has %r" % bad)
    print("garbage.py: %d hostile sessions (seed %d), the relay stayed up "
          "and delivered a good message after them" % (SESSIONS, SEED))
finally:
    lab.kill_all(procs)
    shutil.rmtree(work, ignore_errors=True)
