"""The day-level MILP against brute force over every plan of a small day."""

import itertools

import numpy as np
import pytest

from placement.milp.day import MilpDayAgent, solve_day
from placement.model.simulate import DayRun, run_day
from placement.model.workload import Day
from tests.conftest import tiny_problem


def three_steps(initial: int) -> Day:
    """Two chains A -> fw -> B over three steps: busy, quiet, busy with a tight deadline."""
    return Day(
        split="test",
        index=0,
        hours=np.array([10, 12, 14]),
        working=np.array([True, False, True]),
        chain_types=np.array([[0], [0]]),
        chain_len=np.array([1, 1]),
        src=np.array([0, 0]),
        dst=np.array([1, 1]),
        rate=np.array([[80.0, 40.0], [0.5, 0.5], [80.0, 160.0]]),
        deadline=np.array([[20.0, 20.0], [40.0, 40.0], [12.0, 25.0]]),
        assign=np.array([[0], [0]]),
        initial=np.array([initial]),
    )


@pytest.mark.parametrize("initial", [0, 1, 4])
def test_day_milp_matches_brute_force_over_plans(initial):
    p, d = tiny_problem(), three_steps(initial)

    def day_reward(plan) -> float:
        run = DayRun(p, d)
        return sum(run.apply(np.array([h])).reward for h in plan)

    best = max(day_reward(plan) for plan in itertools.product(range(p.sub.n_hosts), repeat=3))
    res = solve_day(p, d, time_limit=60)
    assert res.optimal and res.found
    # One path between any two nodes: the MILP's fixed routes are the environment's.
    assert res.objective == pytest.approx(best, abs=1e-7)
    assert day_reward(res.plan[:, 0]) == pytest.approx(best, abs=1e-7)
    agent = MilpDayAgent(time_limit=60)
    assert sum(r.reward for r in run_day(p, d, agent)) == pytest.approx(best, abs=1e-7)
    assert "1 of 1 days proven optimal" in agent.note()


def test_no_incumbent_in_time_keeps_the_start_and_bounds_by_the_lp():
    from placement.model.workload import build_problem
    from tests.conftest import small_scenario

    p = build_problem(small_scenario(chains=6, types=2, per_type=1))
    d = p.day("test", 0)
    lost = solve_day(p, d, time_limit=1e-6, lp_time_limit=60)
    assert not lost.found and not lost.optimal and "LP relaxation" in lost.status
    assert (lost.plan == d.initial[None, :]).all()
    full = solve_day(p, d, time_limit=60)
    assert full.found and lost.bound >= full.objective - 1e-7
