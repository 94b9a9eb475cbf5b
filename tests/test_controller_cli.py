"""`srem deploy` and `srem shell`, run as a user would: the paper's fabric comes up on
Mininet with its initial placement, p4runtime-shell reads a switch and, with --primary,
writes to it; Ctrl-C removes everything."""

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emulation.mininet import missing

SREM = str(Path(sys.executable).parent / "srem")


def test_shell_refuses_a_missing_fabric_or_switch(tmp_path):
    p = subprocess.run([SREM, "shell", "edge0_0", "--fabric", str(tmp_path / "none.json")],
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert p.returncode == 2 and "run srem deploy first" in p.stderr
    # An unknown switch of a well-formed fabric.json: tests/test_controller_live.py.


@pytest.mark.skipif(missing() is not None, reason=str(missing()))
def test_deploy_then_shell_then_ctrl_c(tmp_path):
    out = tmp_path / "deploy"
    dep = subprocess.Popen([SREM, "deploy", "--out", str(out)], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        line = dep.stdout.readline()
        assert "12 servers up" in line, line + dep.stdout.read(2000)
        fabric = json.loads((out / "fabric.json").read_text())
        tag = next(iter(fabric["servers"].values()))["iface"][:3]  # names its links
        assert len(fabric["switches"]) == 10 and len(fabric["servers"]) == 12
        script = 'print("SFF", len(list(table_entry["FabricIngress.sff.sff"].read())))\n'
        sh = subprocess.run([SREM, "shell", "edge0_0", "--fabric", str(out / "fabric.json")],
                            input=script, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert "read access" in sh.stdout  # a backup: the controller stays primary
        n = int(sh.stdout.split("SFF ")[1].split()[0])
        assert n > 0
    finally:
        dep.send_signal(signal.SIGINT)
        rest, _ = dep.communicate(timeout=60)
    assert dep.returncode == 0 and "removed" in rest
    time.sleep(0.5)
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    # Only this emulation's links: others may run on the machine.
    assert not re.search(rf"^\d+: {tag}[sh]\d", links, re.M), links
