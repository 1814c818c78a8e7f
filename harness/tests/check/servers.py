#!/usr/bin/env python3
"""harness/tests/check/servers.py — "mxlab check" against real servers
(rig.py): the reference relay, a private Postfix closed, open
(mynetworks = 0.0.0.0/0) and with smtpd_forbid_bare_newline = yes, Exim
4.96 from Debian's .debs, and aiosmtpd. Checks the verdicts:

  - closed servers (relay, Postfix, Exim) relay nothing; the open Postfix
    and aiosmtpd relay (nmap's 16 combinations and more);
  - Postfix 3.7 by default splits the <LF>.<LF> family of smuggling
    sequences and none with smtpd_forbid_bare_newline = yes; Exim splits
    none; every other battery passes on the closed servers;
  - nmap's smtp-open-relay on the same servers: every relay nmap finds,
    mxlab finds too; with smtp-open-relay.domain set to a domain the
    server receives for, nmap reports relays that are not (its false
    positive) and mxlab, told that domain is local, reports none;
  - the black-box scenarios (scenarios/blackbox) pass against Exim and
    the closed Postfix through "mxlab run --sut smtp://";
  - usage errors exit 2, --help names every battery and verdict.

Exim is downloaded from the Debian mirror (fetch-exim.sh); where that
cannot be reached, the other servers are judged and a "SKIP exim" line
says why. Prints each server's verdict table. Needs root (Postfix and Exim run in
mount namespaces); exit 77 otherwise. usage: servers.py BIN_DIR WORKDIR
"""
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rig  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
WORK = os.path.abspath(sys.argv[2])
MXLAB = os.path.join(BIN, "mxlab")
SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..",
                                   ".."))
OUTSIDE = "outside.example"
failures = []


