"""`srem predict replay` at minimal scale on the emulated fabric (root, Mininet): a server
holding a VNF fails for one slot; with no policy its chains lose packets, with the oracle the
VNF is moved before, under traffic, and no packet is lost."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from emulation.failures import ReplaySetup, agent_placement, make_plan, play
from emulation.mininet import missing
from placement.model.workload import build_problem
from prediction.metrics import Failure
from tests.conftest import k2_scenario

pytestmark = pytest.mark.skipif(missing() is not None, reason=str(missing()))


def test_oracle_moves_before_the_failure_and_loses_nothing(tmp_path):
    problem = build_problem(k2_scenario())
    S = problem.sub.n_servers
    day = problem.day("test", 0)

    def setup_at(step: int) -> ReplaySetup:
        return ReplaySetup(scenario="k2-small", step=step, policies=("none", "oracle"), slots=3, per_slot=8,
                           seconds_per_slot=1.5, pps_budget=120, max_chains=4)  # fmt: skip

    def servers_used(step: int) -> list[int]:
        """Servers holding a VNF of a chain the replay plays at this step."""
        plan = make_plan(setup_at(step), problem, None, None)
        a = plan.day.assign[plan.chains]
        return sorted({int(h) for h in plan.day.initial[a[a >= 0]] if h < S})

    step = next(t for t in range(day.n_steps) if servers_used(t))
    setup, victim = setup_at(step), servers_used(step)[0]
    assert (agent_placement(problem, day, step, "greedy") == victim).any()
    schedule = [[Failure(8, 16)] if s == victim else [] for s in range(S)]  # down for slot 1
    plan = make_plan(setup, problem, None, None, schedule=schedule)
    assert plan.failing and victim in plan.failing
    assert plan.moves_at["none"] == [] and plan.moves_at["oracle"][0][0] == 0  # the oracle moves at once
    assert not (plan.placements["oracle"][0] == victim).any()
    res = {r.policy: r for r in play(plan, setup, tmp_path)}
    none, oracle = res["none"].totals(), res["oracle"].totals()
    assert none["sent"] > 0 and oracle["sent"] > 0
    assert oracle["lost"] == 0, oracle  # moved under traffic, make-before-break: nothing lost
    assert oracle["moves"] >= 1 and oracle["wasted"] == 0 and oracle["early"] >= 1
    # without a policy, the chains through the failed server lose their packets in slot 1 only
    lost = [sum(res["none"].sent[s].values()) - sum(res["none"].delivered[s].values()) for s in range(3)]
    assert lost[0] == 0 and lost[1] > 0 and lost[2] == 0, lost
    assert np.isfinite(res["oracle"].apply_s).all()
    assert dataclasses.asdict(setup)["policies"] == ("none", "oracle")
