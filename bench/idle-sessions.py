#!/usr/bin/env python3
"""bench/idle-sessions.py — memory per idle SMTP session of mxlab-relay
(issue 6 target: at most 64 KiB). Opens N sessions that said EHLO and
stay idle, and reports the relay's RSS growth per session.
usage: idle-sessions.py BIN_DIR [N]"""
import os, resource, socket, subprocess, sys, tempfile

from lab import free_port, wait_listening

BIN = os.path.abspath(sys.argv[1])
N = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
resource.setrlimit(resource.RLIMIT_NOFILE, (N + 256, N + 256))
work = tempfile.mkdtemp(prefix="mxlab-idle-")
os.chmod(work, 0o755)  # started as root, the relay serves as mail_owner
port = free_port()
os.makedirs(work + "/queue")
open(work + "/main.cf", "w").write(
    "myhostname = idle.example\nmydestination =\nqueue_directory = %s/queue\n"
    "maillog_file = %s/maillog\n" % (work, work))
# maxproc 0: no process limit (master.cf's default, 100, would hold the
# sessions past it in the listen queue).
open(work + "/master.cf", "w").write("127.0.0.1:%d inet n - n - 0 smtpd\n" % port)
relay = subprocess.Popen([BIN + "/mxlab-relay", "-c", work],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
socks = []
try:
    wait_listening(port, "idle-sessions")

    def rss():
        for line in open("/proc/%d/status" % relay.pid):
            if line.startswith("VmRSS"):
                return int(line.split()[1])

    before = rss()
    for _ in range(N):
        c = socket.create_connection(("127.0.0.1", port), 5)
        socks.append(c)
    for c in socks:
        c.recv(512)
        c.sendall(b"EHLO client.example\r\n")
    for c in socks:
        c.recv(2048)
    after = rss()
    print("mxlab-relay: %d idle sessions: RSS %d -> %d KiB, %.1f KiB per session"
          % (N, before, after, (after - before) / N))
finally:
    for c in socks:
        c.close()
    relay.kill()
    relay.wait()
    subprocess.run(["rm", "-rf", work])
