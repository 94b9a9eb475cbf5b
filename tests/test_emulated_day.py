"""A whole (small) day on the emulated fabric: the greedy agent places every step, the
controller reconfigures switches and server NFs while the step's traffic flows, and no
packet is lost. Needs root and Mininet; skipped otherwise."""

import dataclasses

import pytest

from controller.emulate import emulate_day
from placement import scenario as sc
from placement.agents import make_agent
from placement.workload import build_problem, build_topology
from topologies.addressing import plan
from topologies.emulation import missing

pytestmark = pytest.mark.skipif(missing() is not None, reason=str(missing()))


def test_a_day_reconfigured_under_traffic_loses_no_packet(tmp_path):
    s = sc.default()
    s = dataclasses.replace(
        s,
        topology=dataclasses.replace(s.topology, builder="fattree", k=2),  # 5 switches, 2 servers
        workload=dataclasses.replace(s.workload, chains=6),
    )
    problem = build_problem(s)
    day = problem.day("test", 0)
    steps, rp = emulate_day(
        problem, day, make_agent("greedy", problem), plan(build_topology(s)),
        log_dir=tmp_path, seconds_per_step=2.0, pps_budget=300, min_pps=20,
    )  # fmt: skip
    assert len(steps) == day.n_steps
    assert sum(st.writes for st in steps) > 0  # the placement did change
    assert any(st.model.on_server for st in steps)  # some NFs ran as software on a server
    played = [st for st in steps if st.chains_played]
    assert played and all(st.sent > 0 for st in played)
    for st in steps:
        assert st.lost == 0 and st.delivered == st.sent, st
        assert st.chains_played == round(st.model.acceptance_ratio * day.n_chains)
    assert "stands for" in rp.describe()
