#!/usr/bin/env python3
"""relay/tests/connlimits.py — how many clients the relay serves, and how
long it lets a slow one keep a session (issue 16):
  - smtpd_client_connection_count_limit = 10: of 50 concurrent
    connections from one outside address, 10 are greeted and 40 get
    "421 4.7.0 ... Error: too many connections from IP" (with Postfix's
    "Connection concurrency limit exceeded" warning);
  - master.cf maxproc 3: 3 sessions at a time, master's process limit
    warning logged, the others greeted as the first ones leave;
  - smtpd_per_record_deadline = yes, smtpd_timeout = 2s: 200 clients
    that trickle a byte every 0.5 s are all timed out;
  - 1,100 clients against a relay limited to 1024 descriptors: the
    relay pauses accepting and logs it once (the log stays under 1 MB),
    and serves again once they go.

usage: connlimits.py BIN_DIR
Loopback only; every wait is bounded; every process started is stopped.
"""
import os
import resource
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "bench"))
import lab  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
DEADLINE = time.monotonic() + 160
ME = "connlimits.py"


def fail(msg):
    sys.exit(ME + ": " + msg)


def connect(port, src="127.0.0.1", blocking=True):
    s = socket.socket()
    s.bind((src, 0))
    if blocking:
        s.settimeout(20)
        s.connect(("127.0.0.1", port))
    else:
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
    return s


def first_lines(socks, want, limit):
    """Read the first reply line of each socket until want of them have
    one (or limit seconds pass); {sock: line}."""
    sel = selectors.DefaultSelector()
    bufs = {}
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        bufs[s] = b""
    got = {}
    end = min(DEADLINE, time.monotonic() + limit)
    while len(got) < want and time.monotonic() < end:
        for key, _ in sel.select(0.2):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            bufs[s] += data
            if b"\n" in bufs[s] or not data:
                got[s] = bufs[s].split(b"\r\n")[0]
                sel.unregister(s)
    sel.close()
    return got


def log_wait(work, text, limit=20, pid=None):
    end = min(DEADLINE, time.monotonic() + limit)
    while time.monotonic() < end:
        if os.path.exists(work + "/maillog") and \
                text in open(work + "/maillog", errors="replace").read():
            return
        time.sleep(0.05)
    log = open(work + "/maillog", errors="replace").read()
    fds = len(os.listdir("/proc/%d/fd" % pid)) if pid else -1
    fail("the log never said %r (relay descriptors: %d, connects logged: "
         "%d); it ends with:\n%s"
         % (text, fds, log.count("connect from"), log[-600:]))


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def count_limit(port):
    socks = [connect(port, "127.1.0.9") for _ in range(50)]
    got = first_lines(socks, 50, 30)
    ok = [l for l in got.values() if l.startswith(b"220 ")]
    refused = [l for l in got.values() if l == b"421 4.7.0 relay.example.net "
               b"Error: too many connections from 127.1.0.9"]
    for s in socks:
        s.close()
    if len(ok) != 10 or len(refused) != 40:
        fail("count limit 10: %d greeted, %d refused of 50: %r"
             % (len(ok), len(refused), sorted(set(got.values()))))
    return "count limit 10: 10 of 50 greeted, 40 refused with 421"


def maxproc(work, port):
    socks = [connect(port) for _ in range(6)]
    got = first_lines(socks, 3, 20)
    log_wait(work, 'has reached its process limit "3"')
    # The listener is off while 3 sessions run: nothing else was greeted.
    more = first_lines([s for s in socks if s not in got], 1, 0.5)
    if len(got) != 3 or more:
        fail("maxproc 3: %d sessions greeted at once" % (len(got) + len(more)))
    # The session that took the last slot runs under stress ("-o
    # stress=yes": smtpd_hard_error_limit 1), the two before it do not.
    stressed = 0
    for s in got:
        s.setblocking(True)
        s.settimeout(20)
        s.sendall(b"XYZZY\r\nNOOP\r\n")
        f = s.makefile("rb")
        while True:
            line = f.readline()
            if not line or line[:3] in (b"250", b"421"):
                break
        stressed += line.startswith(b"421 4.7.0 relay.example.net Error: "
                                    b"too many errors")
    if stressed != 1:
        fail("maxproc 3: %d sessions under stress, not 1" % stressed)
    for s in got:
        s.close()
    rest = [s for s in socks if s not in got]
    late = first_lines(rest, 3, 20)
    for s in rest:
        s.close()
    if len(late) != 3 or not all(l.startswith(b"220 ") for l in late.values()):
        fail("maxproc 3: the waiting clients were not greeted later: %r"
             % list(late.values()))
    return ("maxproc 3: 3 sessions at a time (the third under stress), "
            "the other 3 greeted after")


def slow_clients(port):
    t0 = time.monotonic()
    socks = [connect(port) for _ in range(200)]
    for s in socks:
        s.setblocking(False)
    closed, timeouts = set(), 0
    end = min(DEADLINE, time.monotonic() + 40)
    while len(closed) < len(socks) and time.monotonic() < end:
        for s in socks:
            if s in closed:
                continue
            try:
                data = s.recv(4096)
                timeouts += data.count(b"421 4.4.2 relay.example.net Error: "
                                       b"timeout exceeded")
                if not data:
                    closed.add(s)
                    continue
            except BlockingIOError:
                pass
            except OSError:
                closed.add(s)
                continue
            try:
                s.send(b"X")
            except OSError:
                closed.add(s)
        time.sleep(0.5)
    for s in socks:
        s.close()
    if len(closed) < len(socks) or timeouts < len(socks):
        fail("slow clients: %d of %d closed, %d timeout replies"
             % (len(closed), len(socks), timeouts))
    return ("per-record deadline 2s: 200 trickling clients all timed out "
            "in %.1f s" % (time.monotonic() - t0))


