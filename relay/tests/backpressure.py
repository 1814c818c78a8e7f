#!/usr/bin/env python3
"""relay/tests/backpressure.py — a client cannot make the relay hold its
input or its replies in memory (issue 16).

Each of these leaves mxlab-relay's peak resident memory (VmHWM) under
16 MiB, while another session keeps being answered:
  - 200 MB of DATA (message_size_limit = 1000000: 552, the session goes on);
  - a 200 MB line without LF (cut, thrown away, the session goes on);
  - 20 MB of pipelined EHLO from a client that never reads its replies
    (the relay stops reading it: the client cannot even send it all);
  - 200 MB of pipelined RCPT while the first one waits on a DNSBL lookup
    that never gets an answer (the relay stops reading meanwhile).

usage: backpressure.py BIN_DIR
Loopback only; every wait is bounded; every process started is stopped.
Prints the figures measured (peak RSS, bytes the relay let in, the other
session's slowest reply).
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "bench"))
import lab  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
DEADLINE = time.monotonic() + 150
LIMIT_KB = 16 * 1024
MB = 1024 * 1024


def fail(msg):
    sys.exit("backpressure.py: " + msg)


def status_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    fail("no %s for pid %d" % (field, pid))


class RssWatch(threading.Thread):
    """The kernel updates VmHWM lazily (a peak between two reads can be
    missed once memory is given back): VmRSS is sampled as well, and the
    peak is the larger of the two."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, False

    def run(self):
        while not self.stop:
            try:
                self.peak = max(self.peak, status_kb(self.pid, "VmRSS"))
            except OSError:
                return
            time.sleep(0.002)


WATCH = None


def vm_hwm(pid):
    return max(status_kb(pid, "VmHWM"), WATCH.peak if WATCH else 0)


def reply(f):
    """One whole SMTP reply (the last line)."""
    while True:
        line = f.readline()
        if not line:
            fail("connection closed while waiting for a reply")
        if line[3:4] != b"-":
            return line


def session(port):
    s = socket.create_connection(("127.0.0.1", port), 10)
    s.settimeout(30)
    f = s.makefile("rb")
    if not reply(f).startswith(b"220"):
        fail("no greeting")
    return s, f


def command(s, f, line, want):
    s.sendall(line + b"\r\n")
    r = reply(f)
    if not r.startswith(want):
        fail("%r: expected %r, got %r" % (line, want, r))
    return r


