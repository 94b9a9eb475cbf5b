"""The day MILP started from an online agent's day (a MIP start HiGHS completes)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse

from placement.agents import make_agent
from placement.milp import highs
from placement.milp.day import MilpDayAgent, agent_plan, solve_day
from placement.model.simulate import run_day
from placement.model.workload import build_problem
from tests.conftest import small_scenario
from topologies import InputError


@pytest.fixture(scope="module")
def greedy_day():
    """12 chains over 6 steps: HiGHS proves nothing in seconds, and finds a poor first
    solution alone (measured: none in 0.5 s, 3.26 in 2 s against greedy's 4.04)."""
    p = build_problem(small_scenario(chains=12, types=2, per_type=1))
    d = p.day("test", 0)
    plan, reward = agent_plan(p, d, make_agent("greedy", p))
    return p, d, plan, reward


def test_the_start_is_used_within_a_short_time_limit(greedy_day):
    p, d, plan, _ = greedy_day
    started = solve_day(p, d, time_limit=2.0, lp_bound=False, start=plan)
    # HiGHS completed the start (its log says so) and kept it or found better.
    assert started.found and started.start == "feasible"
    assert started.objective >= started.start_objective - 1e-7
    alone = solve_day(p, d, time_limit=2.0, lp_bound=False)
    assert alone.start is None
    # Without it, in the same time: nothing, or a worse day than the start's.
    assert not alone.found or alone.objective < started.start_objective - 1e-3


def test_the_agent_replays_the_start_and_records_what_became_of_it(greedy_day):
    p, d, _, reward = greedy_day
    agent = MilpDayAgent(time_limit=2.0, start_agent=make_agent("greedy", p), start_name="greedy")
    day = run_day(p, d, agent)
    r = agent.day_results[0]
    assert r.start == "feasible" and r.start_reward == pytest.approx(reward)
    assert len(day) == d.n_steps and "started from greedy's day (1 of 1 starts feasible)" in agent.note()


def test_a_start_of_the_wrong_shape_is_one_clear_line(greedy_day):
    p, d, plan, _ = greedy_day
    with pytest.raises(InputError) as e:
        solve_day(p, d, time_limit=1.0, start=plan[:, :-1])
    msg = str(e.value)
    assert "\n" not in msg and "shape" in msg and f"({d.n_steps}, {p.cat.n_instances})" in msg
    with pytest.raises(InputError, match="not one it may use"):
        solve_day(p, d, time_limit=1.0, start=np.full_like(plan, -1))


def test_cli_refuses_a_start_that_is_no_online_agent():
    srem = Path(sys.executable).parent / "srem"
    p = subprocess.run(
        [str(srem), "eval", "--agents", "milp-day", "--milp-day-start", "milp", "--instances", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 2
    assert "--milp-day-start" in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_highs_says_whether_a_start_is_feasible():
    # 8 knapsack rows over 20 binaries and 10 continuous columns (small models are solved
    # in presolve before HiGHS reports on a start). Every binary at 1 breaks the rows.
    rng = np.random.default_rng(0)
    n = 30
    cost, A = -rng.uniform(0.5, 1.0, n), sparse.csc_array(rng.uniform(0.0, 1.0, (8, n)))
    integer = np.array([1] * 20 + [0] * 10)
    args = (cost, integer, np.zeros(n), np.ones(n), A, np.full(8, -np.inf), np.full(8, 3.0), 10.0, 1e-9)
    best = highs.solve(*args)
    assert best.start is None and best.status == 0
    bad = highs.solve(*args, start={j: 1.0 for j in range(20)})
    assert bad.start == "infeasible" and bad.fun == pytest.approx(best.fun)
    # Two binaries set, the rest of the start completed by HiGHS: feasible, not optimal.
    good = highs.solve(*args, start={j: float(j < 2) for j in range(20)})
    assert good.start == "feasible" and good.start_objective > best.fun + 1e-3
    assert good.fun == pytest.approx(best.fun)
