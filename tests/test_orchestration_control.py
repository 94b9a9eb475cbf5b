"""`srem control --orchestration` beside `srem deploy`, as a user runs it: the controller
process holds the switches (one session each, election id 1: no `srem orch` beside it),
starts the NAT service's first instance and runs the loop between its two steps. The test
sends the service's six flows at 240 packets/s from the deployed sending server: the loop
scales out and moves half of them; the receiver sees every packet, one translated source
per flow. Needs root and Mininet; skipped otherwise."""

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from controller.fabric.inventory import Deployment
from controller.orchestration.service import load
from emulation.mininet import missing
from placement.model import scenario as sc
from placement.model.workload import build_topology
from tests.conftest import k2_scenario
from topologies.addressing import plan

SREM = str(Path(sys.executable).parent / "srem")
FIXTURE = Path(__file__).parent / "fixtures" / "orchestration" / "k2.yaml"
pytestmark = [pytest.mark.skipif(missing() is not None, reason=str(missing())), pytest.mark.slow]


def in_host(pid: int, *argv: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(["mnexec", "-a", str(pid), sys.executable, *argv], text=True, **kw)


def test_srem_control_runs_the_loop_between_its_steps_on_its_own_sessions(tmp_path):
    (tmp_path / "small.yaml").write_text(sc.dump(k2_scenario()))
    out = tmp_path / "deploy"
    # EM off (the chains' NATs and LBs from LM): no memory servers to start, a shorter test.
    dep = subprocess.Popen([SREM, "deploy", "--scenario", str(tmp_path / "small.yaml"), "--no-em", "--out", str(out)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    guard = threading.Timer(240, dep.kill)
    guard.start()
    procs: list[subprocess.Popen] = []
    _, svc = load(FIXTURE)
    try:
        line = dep.stdout.readline()
        assert "2 servers up" in line, line + dep.stdout.read(2000)
        fabric = out / "fabric.json"
        hosts = Deployment.load(fabric).servers
        ctl = subprocess.Popen(
            [SREM, "control", "--fabric", str(fabric), "--agent", "greedy", "--steps", "2", "--interval", "20",
             "--orchestration", str(FIXTURE), "--out", str(tmp_path / "control")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        procs.append(ctl)
        # The first step runs at once (the loop waits meanwhile); the flows play after it,
        # in the 20 s before the second.
        lines = [ctl.stdout.readline() for _ in range(3)]
        assert "orchestration loop on" in lines[1] and " AR " in lines[2], "".join(lines) + ctl.stdout.read(
            2000
        )
        recv = in_host(hosts[svc.dst].ns_pid, "-m", "emulation.traffic", "recv", "--port", str(svc.dport),
                       "--seconds", "10", stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        procs.append(recv)
        assert recv.stderr.readline().strip() == "receiving"  # bound before the first packet
        ip = plan(build_topology(k2_scenario())).servers[svc.dst].ip
        flows = [f"{k}:{ip}:{svc.dport}:{svc.traffic.sport + k}:40" for k in range(6)]
        send = in_host(hosts[svc.src].ns_pid, "-m", "emulation.traffic", "send",
                       *[x for f in flows for x in ("--flow", f)], "--seconds", "6", stdout=subprocess.PIPE)  # fmt: skip
        procs.append(send)
        sent = json.loads(send.communicate(timeout=60)[0])["sent"]
        got = json.loads(recv.communicate(timeout=60)[0])["flows"]
        c_out, _ = ctl.communicate(timeout=180)
        assert ctl.returncode == 0, c_out[-3000:]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        dep.send_signal(signal.SIGINT)
        rest, _ = dep.communicate(timeout=90)
        guard.cancel()
    assert dep.returncode == 0 and "removed" in rest, rest
    log = [json.loads(x) for x in (tmp_path / "control" / "orchestration.jsonl").read_text().splitlines()]
    moves = [r["outcome"] for r in log if r["type"] == "action"]  # what to read when a packet is missing
    # Every packet through the NAT, one translated source per flow.
    for k in range(6):
        g = got[str(k)]
        assert g["received"] == sent[str(k)] and g["reordered"] == 0, (k, g, sent, moves)
        assert len(g["sources"]) == 1 and g["sources"][0].startswith("10.250.0.1:"), g
    acts = [(r["decision"]["kind"], "error" not in r) for r in log if r["type"] == "action"]
    assert acts[:2] == [("scale-out", True), ("move", True)], acts
    doc = json.loads((tmp_path / "control" / "results.json").read_text())
    ivs = [st["orchestration"] for st in doc["steps"]]
    assert len(ivs) == 2 and sum(iv["flows_moved"] for iv in ivs) >= 3, ivs
    assert doc["orchestration_summary"]["moves_rolled_back"] == 0
    assert (tmp_path / "control" / "timeline.png").stat().st_size > 1000
