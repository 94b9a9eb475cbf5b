"""`srem control` and `srem replay` beside `srem deploy`, run as a user would: a k=2
fat-tree is deployed, the controller re-places it for two steps while the day's traffic
of those steps is replayed, and nothing is lost; deploy then removes everything. And
the one-line refusals of both commands."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from controller.fabric.inventory import Deployment, ServerHost
from controller.fabric.servers import NFHost
from emulation.mininet import missing
from placement.model import scenario as sc
from tests.conftest import k2_scenario

SREM = str(Path(sys.executable).parent / "srem")


def srem(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([SREM, *args], capture_output=True, text=True, timeout=timeout)


def refused(p: subprocess.CompletedProcess, *words: str) -> None:
    """One line on stderr, exit status 2, no traceback."""
    assert p.returncode == 2, p.stdout + p.stderr
    assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    why = missing()
    for w in words if why is None else (why,):
        assert w in p.stderr, p.stderr


def fake_deployment(tmp_path: Path, pid: int) -> Path:
    """A well-formed fabric.json (small scenario) whose deploy is process `pid`."""
    (tmp_path / "scenario.yaml").write_text(sc.dump(k2_scenario()))
    nf = NFHost(999_999_999, tmp_path / "nf.yaml", tmp_path / "nf.log")
    dep = Deployment(
        tmp_path / "scenario.yaml", 0, "srem", pid,
        {n: ("127.0.0.1:1", i) for i, n in enumerate(["agg0_0", "agg1_0", "core0", "edge0_0", "edge1_0"])},
        {n: ServerHost(999_999_999, nf) for n in ["srv_edge0_0_0", "srv_edge1_0_0"]},
    )  # fmt: skip
    path = tmp_path / "fabric.json"
    dep.write(path)
    return path


def test_control_and_replay_refuse_bad_fabric_files_and_agents(tmp_path):
    for cmd in ("control", "replay"):
        refused(srem(cmd, "--fabric", str(tmp_path / "none.json")), "run srem deploy first")
    garbled = tmp_path / "garbled.json"
    garbled.write_text("{not json")
    refused(srem("control", "--fabric", str(garbled)), "not a fabric.json written by srem deploy")
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"core0": {"grpc": "127.0.0.1:1", "device_id": 0}}))
    refused(srem("replay", "--fabric", str(old)), "not a fabric.json of this srem")
    stopped = fake_deployment(tmp_path, pid=999_999_999)  # no such process: the deploy is gone
    refused(srem("control", "--fabric", str(stopped), "--agent", "greedy"), "not running")
    refused(srem("replay", "--fabric", str(stopped)), "not running")
    refused(srem("control", "--fabric", str(stopped), "--agent", "bogus"), "--agent: bogus")
    refused(srem("control", "--fabric", str(stopped), "--interval", "0"), "--interval")


def test_shell_refuses_an_unknown_switch_of_a_deployment(tmp_path):
    p = srem("shell", "edge9", "--fabric", str(fake_deployment(tmp_path, os.getpid())))
    assert p.returncode == 2 and "no such switch" in p.stderr and "core0" in p.stderr


def _alive(pid: int) -> bool:
    try:
        return bool(Path(f"/proc/{pid}/cmdline").read_bytes())
    except OSError:
        return False


@pytest.mark.skipif(missing() is not None, reason=str(missing()))
def test_control_reconfigures_under_replayed_traffic_beside_deploy(tmp_path):
    (tmp_path / "small.yaml").write_text(sc.dump(k2_scenario()))
    out = tmp_path / "deploy"
    dep = subprocess.Popen([SREM, "deploy", "--scenario", str(tmp_path / "small.yaml"), "--out", str(out)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    guard = threading.Timer(240, dep.kill)  # a hung deploy fails the test instead of hanging it
    guard.start()
    procs = []
    try:
        line = dep.stdout.readline()
        assert "2 servers up" in line and "NF tables in EM" in line, line + dep.stdout.read(2000)
        fabric = out / "fabric.json"
        published = Deployment.load(fabric)
        ctl = subprocess.Popen(
            [SREM, "control", "--fabric", str(fabric), "--agent", "greedy", "--steps", "3", "--interval", "5",
             "--out", str(tmp_path / "control")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        procs.append(ctl)
        first = ctl.stdout.readline()  # the controller is up: it read the switches back
        assert "read back" in first, first + ctl.stdout.read(2000)
        rep = subprocess.Popen(
            [SREM, "replay", "--fabric", str(fabric), "--steps", "3", "--seconds-per-step", "3",
             "--pps-budget", "100", "--drain", "5", "--out", str(tmp_path / "replay")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        procs.append(rep)
        second = srem("control", "--fabric", str(fabric), "--agent", "greedy", "--out", str(tmp_path / "c2"))
        refused(second, "another controller holds the switches")
        c_out, _ = ctl.communicate(timeout=180)
        r_out, _ = rep.communicate(timeout=180)
        assert ctl.returncode == 0, c_out[-3000:]
        assert rep.returncode == 0, r_out[-3000:]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        dep.send_signal(signal.SIGINT)
        rest, _ = dep.communicate(timeout=90)
        guard.cancel()
    assert dep.returncode == 0 and "removed" in rest, rest

    control = json.loads((tmp_path / "control" / "results.json").read_text())
    assert control["startup"]["writes"] == 0  # deploy installed exactly the day's initial placement
    steps = control["steps"]
    assert len(steps) == 3
    assert any(st["moved"] for st in steps)  # the placement did change
    for st in steps:
        assert (st["writes"] > 0) == (st["moved"] > 0 or st["inserts"] + st["modifies"] + st["deletes"] > 0)
        assert st["writes"] == st["inserts"] + st["modifies"] + st["deletes"]
    assert sum(sum(st["counters"]["chain_in"].values()) for st in steps) > 0  # the replay's packets, counted
    # The NATs and LBs placed in EM were read from the memory servers by RDMA, and answered
    # (a READ in flight when the counters are read is answered in the next interval).
    rdma = [st["counters"]["rdma"] for st in steps]
    assert sum(r.get("response_ok", 0) for r in rdma) > 0 and sum(r.get("hit", 0) for r in rdma) > 0, rdma
    assert not any(r.get("fallback", 0) for r in rdma), rdma

    replay = json.loads((tmp_path / "replay" / "results.json").read_text())
    assert "stands for" in replay["scaling"] and len(replay["steps"]) == 3
    for st in replay["steps"]:
        assert st["sent"] > 0 and st["delivered"] == st["sent"] and st["lost"] == 0, st
    assert "stands for" in r_out

    # Nothing is left: no link, no NF or namespace process, no fabric.json.
    assert not fabric.exists()
    time.sleep(0.5)
    # Links are named after the emulation's tag (other emulations may run on the machine).
    tag = next(iter(published.servers.values())).iface[
        :3
    ]  # tag (3 base-36 chars, maybe an "h"), then h, then index
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert len(tag) == 3 and not re.search(rf"^\d+: {tag}[sh]\d", links, re.M), links
    for h in published.servers.values():
        assert not _alive(h.ns_pid) and not _alive(h.nf.pid)
    assert published.mem  # memory servers, the controller's included, are gone with their hosts
    for m in published.mem.values():
        assert not _alive(m.ns_pid)
    left = subprocess.run(["pgrep", "-f", f"memserver --iface {tag}m"], capture_output=True, text=True)
    assert left.stdout == "", left.stdout
