"""bench/lab.py — what the Python benchmarks share: a free loopback port,
and a bounded wait for a server to accept connections."""
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
