#!/usr/bin/env python3
"""bench/mxlab-bench.py — benchmark (not a test) of mxlab bench, the load
generator, against its peer Postfix smtp-source, in the same run:

  client:  smtp-source and mxlab bench into Postfix's smtp-sink with the
           same connections, message count and size (smtp-source's -l is
           the body; mxlab bench's --size counts headers too, so it gets
           the bytes smtp-source sends); messages per second (wall clock,
           process start to exit, for both) and the client's CPU per
           message from /proc/PID/schedstat (read when it has exited and
           before it is reaped; user and kernel time, loopback TCP work in
           its system calls included). Targets: rate >= 1.5x, CPU <= 0.5x.
  servers: mxlab-fakemx against smtp-sink with mxlab bench as the client:
           both rates and each server's CPU per message (schedstat).

Two loads each: "conn" (one connection per message: smtp-source's default,
mxlab bench --per-connection 1) and "reuse" (smtp-source -d, mxlab bench's
default). Servers run on CPU 0, clients on CPU 1 (taskset), as
fakemx/bench/smtp-source.sh does; rounds alternate the order (ABBA) and
medians are reported, because the machine's other load moves every figure.
usage: mxlab-bench.py BIN_DIR [MESSAGES [CONNECTIONS [SIZE [ROUNDS]]]]
Environment: BENCH_PARTS ("client servers"), BENCH_MODES ("conn reuse"),
BENCH_PIN=0 turns pinning off. Loopback only; servers stopped on exit."""
import json, os, shutil, statistics, subprocess, sys, tempfile, time

from lab import free_port, wait_port

BIN = os.path.abspath(sys.argv[1])
MSGS = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
CONNS = int(sys.argv[3]) if len(sys.argv) > 3 else 20
SIZE = int(sys.argv[4]) if len(sys.argv) > 4 else 2048
ROUNDS = int(sys.argv[5]) if len(sys.argv) > 5 else 5
PARTS = os.environ.get("BENCH_PARTS", "client servers").split()
MODES = os.environ.get("BENCH_MODES", "conn reuse").split()
SOURCE_HEADERS = 116  # smtp-source -l 2048 sends 2164 bytes (fakemx saw)
LIMIT = 300           # seconds for one client run, at most
PIN = os.environ.get("BENCH_PIN", "1") != "0" and (os.cpu_count() or 1) >= 2
work = tempfile.mkdtemp(prefix="mxlab-bench-")
os.chmod(work, 0o755)
servers = []


def pinned(cpu, argv):
    return (["taskset", "-c", str(cpu)] + argv) if PIN else argv


def schedstat(pid):
    """CPU ns of every thread of pid so far."""
    total, base = 0, "/proc/%d/task" % pid
    for t in os.listdir(base):
        try:
            total += int(open("%s/%s/schedstat" % (base, t)).read().split()[0])
        except (OSError, ValueError):
            pass
    return total


def start(name, argv, port):
    p = subprocess.Popen(pinned(0, argv), stdout=subprocess.DEVNULL,
                         stderr=open("%s/%s.log" % (work, name), "w"))
    servers.append(p)
    wait_port(port, p, time.monotonic() + 10, "mxlab-bench")
    return p


