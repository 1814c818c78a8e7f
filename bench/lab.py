"""bench/lab.py — what the Python benchmarks and tests share: a free
loopback port, and bounded waits for a server to accept connections."""
import socket, sys, time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_listening(port, who, limit=10):
    """Return once 127.0.0.1:port accepts, or exit naming who."""
    deadline = time.monotonic() + limit
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                sys.exit("%s: the relay does not listen" % who)
            time.sleep(0.02)


def wait_port(port, proc, deadline, who):
    """Return once 127.0.0.1:port accepts; exit naming who if proc ends
    first or the monotonic deadline passes."""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("%s: process exited early: %s" % (who, proc.args))
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    sys.exit("%s: nothing listens on port %d" % (who, port))
