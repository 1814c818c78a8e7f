"""harness/tests/check/rig.py — real SMTP servers for "mxlab check" tests,
each private, on its own loopback address and port, none disturbing the
host's installed Postfix or /etc:

  postfix   a private Postfix 3.7 (Debian's), closed (mynetworks is one
            trusted address) or open (mynetworks = 0.0.0.0/0), optionally
            with smtpd_forbid_bare_newline = yes
  exim      Debian 12's Exim 4.96 unpacked from its .debs (fetch-exim.sh),
            run with a private configuration modelled on Exim's default one
  aiosmtpd  Debian's python3-aiosmtpd Sink handler: accepts everything
  relay     mxlab's own reference relay (build/bin/mxlab-relay -c DIR)

Postfix and Exim run in a private mount namespace whose /etc/resolv.conf
names 127.0.0.53 (so nothing they look up leaves loopback) and, for Exim,
whose /etc/passwd holds the Debian-exim user the binary was built for.
Every server is told the same story: it receives mail for LOCAL
(local.example), trusts TRUSTED (127.0.0.2) and nobody else, and queues
without delivering. Waits are bounded; stop() ends what start() began.

As a program: rig.py BIN_DIR WORKDIR [KIND...] starts the servers, prints
"KIND smtp://IP:PORT" lines and stops them when stdin closes.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "..", "bench"))
import lab  # noqa: E402  (free_port)

HERE = os.path.dirname(os.path.abspath(__file__))
LOCAL = "local.example"
TRUSTED = "127.0.0.2"
START_LIMIT = 30


free_port = lab.free_port


def wait_port(ip, port, proc, who, logs=()):
    """Return once ip:port accepts; raise naming who (with its logs) if
    the process ends first or START_LIMIT seconds pass."""
    deadline = time.monotonic() + START_LIMIT
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            break
        try:
            socket.create_connection((ip, port), 0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    text = ""
    for path in logs:
        if os.path.exists(path):
            with open(path, errors="replace") as f:
                text += "\n--- %s\n%s" % (path, f.read()[-3000:])
    raise RuntimeError("%s: nothing listens on %s:%d%s" % (who, ip, port, text))


def make_cert(work, cn):
    key, crt = os.path.join(work, "key.pem"), os.path.join(work, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                    "-out", crt, "-days", "2", "-subj", "/CN=" + cn],
                   check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    os.chmod(key, 0o644)
    return key, crt


def namespace_script(work, inner, passwd_extra=None):
    """sh -c text that runs inner with a private resolv.conf (and passwd
    and group files with extra users) bound over the host's, only inside
    a mount namespace of its own."""
    resolv = os.path.join(work, "resolv.conf")
    with open(resolv, "w") as f:
        f.write("nameserver 127.0.0.53\noptions attempts:1 timeout:1\n")
    os.chmod(resolv, 0o644)
    binds = "mount --bind '%s' /etc/resolv.conf" % resolv
    if passwd_extra:
        for name, extra in (("passwd", passwd_extra[0]),
                            ("group", passwd_extra[1])):
            path = os.path.join(work, name)
            with open("/etc/" + name) as src, open(path, "w") as dst:
                dst.write(src.read() + extra)
            os.chmod(path, 0o644)
            binds += " && mount --bind '%s' /etc/%s" % (path, name)
    return binds + " && exec " + inner


class Server:
    """One running server: kind, ip, port, url, and stop()."""

    def __init__(self, kind, ip, port, work):
        self.kind, self.ip, self.port, self.work = kind, ip, port, work
        self.url = "smtp://%s:%d" % (ip, port)
        self.proc = None
        self.stopper = None

    def stop(self):
        if self.stopper is not None:
            subprocess.run(self.stopper, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=30)
            self.stopper = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def start_postfix(work, ip, opened=False, forbid_bare_newline=False):
    """A private Postfix: relay_domains = LOCAL, mynetworks TRUSTED (or
    everyone when opened); mail queued for a next hop that never answers
    (127.0.0.1:9, discard), so nothing leaves."""
    port = free_port(ip)
    conf, queue = os.path.join(work, "config"), os.path.join(work, "queue")
    data = os.path.join(work, "data")
    for d in (work, conf, queue, data):
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o755)
    shutil.chown(data, "postfix", "postfix")
    key, crt = make_cert(work, "postfix.example")
    main = """compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
