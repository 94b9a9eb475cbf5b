"""A whole (small) day on the emulated fabric: the greedy agent places every step, the
controller reconfigures switches and server NFs while the step's traffic flows, and no
packet is lost. Needs root and Mininet; skipped otherwise."""

import pytest

from emulation.day import emulate_day
from emulation.mininet import missing
from placement.agents import make_agent
from placement.model import scenario as sc
from placement.model.workload import build_problem, build_topology
from tests.conftest import k2_scenario
from topologies.addressing import plan

pytestmark = pytest.mark.skipif(missing() is not None, reason=str(missing()))


def test_a_day_reconfigured_under_traffic_loses_no_packet(tmp_path):
    s = k2_scenario()
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


def test_srem_run_emulate_prints_and_writes_the_measured_day(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    f = tmp_path / "small.yaml"
    f.write_text(sc.dump(k2_scenario()))
    srem = str(Path(sys.executable).parent / "srem")
    p = subprocess.run(
        [srem, "run", "--emulate", "--scenario", str(f), "--agent", "greedy", "--seconds-per-step", "1.5",
         "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    assert "measured on the emulated fabric" in p.stdout and "stands for" in p.stdout
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert "stands for" in data["scaling"] and len(data["steps"]) == 6
    assert all(st["lost"] == 0 for st in data["steps"])
    assert (tmp_path / "out" / "emulation.png").stat().st_size > 1000
