"""The orchestration loop inside the emulated day (issue 17's done-when, at small scale):
on the k=2 fabric, a NAT service's six flows surge in the first step (injected overload),
the loop scales out and moves half the flows order-preserving; in the second step the
base rate leaves two idle instances and one is drained and stopped. The placement agent
re-places the chains at each boundary meanwhile, and its reconcile keeps the service's
steering. The receiver counts every flow's packets: nothing lost or reordered, one
translated source per flow all along. EM off (the chains' NATs and LBs served from LM): no
memory servers to start, a shorter test. Needs root and Mininet; skipped otherwise."""

import json
from pathlib import Path

import pytest

from controller.orchestration.service import load
from emulation.day import emulate_day
from emulation.mininet import missing
from placement.agents import make_agent
from placement.model.workload import build_problem, build_topology
from tests.conftest import k2_scenario
from topologies.addressing import plan

pytestmark = pytest.mark.skipif(missing() is not None, reason=str(missing()))
FIXTURE = Path(__file__).parent / "fixtures" / "orchestration" / "k2.yaml"


def test_injected_overload_scales_out_and_moves_then_scales_in_with_nothing_lost(tmp_path):
    s = k2_scenario()
    problem = build_problem(s)
    cfg, svc = load(FIXTURE)
    steps, _ = emulate_day(
        problem, problem.day("test", 0), make_agent("greedy", problem), plan(build_topology(s)),
        log_dir=tmp_path, seconds_per_step=6.0, pps_budget=300, min_pps=20, orchestration=(cfg, svc), steps=2, em=False,
    )  # fmt: skip
    assert len(steps) == 2
    first, second = (st.orchestration for st in steps)
    log = [json.loads(x) for x in (tmp_path / "orchestration.jsonl").read_text().splitlines()]
    acts = [r for r in log if r["type"] == "action"]
    assert all("error" not in a for a in acts), acts
    # Step 0 (240 packets/s on one instance, overload at 150): scale-out, then half the flows moved.
    assert first["records"].get("alert:overload", 0) >= 1, first
    kinds = [(a["decision"]["kind"], a["period"]) for a in acts]
    assert [k for k, p in kinds if p <= first["periods"][1]][:2] == ["scale-out", "move"], kinds
    assert first["flows_moved"] == 3 and len(first["instances"]) == 2, first
    # Step 1 (90 packets/s over two instances, underload at 60): one drained and stopped.
    assert [k for k, p in kinds if p > first["periods"][1]] == ["scale-in"], kinds
    assert len(second["instances"]) == 1, second
    for iv in (first, second):
        sv = iv["service"]
        assert sv["sent"] > 0 and sv["lost"] == 0 and sv["reordered"] == 0 and sv["duplicates"] == 0, sv
        assert sv["lost_by"] == {"during_moves": 0, "during_boundary": 0, "elsewhere": 0}
        assert iv["moves_rolled_back"] == 0 and iv["hold_overflow"] == 0 and iv["late"] == 0, iv
    # Per-flow state kept: every flow shows one translated source, the same in both steps,
    # and it is the NAT's public address (the packets were translated).
    sources = {
        k: set(first["service"]["sources"][k]) | set(second["service"]["sources"][k]) for k in range(6)
    }
    assert all(len(v) == 1 for v in sources.values()), sources
    assert all(next(iter(v)).startswith("10.250.0.1:") for v in sources.values()), sources
    assert len({next(iter(v)) for v in sources.values()}) == 6  # six flows, six mappings
