"""bench/lab.py — what the Python benchmarks and tests share: a free
loopback port, and bounded waits for a server to accept connections."""
import os, random, socket, subprocess, sys, time


_given = set()


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
        return low if 2048 < low <= 65535 else 32768
    except (OSError, ValueError, IndexError):
        return 32768


def _port_free(port):
    """Free for TCP and UDP on every address: a wildcard bind without
    SO_REUSEADDR fails while any socket holds the port anywhere."""
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("", port))
            except OSError:
                return False
    return True


def free_port(ip="127.0.0.1"):
    """A port for a server to bind on ip (any loopback address): chosen at
    random below the kernel's ephemeral range, free for TCP and UDP, never
    twice in this process. Binding to port 0 and closing would hand out a
    port the kernel may give the next client socket of a parallel test
    before the server binds it ("Address already in use")."""
    del ip  # free on every address
    low, high = 10000, _ephemeral_low() - 1
    if high - low < 1000:
        low = 1024
    rng = random.SystemRandom()
    for _ in range(1000):
        port = rng.randint(low, high)
        if port not in _given and _port_free(port):
            _given.add(port)
            return port
    raise OSError("no free port in %d..%d" % (low, high))


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


def relay_config(work, main_extra, services):
    """Write a test relay's main.cf into work (myhostname, loopback
    mynetworks, queue and log under work, then main_extra) and its
    master.cf (one smtpd line per entry of services: "PORT" or
    "PORT\\n  -o name=value" lines)."""
    os.makedirs(work + "/queue", exist_ok=True)
    with open(work + "/main.cf", "w") as f:
        f.write("myhostname = relay.example.net\nmydestination =\n"
                "queue_directory = %s/queue\nmaillog_file = %s/maillog\n"
                % (work, work) + main_extra)
    with open(work + "/master.cf", "w") as f:
        for svc in services:
            port, _, rest = str(svc).partition("\n")
            f.write("127.0.0.1:%s inet n - n - - smtpd\n" % port)
            if rest:
                f.write(rest + "\n")


def stop_relay(relay, work, who):
    """SIGTERM, then a clean exit within 30 s (leak reports of the
    sanitizer build come then), or exit naming who."""
    relay.terminate()
    try:
        rc = relay.wait(timeout=30)
    except subprocess.TimeoutExpired:
        sys.exit("%s: the relay did not stop on SIGTERM" % who)
    if rc != 0:
        sys.exit("%s: the relay exited %d on SIGTERM: %s"
                 % (who, rc, open(work + "/stderr").read()[-3000:]))


def kill_all(procs):
    """Whatever is still running of procs is killed and reaped."""
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()
