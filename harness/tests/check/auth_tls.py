#!/usr/bin/env python3
"""harness/tests/check/auth_tls.py — "mxlab check --service" on seed 003's
submission service (scenarios/seeds/003-minet-smtp-auth.scn): with the
seed's smtpd_tls_auth_only = yes no AUTH PLAIN or LOGIN is offered before
STARTTLS (auth-before-tls refused, exit 0); the same configuration with
smtpd_tls_auth_only = no offers them in clear (accepted, a weakness, exit
1). Judged the same on the relay and, as root, on a private Postfix.
A service the scenario does not define is a usage error (exit 2).

usage: auth_tls.py BIN_DIR SRC_DIR WORKDIR
"""
import json
import os
import shutil
import subprocess
import sys

BIN, SRC, WORK = (os.path.abspath(a) for a in sys.argv[1:4])
MXLAB = os.path.join(BIN, "mxlab")
SEED = os.path.join(SRC, "scenarios", "seeds", "003-minet-smtp-auth.scn")
failures = []


def check(cond, what):
    print(("PASS " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def run_check(sut, scn, report, service="submission"):
    p = subprocess.run([MXLAB, "check", "--sut", sut, "--battery", "starttls",
                        "--service", service, "--report", report, scn],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=300)
    print("=== %s %s --service %s: exit %d\n%s" % (sut, os.path.basename(scn),
                                                  service, p.returncode,
                                                  p.stdout), flush=True)
    res = None
    if os.path.exists(os.path.join(report, "results.json")):
        with open(os.path.join(report, "results.json")) as f:
            res = json.load(f)
    return p.returncode, res


def verdict(res, name):
    for t in (res or {}).get("tests", []):
        if t["battery"] == "starttls" and t["test"] == name:
            return t["verdict"]
    return None


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    with open(SEED) as f:
        text = f.read()
    check("smtpd_tls_auth_only = yes\n" in text,
          "the seed sets smtpd_tls_auth_only = yes")
    open_scn = os.path.join(WORK, "003-auth-in-clear.scn")
    with open(open_scn, "w") as f:
        f.write(text.replace("smtpd_tls_auth_only = yes\n",
                             "smtpd_tls_auth_only = no\n"))
    suts = ["relay"] + (["postfix"] if os.geteuid() == 0 else [])
    for sut in suts:
        rc, res = run_check(sut, SEED, os.path.join(WORK, sut + "-seed"))
        check(rc == 0 and verdict(res, "auth-before-tls") == "refused",
              "%s: seed 003 on submission: no plaintext AUTH before TLS, "
              "exit 0 (exit %d, %s)" % (sut, rc,
                                         verdict(res, "auth-before-tls")))
        check(verdict(res, "offered") == "accepted",
              "%s: seed 003 on submission offers STARTTLS" % sut)
        rc, res = run_check(sut, open_scn, os.path.join(WORK, sut + "-open"))
        check(rc == 1 and verdict(res, "auth-before-tls") == "accepted",
              "%s: smtpd_tls_auth_only = no: AUTH offered in clear is a "
              "weakness, exit 1 (exit %d, %s)"
              % (sut, rc, verdict(res, "auth-before-tls")))
    rc, _ = run_check("relay", SEED, os.path.join(WORK, "nosuch"), "nosuch")
    check(rc == 2, "--service nosuch: exit 2 (exit %d)" % rc)
    if failures:
        print("auth_tls.py: %d failed:\n  %s" % (len(failures),
                                                "\n  ".join(failures)))
        sys.exit(1)
    print("auth_tls.py: ok")


if __name__ == "__main__":
    main()
