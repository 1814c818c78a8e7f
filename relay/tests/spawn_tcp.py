#!/usr/bin/env python3
"""relay/tests/spawn_tcp.py — what Postfix's spawn(8) does for a policy
server such as policyd-spf, on a loopback TCP port: each connection gets
its own process of COMMAND with the connection as its stdin and stdout.
Runs until SIGTERM, then ends the children it started.

usage: spawn_tcp.py HOST:PORT COMMAND [ARGS...]
"""
import signal
import socket
import subprocess
import sys

host, port = sys.argv[1].rsplit(":", 1)
if not host.startswith("127.") and host != "::1":
    sys.exit("spawn_tcp.py: loopback addresses only, not %s" % host)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((host, int(port)))
srv.listen(16)
children = []


def stop(signum, frame):
    for p in children:
        if p.poll() is None:
            p.terminate()
    for p in children:
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
while True:
    conn, _ = srv.accept()
    children = [p for p in children if p.poll() is None]
    children.append(subprocess.Popen(sys.argv[2:], stdin=conn.fileno(),
                                     stdout=conn.fileno()))
    conn.close()
