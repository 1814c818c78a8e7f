"""relay/tests/extlab.py — what the tests against real outside daemons
(Dovecot's auth service, postgrey, policyd-spf) share: a private work
directory, processes that are always stopped, the relay and a fakemx
sink started on loopback, and a small SMTP client that reads whole
replies (a judge of its own: it shares no code with the relay).

A test that lacks a Debian package exits 77 (CTest's SKIP_RETURN_CODE)
naming the package. Loopback only; every wait is bounded."""
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "bench"))
import lab  # noqa: E402
from lab import free_port  # noqa: E402,F401

SKIP = 77


def need(path, package):
    """Skip the test (exit 77) when package's program path is missing."""
    if not os.path.exists(path):
        print("SKIP: %s not installed (Debian package %s)" % (path, package))
        sys.exit(SKIP)


class Lab:
    """A work directory and the processes started in it; stop() ends
    them all (terminate, then kill after a bounded wait)."""

    def __init__(self, name, deadline=120):
        self.name = name
        self.deadline = time.monotonic() + deadline
        self.work = tempfile.mkdtemp(prefix="mxlab-%s-" % name)
        # Started as root, the relay and the daemons' workers run as other
        # users: they must reach their files.
        os.chmod(self.work, 0o755)
        self.procs = []
        self.failed = False

    def path(self, *parts):
        return os.path.join(self.work, *parts)

    def write(self, rel, text, mode=0o644):
        p = self.path(rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)
        return p

    def start(self, args, log, **kw):
        out = open(self.path(log), "a")
        p = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                             **kw)
        self.procs.append(p)
        return p

    def wait_port(self, port, proc, host="127.0.0.1"):
        while time.monotonic() < self.deadline:
            if proc.poll() is not None:
                self.fail("process exited early: %s" % (proc.args,))
            try:
                socket.create_connection((host, port), 0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        self.fail("nothing listens on %s:%d" % (host, port))

    def wait_for(self, what, cond):
        """Poll cond() until true (bounded by the test's deadline)."""
        while time.monotonic() < self.deadline:
            if cond():
                return
            time.sleep(0.05)
        self.fail("timed out waiting for %s" % what)

    def fail(self, msg):
        self.failed = True
        sys.stderr.write("%s: FAIL: %s (work kept in %s)\n"
                         % (self.name, msg, self.work))
        self.stop()
        sys.exit(1)

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        self.procs = []

    def finish(self):
        self.stop()
        # Under the sanitizer build (ci/sanitize) a report in the relay's
        # output fails the test, leaks at exit included.
        out = self.path("relay.log")
        text = open(out, errors="replace").read() if os.path.exists(out) \
            else ""
        for bad in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                    "runtime error:"):
            if bad in text:
                self.fail("the relay's output has %r" % bad)
        if not self.failed:
            shutil.rmtree(self.work, ignore_errors=True)
        print("%s: ok" % self.name)

    # The mail side: fakemx as the upstream, the relay under test.

    def fakemx(self):
        port = free_port()
        os.makedirs(self.path("dump"), exist_ok=True)
        p = self.start([BIN + "/mxlab-fakemx", "--listen",
                        "127.0.0.1:%d" % port, "--dump", self.path("dump")],
                       "fakemx.log")
        self.wait_port(port, p)
        return port

    def delivered(self):
        p = self.path("dump", "fakemx.jsonl")
        return open(p, "rb").read() if os.path.exists(p) else b""

    def relay(self, main_cf, master_cf, ports):
        os.makedirs(self.path("queue"), exist_ok=True)
        self.write("relay/main.cf", main_cf)
        self.write("relay/master.cf", master_cf)
        p = self.start([BIN + "/mxlab-relay", "-c", self.path("relay")],
                       "relay.log")
        for port in ports:
            self.wait_port(port, p)
        return p

    def mx_main_cf(self, sink, policy, extra=""):
        """main.cf of seed 003's MX role (relay_domains = minet.net, to
        the fakemx sink) asking the policy server policy at RCPT."""
        return ("myhostname = mx1.minet.net\nmydestination =\n"
                "relay_domains = minet.net\nmynetworks = 127.0.0.0/32\n"
                "compatibility_level = 3.6\n"
                "relayhost = [127.0.0.1]:%d\nqueue_directory = %s/queue\n"
                "maillog_file = %s/maillog\n"
                "smtpd_recipient_restrictions = permit_mynetworks, "
                "reject_unauth_destination,\n"
                "    check_policy_service %s\n%s"
                % (sink, self.work, self.work, policy, extra))

    def maillog(self):
        p = self.path("maillog")
        return open(p).read() if os.path.exists(p) else ""

    def tls_cert(self, cn):
        """A self-signed P-256 certificate: (cert, key) paths."""
        crt, key = self.path("tls.crt"), self.path("tls.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                        "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", key, "-out", crt, "-days", "2",
                        "-subj", "/CN=" + cn], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.chmod(key, 0o644)
        return crt, key