def fd_limit(work, relay, port):
    t0 = time.monotonic()
    log_before = os.path.getsize(work + "/maillog")
    cpu0 = cpu_ticks(relay.pid)
    # In batches, each greeted before the next (a burst of 1,100 SYNs
    # would overflow the listen queue and leave clients waiting on the
    # kernel's SYN-ACK retransmissions instead of on the relay).
    socks = []
    while len(socks) < 1100:
        batch = [connect(port, blocking=False) for _ in range(100)]
        socks += batch
        if len(first_lines(batch, len(batch), 10)) < len(batch):
            break
    socks += [connect(port, blocking=False) for _ in range(1100 - len(socks))]
    log_wait(work, "Too many open files", pid=relay.pid)
    # Let the relay live with the shortage for a while (its CPU and log
    # are measured, not asserted on time).
    pause_end = time.monotonic() + 5
    while time.monotonic() < pause_end:
        time.sleep(0.1)
    cpu = (cpu_ticks(relay.pid) - cpu0) / os.sysconf("SC_CLK_TCK")
    size = os.path.getsize(work + "/maillog") - log_before
    for s in socks:
        s.close()
    # Served again once they are gone (bounded retries).
    end = min(DEADLINE, time.monotonic() + 60)
    while True:
        try:
            s = connect(port)
            s.settimeout(5)
            line = s.recv(4096)
            s.close()
            if line.startswith(b"220 "):
                break
        except OSError:
            pass
        if time.monotonic() > end:
            fail("not serving again after the 1,100 clients left")
        time.sleep(0.2)
    if size >= 1000000:
        fail("the log grew by %d bytes at the descriptor limit" % size)
    return ("1,100 clients at 1024 descriptors: log +%d bytes, relay CPU "
            "%.1f s over %.1f s, serving again %.1f s after they left"
            % (size, cpu, pause_end - t0, time.monotonic() - pause_end))


work = tempfile.mkdtemp(prefix="mxlab-connlimits-")
os.chmod(work, 0o755)  # started as root, the relay serves as mail_owner
procs, figures = [], []
try:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 4096:
        fail("this test needs 4096 descriptors (hard limit %d)" % hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, hard))
    dns_port = lab.free_port()
    ports = [lab.free_port() for _ in range(4)]
    with open(work + "/zone", "w") as f:
        f.write("$ORIGIN example.org.\n$TTL 300\n"
                "@ IN SOA ns hostmaster 1 3600 600 86400 300\n"
                "@ IN NS ns\nns IN A 127.0.0.53\n")
    lab.relay_config(
        work, "mynetworks = 127.0.0.1/32\nmxlab_dns_servers = 127.0.0.1:%d\n"
        "smtpd_client_connection_count_limit = 10\n" % dns_port,
        ["%d\n  -o smtpd_timeout=30s" % ports[0],
         "%d\n  -o smtpd_timeout=30s" % ports[1],
         "%d\n  -o smtpd_per_record_deadline=yes -o smtpd_timeout=2s"
         % ports[2], ports[3]])
    with open(work + "/master.cf") as f:
        lines = f.read().splitlines()
    # maxproc: 3 on the second service, none on the fourth.
    lines[2] = lines[2].replace(" - - smtpd", " - 3 smtpd")
    lines[-1] = lines[-1].replace(" - - smtpd", " - 0 smtpd")
    with open(work + "/master.cf", "w") as f:
        f.write("\n".join(lines) + "\n")
    fakedns = subprocess.Popen([BIN + "/mxlab-fakedns", "--listen",
                                "127.0.0.1:%d" % dns_port, "--zone",
                                work + "/zone"],
                               stdout=subprocess.DEVNULL,
                               stderr=open(work + "/stderr", "a"))
    procs.append(fakedns)

    def limit_fds():
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))

    relay = subprocess.Popen([BIN + "/mxlab-relay", "-c", work],
                             stdout=subprocess.DEVNULL,
                             stderr=open(work + "/stderr", "a"),
                             preexec_fn=limit_fds)
    procs.append(relay)
    for p in ports:
        lab.wait_port(p, relay, DEADLINE, ME)
    if not os.environ.get("CONNLIMITS_FD_ONLY"):
        figures.append(count_limit(ports[0]))
        figures.append(maxproc(work, ports[1]))
        figures.append(slow_clients(ports[2]))
    figures.append(fd_limit(work, relay, ports[3]))
    log = open(work + "/maillog", errors="replace").read()
    for want in ("warning: Connection concurrency limit exceeded: 11 from "
                 "unknown[127.1.0.9] for service 127.0.0.1:%d" % ports[0],
                 "timeout after CONNECT from localhost[127.0.0.1]"):
        if want not in log:
            fail("the log lacks %r" % want)
    if log.count("Too many open files") != 1:
        fail("the descriptor shortage was logged %d times"
             % log.count("Too many open files"))
    lab.stop_relay(relay, work, ME)
    for line in figures:
        print(ME + ": " + line)
finally:
    lab.kill_all(procs)
    shutil.rmtree(work, ignore_errors=True)
