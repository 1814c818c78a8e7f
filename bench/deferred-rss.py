#!/usr/bin/env python3
"""bench/deferred-rss.py — the relay's memory with a large deferred queue
(issue 6 target: RSS flat with 100k deferred messages).

smtp-source sends N messages (SIZE bytes, 20 sessions, in batches) to
mxlab-relay, whose relayhost is a loopback port where nothing listens:
every delivery attempt is refused and the message is deferred, with a
backoff long enough that nothing is retried during the run. After each
batch, once active/ is empty (all deferred), the relay's resident size
(VmRSS) is read; it is printed beside the number of deferred messages,
with the growth per 1000 deferred. Everything runs on loopback, every
wait is bounded, the relay is stopped and the scratch directory removed
at the end.

usage: deferred-rss.py BIN_DIR [N] [BATCH] [SIZE]"""
import os, shutil, subprocess, sys, tempfile, time

from lab import free_port, wait_listening

BIN = os.path.abspath(sys.argv[1])
N = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
BATCH = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
SIZE = int(sys.argv[4]) if len(sys.argv) > 4 else 2048
SOURCE = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
if not os.access(SOURCE, os.X_OK):
    sys.exit("deferred-rss: smtp-source is not installed (Debian: postfix)")


work = tempfile.mkdtemp(prefix="mxlab-deferred-")
os.chmod(work, 0o755)  # started as root, the relay serves as mail_owner
port, dead = free_port(), free_port()
os.makedirs(work + "/queue")
open(work + "/main.cf", "w").write(
    "myhostname = relay.example\nmydestination =\nmynetworks = 127.0.0.0/8\n"
    "queue_directory = %s/queue\nmaillog_file = %s/maillog\n"
    "relayhost = [127.0.0.1]:%d\n"
    "minimal_backoff_time = 4h\nmaximal_backoff_time = 4h\n"
    "smtp_connect_timeout = 2s\n" % (work, work, dead))
open(work + "/master.cf", "w").write(
    "127.0.0.1:%d inet n - n - - smtpd\n" % port)
relay = subprocess.Popen([BIN + "/mxlab-relay", "-c", work],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def status(key):
    for line in open("/proc/%d/status" % relay.pid):
        if line.startswith(key):
            return int(line.split()[1])


def count(sub):
    try:
        return sum(1 for n in os.listdir("%s/queue/%s" % (work, sub))
                   if "." not in n)
    except FileNotFoundError:
        return 0


try:
    wait_listening(port, "deferred-rss")
    base = status("VmRSS")
    rows = [(0, base, 0.0)]
    print("deferred  VmRSS(KiB)  seconds")
    print("%8d  %10d  %7.1f" % (0, base, 0.0))
    sent, t0 = 0, time.monotonic()
    while sent < N:
        n = min(BATCH, N - sent)
        subprocess.run([SOURCE, "-s", "20", "-m", str(n), "-l", str(SIZE),
                        "-f", "sender@example.net", "-t", "rcpt@dest.example",
                        "127.0.0.1:%d" % port], check=True, timeout=900,
                       stdout=subprocess.DEVNULL)
        sent += n
        # Bounded wait until every message has been tried and deferred.
        deadline = time.monotonic() + 900
        while count("deferred") < sent or count("active") > 0:
            if time.monotonic() > deadline:
                sys.exit("deferred-rss: %d of %d deferred after 900 s"
                         % (count("deferred"), sent))
            time.sleep(0.2)
        rss = status("VmRSS")
        rows.append((sent, rss, time.monotonic() - t0))
        print("%8d  %10d  %7.1f" % rows[-1])
    first = rows[1]
    last = rows[-1]
    per_k = (last[1] - first[1]) / ((last[0] - first[0]) / 1000.0) \
        if last[0] > first[0] else 0.0
    print("mxlab-relay: RSS %d KiB with %d deferred, %d KiB with %d, "
          "%d KiB idle before; growth %.2f KiB per 1000 deferred; "
          "peak (VmHWM) %d KiB"
          % (first[1], first[0], last[1], last[0], base, per_k,
             status("VmHWM")))
finally:
    relay.terminate()
    try:
        relay.wait(timeout=30)
    except subprocess.TimeoutExpired:
        relay.kill()
        relay.wait()
    shutil.rmtree(work, ignore_errors=True)