class Prober(threading.Thread):
    """Another client, served meanwhile: EHLO, NOOP, RSET, QUIT in a loop;
    records the slowest reply (each bounded by the socket timeout)."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.stop, self.slowest, self.rounds = port, False, 0.0, 0
        self.error = None

    def run(self):
        try:
            while not self.stop and time.monotonic() < DEADLINE:
                t0 = time.monotonic()
                s, f = session(self.port)
                for line, want in ((b"EHLO probe.example.net", b"250"),
                                   (b"NOOP", b"250"), (b"RSET", b"250"),
                                   (b"QUIT", b"221")):
                    t = time.monotonic()
                    command(s, f, line, want)
                    self.slowest = max(self.slowest, time.monotonic() - t)
                s.close()
                self.slowest = max(self.slowest, 0.0)
                self.rounds += 1
                del t0
        except (OSError, SystemExit) as e:
            self.error = str(e)


def push(s, data_fn, total, stall):
    """Send total bytes (data_fn(n) makes them), without reading; stop
    early once the peer has taken nothing for stall seconds, or has
    closed. Returns the bytes sent."""
    s.setblocking(False)
    sent, last = 0, time.monotonic()
    buf = b""
    while sent < total and time.monotonic() < DEADLINE:
        if not buf:
            buf = data_fn(min(MB, total - sent))
        try:
            n = s.send(buf)
            sent += n
            buf = buf[n:]
            last = time.monotonic()
        except BlockingIOError:
            if time.monotonic() - last > stall:
                break
            time.sleep(0.01)
        except OSError:
            break  # the relay ended the session
    s.setblocking(True)
    return sent


def stream(port, dialogue, head, chunk, end, want, what):
    """A session: dialogue (command, expected reply code, ...), then head
    and 200 MB of chunk repeated, then end with its expected reply, and
    a NOOP that must still be answered."""
    t0 = time.monotonic()
    s, f = session(port)
    for i in range(0, len(dialogue), 2):
        command(s, f, dialogue[i], dialogue[i + 1])
    s.sendall(head)
    for _ in range(200 * MB // len(chunk)):
        s.sendall(chunk)
    command(s, f, end, want)
    command(s, f, b"NOOP", b"250")
    s.close()
    figures.append("%s: VmHWM %d KiB, %.1f s"
                   % (what, vm_hwm(relay.pid), time.monotonic() - t0))


work = tempfile.mkdtemp(prefix="mxlab-backpressure-")
os.chmod(work, 0o755)  # started as root, the relay serves as mail_owner
procs, figures = [], []
try:
    port, rbl_port, slow_port = (lab.free_port(), lab.free_port(),
                                 lab.free_port())
    # A DNS server that never answers: every DNSBL lookup waits for
    # c-ares' timeouts.
    mute = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    mute.bind(("127.0.0.1", 0))
    lab.relay_config(
        work, "mynetworks = 127.0.0.0/8\nmessage_size_limit = 1000000\n"
        "smtpd_timeout = 60s\nmxlab_dns_servers = 127.0.0.1:%d\n"
        % mute.getsockname()[1],
        [port, "%d\n  -o smtpd_client_restrictions=reject_rbl_client,"
         "bl.example.org" % rbl_port, "%d\n  -o smtpd_timeout=2s" % slow_port])
    relay = subprocess.Popen([BIN + "/mxlab-relay", "-c", work],
                             stdout=subprocess.DEVNULL,
                             stderr=open(work + "/stderr", "w"))
    procs.append(relay)
    lab.wait_port(port, relay, DEADLINE, "backpressure.py")
    lab.wait_port(rbl_port, relay, DEADLINE, "backpressure.py")
    lab.wait_port(slow_port, relay, DEADLINE, "backpressure.py")
    WATCH = RssWatch(relay.pid)
    WATCH.start()
    figures.append("idle: VmHWM %d KiB" % vm_hwm(relay.pid))
    prober = Prober(port)
    prober.start()

    # 1. 200 MB of DATA past message_size_limit.
    line = b"x" * 998 + b"\r\n"
    stream(port, [b"EHLO big.example.net", b"250",
                  b"MAIL FROM:<a@example.net>", b"250",
                  b"RCPT TO:<b@example.org>", b"250", b"DATA", b"354"],
           b"Subject: big\r\n\r\n", line * (MB // 1000), b".", b"552 5.3.4",
           "200 MB DATA")
    # 2. A 200 MB line without LF.
    stream(port, [b"EHLO long.example.net", b"250"], b"", b"L" * MB, b"",
           b"500 5.5.2", "200 MB line")

    # 3. 20 MB of pipelined EHLO, replies never read (smtpd_timeout 2s:
    # once no reply could be written for that long, the session ends).
    t0 = time.monotonic()
    s, f = session(slow_port)
    ehlo = b"EHLO flood.example.net\r\n"
    sent = push(s, lambda n: ehlo * (n // len(ehlo) + 1), 20 * MB, 3)
    hwm = vm_hwm(relay.pid)
    end = min(DEADLINE, time.monotonic() + 60)
    while time.monotonic() < end:
        try:
            s.send(b"\r\n")
        except OSError:
            break  # reset: the relay closed the session
        time.sleep(0.1)
    else:
        fail("a client that reads no reply kept its session past "
             "smtpd_timeout")
    s.close()
    figures.append("20 MB EHLO flood: relay let in %.1f MB, VmHWM %d KiB, "
                   "%.1f s" % (sent / MB, hwm, time.monotonic() - t0))
    if sent >= 20 * MB:
        fail("the relay read all 20 MB of EHLO of a client that reads no "
             "reply (no back-pressure)")

    # 4. Pipelined RCPTs behind one that waits on a DNSBL lookup.
    t0 = time.monotonic()
    s, f = session(rbl_port)
    command(s, f, b"EHLO rbl.example.net", b"250")
    command(s, f, b"MAIL FROM:<a@example.net>", b"250")
    rcpt = b"RCPT TO:<b@example.org>\r\n"
    sent = push(s, lambda n: rcpt * (n // len(rcpt) + 1), 200 * MB, 3)
    hwm = vm_hwm(relay.pid)
    s.close()
    figures.append("200 MB behind a DNSBL lookup: relay let in %.1f MB, "
                   "VmHWM %d KiB, %.1f s"
                   % (sent / MB, hwm, time.monotonic() - t0))
    if sent >= 200 * MB:
        fail("the relay read all 200 MB while a lookup was pending")

    prober.stop = True
    prober.join(60)
    WATCH.stop = True
    if prober.error:
        fail("the other session failed meanwhile: %s" % prober.error)
    if prober.rounds == 0:
        fail("the other session never completed")
    figures.append("other session: %d rounds, slowest reply %.3f s"
                   % (prober.rounds, prober.slowest))
    peak = vm_hwm(relay.pid)
    for line in figures:
        print("backpressure.py: " + line)
    # Under ci/sanitize, ASan's shadow memory and quarantine are most of
    # the RSS: the figures are printed, the bound is for normal builds.
    with open("/proc/%d/maps" % relay.pid) as f:
        sanitized = "libasan" in f.read()
    if peak >= LIMIT_KB and not sanitized:
        fail("peak RSS %d KiB, over %d KiB" % (peak, LIMIT_KB))
    lab.stop_relay(relay, work, "backpressure.py")
    print("backpressure.py: peak RSS (VmHWM, VmRSS sampled) %d KiB%s"
          % (peak, " (sanitizer build: not bounded)" if sanitized
             else " < %d KiB" % LIMIT_KB))
finally:
    lab.kill_all(procs)
    shutil.rmtree(work, ignore_errors=True)