maillog_file = {work}/maillog
maillog_file_prefixes = {work}
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = postfix.example
mydestination =
relay_domains = {local}
mynetworks = {nets}
alias_maps =
alias_database =
smtpd_peername_lookup = no
relayhost = [127.0.0.1]:9
transport_maps = inline:{{ {local}=discard: }}
defer_transports = smtp
smtpd_tls_security_level = may
smtpd_tls_cert_file = {crt}
smtpd_tls_key_file = {key}
""".format(queue=queue, data=data, work=work, ip=ip, local=LOCAL, key=key,
           crt=crt, nets="0.0.0.0/0" if opened else TRUSTED + "/32")
    if forbid_bare_newline:
        main += "smtpd_forbid_bare_newline = yes\n"
    with open(os.path.join(conf, "main.cf"), "w") as f:
        f.write(main)
    master = []
    with open("/etc/postfix/master.cf.proto") as f:
        for line in f:
            w = line.split()
            if line[:1] in ("#", " ", "\t", "\n") or len(w) < 8:
                master.append(line)
            elif w[0] == "smtp" and w[1] == "inet":
                continue
            else:
                w[4] = "n"  # no chroot: the queue is not set up for it
                master.append(" ".join(w) + "\n")
    master.append("%s:%d inet n - n - - smtpd\n" % (ip, port))
    with open(os.path.join(conf, "master.cf"), "w") as f:
        f.writelines(master)
    srv = Server("postfix-open" if opened else "postfix", ip, port, work)
    log = open(os.path.join(work, "postfix.stderr"), "w")
    srv.proc = subprocess.Popen(
        ["unshare", "-m", "sh", "-c", namespace_script(
            work, "/usr/sbin/postfix -c '%s' start-fg" % conf)],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    srv.stopper = ["/usr/sbin/postfix", "-c", conf, "stop"]
    try:
        wait_port(ip, port, srv.proc, "postfix",
                  [log.name, os.path.join(work, "maillog")])
    except Exception:
        srv.stop()
        raise
    return srv


EXIM_CONF = """# Private Exim for mxlab's check tests, after Exim's default configure.
primary_hostname = exim.example
qualify_domain = {local}
domainlist local_domains = {local}
domainlist relay_to_domains =
hostlist relay_from_hosts = <; {trusted}
daemon_smtp_ports = {port}
local_interfaces = <; {ip}
spool_directory = {work}/spool
log_file_path = {work}/log/%slog
pid_file_path = {work}/exim.pid
exim_user = Debian-exim
exim_group = Debian-exim
never_users = root
host_lookup =
rfc1413_hosts =
queue_only = true
keep_environment =
tls_advertise_hosts = *
tls_certificate = {crt}
tls_privatekey = {key}
acl_smtp_rcpt = acl_check_rcpt
acl_smtp_data = acl_check_data

begin acl

acl_check_rcpt:
  accept  hosts = :
  deny    domains = +local_domains
          local_parts = ^[.] : ^.*[@%!/|]
          message = Restricted characters in address
  deny    domains = !+local_domains
          local_parts = ^[./|] : ^.*[@%!] : ^.*/\\\\.\\\\./
          message = Restricted characters in address
  accept  local_parts = postmaster
          domains = +local_domains
  accept  hosts = +relay_from_hosts
          control = submission
  accept  domains = +local_domains
  deny    message = relay not permitted

acl_check_data:
  accept

begin routers

local_domains:
  driver = redirect
  domains = +local_domains
  data = :blackhole:

nowhere:
  driver = manualroute
  route_list = * 127.0.0.1::9 byname
  transport = remote_smtp

begin transports

remote_smtp:
  driver = smtp
"""


class EximUnavailable(Exception):
    """Debian's Exim packages could not be downloaded (fetch-exim.sh)."""