BIN = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/bin"


class LmtpServer:
    """A small LMTP server (RFC 2033, a judge of its own) on a UNIX socket,
    as Dovecot's private/dovecot-lmtp: LHLO, then after the final dot one
    reply per recipient, 550 for a local part starting with "inconnu",
    else 250 "Saved". lines: every command line it read; rcpts: the
    recipients of each transaction. Its thread ends with close()."""

    def __init__(self, path):
        self.path = path
        self.lines = []
        self.rcpts = []
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(4)
        os.chmod(path, 0o777)  # the relay drops root before it connects
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        # A session per thread: the relay keeps idle connections for
        # reuse and runs several deliveries at once.
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,),
                             daemon=True).start()

    def _session(self, conn):
        try:
            self._talk(conn)
        except OSError:
            pass  # the client went away
        conn.close()

    def _talk(self, conn):
        f = conn.makefile("rb")
        conn.sendall(b"220 imap.test LMTP ready\r\n")
        rcpts = []
        while True:
            line = f.readline().decode().rstrip("\r\n")
            verb = line[:4].upper()
            self.lines.append(line)
            if not line or verb == "QUIT":
                conn.sendall(b"221 2.0.0 Bye\r\n")
                return
            if verb == "LHLO":
                conn.sendall(b"250-imap.test\r\n250 PIPELINING\r\n")
            elif verb == "RCPT":
                rcpts.append(line.split("<", 1)[1].split(">", 1)[0])
                conn.sendall(b"250 2.1.5 Ok\r\n")
            elif verb == "DATA":
                conn.sendall(b"354 Go ahead\r\n")
                while f.readline() not in (b".\r\n", b""):
                    pass
                for r in rcpts:
                    if r.startswith("inconnu"):
                        conn.sendall(b"550 5.1.1 <%s> User unknown\r\n"
                                     % r.encode())
                    else:
                        conn.sendall(b"250 2.0.0 <%s> Saved\r\n"
                                     % r.encode())
                self.rcpts.append(rcpts)
                rcpts = []
            else:
                conn.sendall(b"250 2.0.0 Ok\r\n")

    def close(self):
        self.srv.close()


class Client:
    """One SMTP session; reply() returns a whole reply as a list of
    lines ("250-x", "250 y"); "" when the server closed."""

    def __init__(self, lab_, port, src="127.0.0.1", wrap=False):
        self.lab = lab_
        self.sock = socket.socket()
        self.sock.settimeout(15)
        self.sock.bind((src, 0))
        self.sock.connect(("127.0.0.1", port))
        if wrap:
            self._tls()
        self.f = self.sock.makefile("rb")

    def _tls(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock)

    def reply(self):
        lines = []
        while True:
            line = self.f.readline().decode("utf-8", "replace")
            if line == "":
                return lines
            lines.append(line.rstrip("\r\n"))
            if len(line) < 4 or line[3] != "-":
                return lines

    def send(self, line):
        self.sock.sendall(line.encode() + b"\r\n")

    def cmd(self, line, want):
        """Send line; the reply's last line must start with want."""
        self.send(line)
        r = self.reply()
        if not r or not r[-1].startswith(want):
            self.lab.fail("%r: expected %r, got %r" % (line, want, r))
        return r

    def starttls(self):
        self.cmd("STARTTLS", "220 ")
        self._tls()
        self.f = self.sock.makefile("rb")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