def run_client(argv):
    """(wall seconds, client CPU ns): the CPU read from the exited,
    not yet reaped process, so all of its life counts."""
    t0 = time.monotonic()
    p = subprocess.Popen(pinned(1, argv), stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    deadline = t0 + LIMIT
    while True:
        info = os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        if info is not None:
            break
        if time.monotonic() > deadline:
            p.kill()
            sys.exit("mxlab-bench: %s did not finish in %d s" % (argv[0], LIMIT))
        time.sleep(0.002)
    wall = time.monotonic() - t0
    cpu = int(open("/proc/%d/schedstat" % p.pid).read().split()[0])
    err = p.stderr.read().decode(errors="replace")
    if p.wait() != 0:
        sys.exit("mxlab-bench: %s failed: %s" % (" ".join(argv), err[-500:]))
    return wall, cpu


def smtp_source(port, mode):
    argv = ["smtp-source", "-s", str(CONNS), "-m", str(MSGS), "-l", str(SIZE),
            "-f", "bench@source.test", "-t", "sink@bench.test",
            "127.0.0.1:%d" % port]
    return argv if mode == "conn" else argv[:1] + ["-d"] + argv[1:]


def mxlab_bench(port, mode, report):
    argv = [BIN + "/mxlab", "bench", "--quiet", "--sut",
            "smtp://127.0.0.1:%d" % port, "--messages", str(MSGS),
            "--connections", str(CONNS), "--size", str(SIZE + SOURCE_HEADERS),
            "--report", report]
    return argv + (["--per-connection", "1"] if mode == "conn" else [])


def measure(argv, server):
    """(msg/s, client us/msg, server us/msg) of one run."""
    s0 = schedstat(server.pid)
    wall, cpu = run_client(argv)
    s1 = schedstat(server.pid)
    return MSGS / wall, cpu / MSGS / 1e3, (s1 - s0) / MSGS / 1e3


def rounds(a, b):
    """ABBA rounds of two measurements (callables); medians of each."""
    ra, rb = [], []
    for r in range(ROUNDS):
        first, second = (a, b) if r % 2 == 0 else (b, a)
        x, y = first(), second()
        (ra, rb)[0 if first is a else 1].append(x)
        (ra, rb)[1 if first is a else 0].append(y)
        print("  round %d: %s" % (r + 1, "  ".join(
            "%.0f msg/s client %.1f us/msg server %.1f us/msg" % m
            for m in (ra[-1], rb[-1]))), flush=True)
    med = lambda rs: tuple(statistics.median(m[i] for m in rs) for i in range(3))
    return med(ra), med(rb)


def verdict(ok):
    return "met" if ok else "NOT met"


def part_client(sink, port):
    print("client: smtp-source vs mxlab bench into smtp-sink, %d messages, "
          "%d connections, %d-byte body, %d rounds%s" %
          (MSGS, CONNS, SIZE, ROUNDS, ", servers CPU 0, clients CPU 1" if PIN else ""))
    for mode in MODES:
        print(" load %s" % mode)
        src, mx = rounds(lambda: measure(smtp_source(port, mode), sink),
                         lambda: measure(mxlab_bench(port, mode, work + "/r"), sink))
        rr, cr = mx[0] / src[0], mx[1] / src[1]
        print(" %s: smtp-source %.0f msg/s, %.1f us/msg client CPU; mxlab bench "
              "%.0f msg/s, %.1f us/msg client CPU" % (mode, src[0], src[1], mx[0], mx[1]))
        print(" %s: rate mxlab/smtp-source %.2f (target >= 1.5: %s); CPU per "
              "message mxlab/smtp-source %.2f (target <= 0.5: %s)" %
              (mode, rr, verdict(rr >= 1.5), cr, verdict(cr <= 0.5)), flush=True)


def part_servers(sink, sport, fakemx, fport):
    print("servers: mxlab-fakemx vs smtp-sink, mxlab bench as the client, "
          "%d messages, %d connections, %d rounds" % (MSGS, CONNS, ROUNDS))
    for mode in MODES:
        print(" load %s" % mode)
        s, f = rounds(lambda: measure(mxlab_bench(sport, mode, work + "/r"), sink),
                      lambda: measure(mxlab_bench(fport, mode, work + "/r"), fakemx))
        print(" %s: smtp-sink %.0f msg/s, server %.1f us/msg; fakemx %.0f msg/s, "
              "server %.1f us/msg; rate fakemx/smtp-sink %.2f, server CPU "
              "smtp-sink/fakemx %.2f" % (mode, s[0], s[2], f[0], f[2], f[0] / s[0],
                                         s[2] / f[2]), flush=True)


def main():
    for tool in ("smtp-source", "smtp-sink"):
        if shutil.which(tool) is None and not os.path.exists("/usr/sbin/" + tool):
            sys.exit("mxlab-bench: %s is not installed (Debian: postfix)" % tool)
    os.environ["PATH"] += ":/usr/sbin"
    print("load average at the start: %s" % open("/proc/loadavg").read().strip())
    sport, fport = free_port(), free_port()
    sink = start("sink", ["smtp-sink", "-u", "nobody", "127.0.0.1:%d" % sport,
                          "256"], sport)
    if "client" in PARTS:
        part_client(sink, sport)
    if "servers" in PARTS:
        fakemx = start("fakemx", [BIN + "/mxlab-fakemx", "--listen",
                                  "127.0.0.1:%d" % fport, "--name", "bench.test",
                                  "--dump", "/dev/null"], fport)
        part_servers(sink, sport, fakemx, fport)
    print("load average at the end: %s" % open("/proc/loadavg").read().strip())


try:
    main()
finally:
    for p in servers:
        p.terminate()
        p.wait()
    shutil.rmtree(work, ignore_errors=True)
