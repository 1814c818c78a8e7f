#!/usr/bin/env python3
"""harness/tests/check/relay.py — the reference relay passes every battery
of "mxlab check" (exit 0, no finding) with a closed configuration and its
default settings (smtpd_forbid_bare_newline = normalize, Postfix 3.9's):
no smuggling sequence splits it. A failure names the findings.

usage: relay.py BIN_DIR WORKDIR
"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rig  # noqa: E402


def main():
    bindir, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    srv = rig.start("relay", work, bindir, None)
    try:
        p = subprocess.run([os.path.join(bindir, "mxlab"), "check", "--sut",
                            srv.url, "--domain", rig.LOCAL, "--report",
                            os.path.join(work, "report")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=600)
    finally:
        srv.stop()
    print(p.stdout)
    weak = [l for l in p.stdout.splitlines() if l.startswith("WEAK")]
    if p.returncode != 0 or weak:
        print("relay.py: mxlab check exit %d, %d finding(s):\n%s"
              % (p.returncode, len(weak), "\n".join(weak)))
        sys.exit(1)
    print("relay.py: ok")


if __name__ == "__main__":
    main()
