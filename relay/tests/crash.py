#!/usr/bin/env python3
"""relay/tests/crash.py — nothing acknowledged is ever lost (issue 6).

mxlab-relay relays to mxlab-fakemx, which answers every third RCPT with
a 451 so that deferrals (and their retries a second later) are under way
when the kills come. Eight client threads send numbered
messages over SMTP and record every one that got "250 ... queued as";
meanwhile the relay is killed with SIGKILL ROUNDS times, each time after a
given number of acknowledgements (so no timing decides the test), and
restarted on the same queue. At the end the relay runs until its queue is
empty, and every acknowledged message must have reached fakemx; messages
that arrived twice (delivered, then the crash undid the queue's unlink) or
without an acknowledgement (queued, the 250 lost with the connection) are
counted and reported, not failures.

usage: crash.py BIN_DIR [ROUNDS [PER_ROUND]]
Loopback only; every wait is bounded; every process started is stopped.
"""
import json
import os
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "bench"))
import lab  # noqa: E402
from lab import free_port  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 4
PER_ROUND = int(sys.argv[3]) if len(sys.argv) > 3 else 150
CLIENTS = 8
DEADLINE = time.monotonic() + 240  # the whole test, at most


def wait_port(port, proc):
    lab.wait_port(port, proc, DEADLINE, "crash.py")


work = tempfile.mkdtemp(prefix="mxlab-crash-")
# Started as root, the relay serves as mail_owner: it must reach its queue.
os.chmod(work, 0o755)
sink_port, smtp_port = free_port(), free_port()
os.makedirs(work + "/queue")
os.makedirs(work + "/dump")
with open(work + "/main.cf", "w") as f:
    f.write("myhostname = crash.example\nmydestination =\n"
            "mynetworks = 127.0.0.0/8\n"
            "relayhost = [127.0.0.1]:%d\n"
            "queue_directory = %s/queue\nmaillog_file = %s/maillog\n"
            "minimal_backoff_time = 1s\nmaximal_backoff_time = 1s\n"
            "queue_run_delay = 1s\n" % (sink_port, work, work))
with open(work + "/master.cf", "w") as f:
    f.write("127.0.0.1:%d inet n - n - - smtpd\n" % smtp_port)

procs = []


def start(args):
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                         stderr=open(work + "/stderr", "a"))
    procs.append(p)
    return p


def stop_all():
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


lock = threading.Lock()
acked = set()
sent_count = [0]
stop = threading.Event()


def client(n):
    i = 0
    while not stop.is_set() and time.monotonic() < DEADLINE:
        i += 1
        tag = "m%d-%d" % (n, i)
        try:
            s = smtplib.SMTP("127.0.0.1", smtp_port, timeout=5)
            s.ehlo("client.example")
            code, _ = s.mail("sender@crash.example")
            if code == 250:
                s.rcpt("rcpt@sink.example")
                code, resp = s.data("Subject: %s\r\n\r\n%s\r\n" % (tag, tag))
                if code == 250 and b"queued as" in resp:
                    with lock:
                        acked.add(tag)
            s.quit()
        except (OSError, smtplib.SMTPException):
            time.sleep(0.01)  # the relay is down: try again soon


try:
    with open(work + "/behaviour", "w") as f:
        f.write("reply = RCPT every 3 451 4.3.0 try again later\n")
    fakemx = start([BIN + "/mxlab-fakemx", "--listen",
                    "127.0.0.1:%d" % sink_port, "--dump", work + "/dump",
                    "--behaviour", work + "/behaviour"])
    wait_port(sink_port, fakemx)
    relay = start([BIN + "/mxlab-relay", "-c", work])
    wait_port(smtp_port, relay)
    threads = [threading.Thread(target=client, args=(n,), daemon=True)
               for n in range(CLIENTS)]
    for t in threads:
        t.start()
    for rnd in range(ROUNDS):
        goal = (rnd + 1) * PER_ROUND
        while len(acked) < goal:
            if time.monotonic() > DEADLINE:
                sys.exit("crash.py: only %d acknowledged" % len(acked))
            time.sleep(0.005)
        relay.send_signal(signal.SIGKILL)
        relay.wait()
        relay = start([BIN + "/mxlab-relay", "-c", work])
        wait_port(smtp_port, relay)
    stop.set()
    for t in threads:
        t.join(10)
    with lock:
        want = set(acked)
    # Drain: the relay delivers what its queue holds.
    got = {}
    while time.monotonic() < DEADLINE:
        got = {}
        with open(work + "/dump/fakemx.jsonl") as f:
            for line in f:
                if not line.endswith("\n"):
                    break  # being written
                m = json.loads(line)
                subj = m.get("subject") or ""
                got[subj] = got.get(subj, 0) + 1
        queued = sum(len(os.listdir(work + "/queue/" + d))
                     for d in ("incoming", "active", "deferred", "hold"))
        if want <= set(got) and queued == 0:
            break
        time.sleep(0.05)
    lost = sorted(want - set(got))
    dups = sum(c - 1 for c in got.values() if c > 1)
    unacked = len(set(got) - want)
    with open(work + "/maillog") as f:
        deferrals = sum("status=deferred" in line for line in f)
    print("crash.py: %d rounds of kill -9; %d messages acknowledged, "
          "%d delivered, %d lost, %d duplicates, %d delivered without "
          "acknowledgement, %d deferrals" % (ROUNDS, len(want), len(got),
                                            len(lost), dups, unacked,
                                            deferrals))
    if deferrals == 0:
        sys.exit("crash.py: no delivery was deferred: the test did not "
                 "exercise deferrals")
    if lost:
        # Still queued (not delivered in time) or gone for good?
        left = {}
        for d in ("incoming", "active", "deferred", "hold", "corrupt"):
            for name in os.listdir(work + "/queue/" + d):
                with open(work + "/queue/%s/%s" % (d, name), "rb") as f:
                    text = f.read().decode("utf-8", "replace")
                for tag in lost:
                    if "Subject: %s\r\n" % tag in text:
                        left[tag] = "%s/%s" % (d, name)
        for tag in lost:
            print("crash.py: LOST: %s%s" % (
                tag, " (still in %s)" % left[tag] if tag in left else ""))
        if os.environ.get("CRASH_KEEP"):
            print("crash.py: kept %s" % work)
            work = "/nonexistent-kept"
        sys.exit(1)
finally:
    stop.set()
    stop_all()
    if not work.startswith("/nonexistent"):
        subprocess.run(["rm", "-rf", work])