def start_exim(work, ip, cache):
    """Exim 4.96 from Debian's .debs (fetched into cache once)."""
    p = subprocess.run([os.path.join(HERE, "fetch-exim.sh"), cache],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if p.returncode != 0:
        raise EximUnavailable("fetch-exim.sh %s: exit %d: %s"
                              % (cache, p.returncode, p.stderr.strip()))
    root = p.stdout.strip()
    port = free_port(ip)
    for d in ("spool", "log"):
        os.makedirs(os.path.join(work, d), exist_ok=True)
    os.chmod(work, 0o755)
    key, crt = make_cert(work, "exim.example")
    conf = os.path.join(work, "exim.conf")
    with open(conf, "w") as f:
        f.write(EXIM_CONF.format(local=LOCAL, trusted=TRUSTED, port=port,
                                 ip=ip, work=work, key=key, crt=crt))
    libdirs = ":".join(os.path.join(root, "usr/lib", d)
                       for d in os.listdir(os.path.join(root, "usr/lib"))
                       if d.endswith("-linux-gnu"))
    uid = "Debian-exim:x:64999:64999::/nonexistent:/usr/sbin/nologin\n"
    gid = "Debian-exim:x:64999:\n"
    subprocess.run(["chown", "-R", "64999:64999", os.path.join(work, "spool"),
                    os.path.join(work, "log")], check=True)
    inner = "env LD_LIBRARY_PATH='%s' '%s/usr/sbin/exim4' -C '%s' -bdf" % (
        libdirs, root, conf)
    srv = Server("exim", ip, port, work)
    log = open(os.path.join(work, "exim.stderr"), "w")
    srv.proc = subprocess.Popen(
        ["unshare", "-m", "sh", "-c",
         namespace_script(work, inner, (uid, gid))],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        wait_port(ip, port, srv.proc, "exim",
                  [log.name, os.path.join(work, "log", "mainlog"),
                   os.path.join(work, "log", "paniclog")])
    except Exception:
        srv.stop()
        raise
    return srv


def start_aiosmtpd(work, ip):
    """aiosmtpd's Sink handler: every command accepted, nothing kept."""
    port = free_port(ip)
    os.makedirs(work, exist_ok=True)
    srv = Server("aiosmtpd", ip, port, work)
    log = open(os.path.join(work, "aiosmtpd.stderr"), "w")
    srv.proc = subprocess.Popen(
        ["/usr/bin/python3", "-m", "aiosmtpd", "-n", "-c",
         "aiosmtpd.handlers.Sink", "-l", "%s:%d" % (ip, port)],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        wait_port(ip, port, srv.proc, "aiosmtpd", [log.name])
    except Exception:
        srv.stop()
        raise
    return srv


def start_relay(work, ip, bindir):
    """mxlab's reference relay with the same story as the others."""
    port = free_port(ip)
    os.makedirs(os.path.join(work, "queue"), exist_ok=True)
    os.chmod(work, 0o755)
    key, crt = make_cert(work, "relay.example")
    with open(os.path.join(work, "main.cf"), "w") as f:
        f.write("""myhostname = relay.example
mydestination =
relay_domains = {local}
mynetworks = {trusted}/32
queue_directory = {work}/queue
maillog_file = {work}/maillog
relayhost = [127.0.0.1]:9
transport_maps = inline:{{ {local}=discard: }}
defer_transports = smtp
smtpd_tls_security_level = may
smtpd_tls_cert_file = {crt}
smtpd_tls_key_file = {key}
""".format(local=LOCAL, trusted=TRUSTED, work=work, key=key, crt=crt))
    with open(os.path.join(work, "master.cf"), "w") as f:
        f.write("%s:%d inet n - n - - smtpd\n" % (ip, port))
    srv = Server("relay", ip, port, work)
    log = open(os.path.join(work, "relay.stderr"), "w")
    srv.proc = subprocess.Popen([os.path.join(bindir, "mxlab-relay"), "-c",
                                 work], stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL)
    try:
        wait_port(ip, port, srv.proc, "relay",
                  [log.name, os.path.join(work, "maillog")])
    except Exception:
        srv.stop()
        raise
    return srv


# kind -> (loopback address, starter(work, ip, bindir, cache))
KINDS = {
    "relay": ("127.0.0.11", lambda w, ip, b, c: start_relay(w, ip, b)),
    "postfix": ("127.0.0.12", lambda w, ip, b, c: start_postfix(w, ip)),
    "postfix-open": ("127.0.0.13",
                     lambda w, ip, b, c: start_postfix(w, ip, opened=True)),
    "postfix-nobare": ("127.0.0.14", lambda w, ip, b, c: start_postfix(
        w, ip, forbid_bare_newline=True)),
    "exim": ("127.0.0.15", lambda w, ip, b, c: start_exim(w, ip, c)),
    "aiosmtpd": ("127.0.0.16", lambda w, ip, b, c: start_aiosmtpd(w, ip)),
}


def start(kind, work, bindir, cache):
    """Start one server of KINDS in work/kind."""
    ip, starter = KINDS[kind]
    srv = starter(os.path.join(work, kind), ip, bindir, cache)
    srv.kind = kind
    return srv


def main():
    bindir, work = sys.argv[1], sys.argv[2]
    kinds = sys.argv[3:] or list(KINDS)
    running = []
    try:
        for k in kinds:
            running.append(start(k, work, bindir,
                                 os.path.join(work, "exim-cache")))
            print(k, running[-1].url, flush=True)
        sys.stdin.read()
    finally:
        for s in running:
            s.stop()


if __name__ == "__main__":
    main()
