#!/usr/bin/env python3
"""pipelining.py — benchmark (not a test): how long a pipelined batch
(RFC 2920: MAIL, N RCPTs and DATA in one send) takes to be answered by
mxlab-fakemx and by Postfix's smtp-sink, in the same run, on loopback.

smtp-source never pipelines, so smtp-source.sh cannot show a reply that a
server holds back when a batch spans more than one of its reads (Nagle
against the client's delayed ACK: about 40 ms on Linux). Here a client
sends the batch, waits for every reply, sends a short message and waits
for its 250; the time from the batch to its last reply is taken, median
over the rounds, for each batch size, servers alternating (ABBA).

Usage: pipelining.py PATH/TO/mxlab-fakemx [ROUNDS] [RCPTS,...]
Servers on CPU 0, this client on CPU 1 (with 2 CPUs or more). Every
socket operation has a timeout; both servers are stopped on exit.
"""
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time

SINK_IP, FAKEMX_IP = "127.0.0.61", "127.0.0.62"
TIMEOUT = 10.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_banner(ip, port):
    end = time.monotonic() + 10
    while time.monotonic() < end:
        try:
            with socket.create_connection((ip, port), 1) as s:
                if s.recv(64).startswith(b"220"):
                    s.sendall(b"QUIT\r\n")
                    return
        except OSError:
            time.sleep(0.05)
    sys.exit("pipelining: nothing answers on %s:%d" % (ip, port))


class Client:
    """A blocking SMTP client that counts final reply lines."""

    def __init__(self, ip, port):
        self.s = socket.create_connection((ip, port), TIMEOUT)
        self.s.settimeout(TIMEOUT)
        self.buf = b""

    def replies(self, n):
        """Read n final replies; fail on anything but 2xx/3xx."""
        while n > 0:
            nl = self.buf.find(b"\n")
            if nl < 0:
                data = self.s.recv(65536)
                if not data:
                    sys.exit("pipelining: connection closed")
                self.buf += data
                continue
            line, self.buf = self.buf[:nl], self.buf[nl + 1:]
            if line[:1] not in (b"2", b"3"):
                sys.exit("pipelining: unexpected reply %r" % line)
            if line[3:4] != b"-":
                n -= 1

    def close(self):
        self.s.sendall(b"QUIT\r\n")
        self.replies(1)
        self.s.close()


def batch_times(ip, port, nrcpt, rounds):
    """Seconds from each batch to its last reply, one connection."""
    c = Client(ip, port)
    c.replies(1)
    c.s.sendall(b"EHLO pipelining.test\r\n")
    c.replies(1)
    batch = (b"MAIL FROM:<bench@source.test>\r\n" +
             b"".join(b"RCPT TO:<r%d@bench.test>\r\n" % i
                      for i in range(nrcpt)) + b"DATA\r\n")
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        c.s.sendall(batch)
        c.replies(nrcpt + 2)
        times.append(time.perf_counter() - t0)
        c.s.sendall(b"Subject: pipelining\r\n\r\nbody\r\n.\r\n")
        c.replies(1)
    c.close()
    return times, len(batch)


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: pipelining.py PATH/TO/mxlab-fakemx [ROUNDS] "
                 "[RCPTS,...]")
    fakemx = sys.argv[1]
    sink = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
    if not os.access(sink, os.X_OK):
        sys.exit("pipelining: smtp-sink is not installed (Debian: postfix)")
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    sizes = [int(n) for n in (sys.argv[3] if len(sys.argv) > 3
                              else "10,700,3000").split(",")]
    pin = os.cpu_count() >= 2 and os.environ.get("BENCH_PIN", "1") != "0"
    server_pin = ["taskset", "-c", "0"] if pin else []
    if pin:
        os.sched_setaffinity(0, {1})
    port = free_port()
    procs = []
    try:
        procs.append(subprocess.Popen(
            server_pin + [sink, "-u", "nobody",
                          "%s:%d" % (SINK_IP, port), "256"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        procs.append(subprocess.Popen(
            server_pin + [fakemx, "--listen", "%s:%d" % (FAKEMX_IP, port),
                          "--name", "bench.test", "--dump", "/dev/null"],
            stderr=subprocess.DEVNULL))
        wait_banner(SINK_IP, port)
        wait_banner(FAKEMX_IP, port)
        print("pipelined batches (MAIL, N RCPT, DATA in one send), %d per "
              "size and server, alternating; %s" %
              (rounds, "servers on CPU 0, client on CPU 1" if pin
               else "no CPU pinning"))
        for n in sizes:
            got = {"sink": [], "fakemx": []}
            for r in range(2):  # ABBA
                order = [("sink", SINK_IP), ("fakemx", FAKEMX_IP)]
                for name, ip in (order if r == 0 else order[::-1]):
                    t, nbytes = batch_times(ip, port, n, rounds)
                    got[name] += t
            ms = {k: 1000 * statistics.median(v) for k, v in got.items()}
            worst = {k: 1000 * max(v) for k, v in got.items()}
            print("%5d RCPT (%6d bytes): smtp-sink median %7.3f ms (max %7.3f),"
                  " fakemx median %7.3f ms (max %7.3f), ratio fakemx/smtp-sink"
                  " %.2f" % (n, nbytes, ms["sink"], worst["sink"],
                             ms["fakemx"], worst["fakemx"],
                             ms["fakemx"] / ms["sink"]))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)


if __name__ == "__main__":
    main()