def check(cond, what):
    print(("PASS " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def mxlab_check(srv, *extra):
    """Run mxlab check on srv; (exit code, results.json, stdout)."""
    report = os.path.join(WORK, "reports", srv.kind)
    p = subprocess.run([MXLAB, "check", "--sut", srv.url, "--domain",
                        rig.LOCAL, "--timeout", "10", "--report", report]
                       + list(extra), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=600)
    print("=== mxlab check --sut %s (%s), exit %d" % (srv.url, srv.kind,
                                                     p.returncode))
    print(p.stdout, flush=True)
    with open(os.path.join(report, "results.json")) as f:
        return p.returncode, json.load(f), p.stdout


def weak(res, battery):
    return {t["test"] for t in res["tests"]
            if t["battery"] == battery and t["weak"]}


def verdicts(res, battery):
    return {t["test"]: t["verdict"] for t in res["tests"]
            if t["battery"] == battery}


def nmap_relays(srv, domain):
    """The combinations nmap's smtp-open-relay reports as relaying, in
    mxlab's notation ("MAIL FROM:<x> / RCPT TO:<y>")."""
    p = subprocess.run(["nmap", "-Pn", "-n", "-vv", "-p", str(srv.port),
                        "-sV", "--version-light", "--script",
                        "smtp-open-relay", "--script-args",
                        "smtp-open-relay.domain=%s,smtp-open-relay.ip=%s"
                        % (domain, srv.ip), srv.ip],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=300)
    found = re.findall(r"^\|[ _]+(MAIL FROM:<.*?> -> RCPT TO:<.*>)\s*$",
                       p.stdout, re.M)
    summary = re.search(r"smtp-open-relay: (.*)", p.stdout)
    print("nmap %s domain=%s: %s" % (srv.kind, domain,
                                     summary.group(1) if summary else
                                     "no smtp-open-relay output"))
    check(summary is not None, "nmap ran smtp-open-relay on %s" % srv.kind)
    return {f.replace(" -> ", " / ") for f in found}


def compare_nmap(srv, res):
    """Every relay nmap finds, mxlab finds (as a weakness)."""
    ours = {t["sent"] for t in res["tests"]
            if t["battery"] == "open-relay" and t["weak"]}
    theirs = nmap_relays(srv, OUTSIDE)
    missed = theirs - ours
    check(not missed, "%s: mxlab finds every relay nmap finds (%d by nmap, "
          "%d by mxlab)%s" % (srv.kind, len(theirs), len(ours),
                              ": missed " + "; ".join(sorted(missed))
                              if missed else ""))
    return theirs


def usage_errors(srv):
    for args in (["--battery", "nosuch"], ["--sut", "smtp://"],
                 ["--sut", "http://x"], ["--timeout", "0"]):
        p = subprocess.run([MXLAB, "check", "--sut", srv.url] + args,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=60)
        check(p.returncode == 2 and p.stderr.strip() != "",
              "usage error %s: exit 2 with a reason" % " ".join(args))
    h = subprocess.run([MXLAB, "check", "--help"], stdout=subprocess.PIPE,
                       text=True, timeout=60)
    for word in ("open-relay", "smuggling", "starttls", "rfc5321", "refused",
                 "accepted", "split", "not applicable"):
        check(h.returncode == 0 and word in h.stdout,
              "--help documents %s" % word)
    dead = rig.free_port("127.0.0.1")
    p = subprocess.run([MXLAB, "check", "--sut", "smtp://127.0.0.1:%d" % dead,
                        "--report", os.path.join(WORK, "reports", "dead")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=60)
    check(p.returncode == 1 and "refused" in p.stderr,
          "a server that cannot be reached: exit 1 with the reason")


def blackbox(srv):
    """scenarios/blackbox, vendor-neutral, against a server we did not
    write."""
    p = subprocess.run([MXLAB, "run", "--sut", srv.url, "--report",
                        os.path.join(WORK, "reports", "run-" + srv.kind),
                        os.path.join(SRC, "scenarios", "blackbox")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=300)
    print(p.stdout)
    check(p.returncode == 0 and "2 passed, 0 failed" in p.stdout,
          "%s: scenarios/blackbox pass through mxlab run" % srv.kind)


def judge(servers):
    relay, pf, pfopen, pfnobare, exim, aio = (
        servers.get(k) for k in ("relay", "postfix", "postfix-open",
                                 "postfix-nobare", "exim", "aiosmtpd"))
    results = {}
    for srv in servers.values():
        results[srv.kind] = mxlab_check(srv)
    closed = [s for s in (relay, pf, pfnobare, exim) if s is not None]
    for srv in closed:
        rc, res, _ = results[srv.kind]
        check(not weak(res, "open-relay"), "%s: no relay" % srv.kind)
        check(verdicts(res, "open-relay")["control-local-recipient"]
              == "accepted", "%s: mail for %s accepted (control)"
              % (srv.kind, rig.LOCAL))
        for b in ("starttls", "rfc5321"):
            check(not weak(res, b), "%s: no weakness in %s" % (srv.kind, b))
    for srv in (pfopen, aio):
        rc, res, _ = results[srv.kind]
        check(rc == 1 and len(weak(res, "open-relay")) >= 16,
              "%s: relays (%d open-relay findings, exit %d)"
              % (srv.kind, len(weak(res, "open-relay")), rc))
    # Postfix 3.7's documented default: the bare-LF family splits.
    split_pf = weak(results["postfix"][1], "smuggling")
    check({"lf-dot-lf", "lf-dot-crlf", "crlf-dot-lf"} <= split_pf,
          "postfix 3.7 default splits <LF>.<LF> variants: %s"
          % " ".join(sorted(split_pf)))
    check(results["postfix"][0] == 1, "postfix default: exit 1")
    check(results["postfix-nobare"][0] == 0,
          "postfix with smtpd_forbid_bare_newline = yes: no weakness, exit 0")
    if exim is not None:
        check(results["exim"][0] == 0, "exim 4.96 closed: no weakness, exit 0")
    check(not weak(results["aiosmtpd"][1], "smuggling"),
          "aiosmtpd splits nothing")
    # nmap on the same targets.
    for srv in servers.values():
        compare_nmap(srv, results[srv.kind][1])
    for srv in (s for s in (pf, exim) if s is not None):
        fp = nmap_relays(srv, rig.LOCAL)
        check(len(fp) > 0 and not weak(results[srv.kind][1], "open-relay"),
              "%s: nmap with domain=%s reports %d relays that are deliveries "
              "to a local domain; mxlab reports none" % (srv.kind, rig.LOCAL,
                                                         len(fp)))
    for srv in (s for s in (exim, pf) if s is not None):
        blackbox(srv)
    usage_errors(pf)


def main():
    if os.geteuid() != 0:
        print("servers.py: needs root (private Postfix and Exim); skipped")
        sys.exit(77)
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    os.chmod(WORK, 0o755)
    cache = os.environ.get("MXLAB_EXIM_CACHE", "/tmp/mxlab-exim-cache")
    servers = {}
    try:
        for kind in rig.KINDS:
            try:
                servers[kind] = rig.start(kind, WORK, BIN, cache)
            except rig.EximUnavailable as e:
                # Exim is downloaded from the Debian mirror, never
                # installed (it would remove Postfix): without the mirror
                # the other servers are still judged, and this says so.
                print("SKIP exim: %s" % e, flush=True)
        judge(servers)
    finally:
        for s in servers.values():
            s.stop()
    if failures:
        print("servers.py: %d failed:\n  %s" % (len(failures),
                                                "\n  ".join(failures)))
        sys.exit(1)
    print("servers.py: ok")


if __name__ == "__main__":
    main()
