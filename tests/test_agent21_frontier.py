"""Issue 21's frontier: gnn-refine's best-improvement search knob, and the validation
harness that measures every setting against mpc (never on a held-out scenario)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from placement.agents import DEFAULT_MODELS
from placement.gnn.policy import load
from placement.gnn.refine import GuidedAgent
from placement.model.simulate import DayRun
from placement.mpc import frontier

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def policy():
    return load(DEFAULT_MODELS["gnn-refine"])


def test_steepest_never_scores_below_its_rows_and_is_deterministic(paper, policy):
    a = GuidedAgent(policy=policy, search="steepest", baseline_starts=False, top=2, per_kind=0)
    run = DayRun(paper, paper.day("test", 1))
    for _ in range(3):
        p = a.decide(run)
        assert np.array_equal(p, a.decide(run))
        v = float(a.values(run, p[None, :])[0])
        # At least as good as holding and as the policy's own answer (both are rows of its batch).
        assert v >= float(a.values(run, np.array([run.placement, a._proposal])).max()) - 1e-12
        run.apply(p)


def test_steepest_budget_zero_takes_the_better_of_holding_and_the_answer(paper, policy):
    a = GuidedAgent(policy=policy, search="steepest", baseline_starts=False, max_scored=0)
    run = DayRun(paper, paper.day("test", 0))
    p = a.decide(run)
    rows = np.array([run.placement, a._proposal])
    assert any(np.array_equal(p, r) for r in rows)
    assert float(a.values(run, p[None, :])[0]) == float(a.values(run, rows).max())


def test_frontier_refuses_a_held_out_scenario():
    with pytest.raises(SystemExit, match="held-out"):
        frontier.problems(("seed:31",))
    with pytest.raises(SystemExit, match="held-out"):
        frontier.problems(("tea",))


def test_frontier_table_pairs_days_and_applies_the_rule():
    rewards = {
        "mpc": [5.0, 4.0, 6.0],
        "mpc, serial search": [5.0, 4.0, 6.0],
        "fast": [5.0, 4.1, 5.9],  # paired mean 0, within 1 SE
        "slow": [5.0, 4.1, 5.9],
        "worse": [4.0, 3.0, 5.0],
    }
    ms = {"mpc": [100.0] * 3, "mpc, serial search": [400.0] * 3, "fast": [9.0] * 3, "slow": [50.0] * 3}
    ms["worse"] = [1.0] * 3
    md, rows = frontier.table(rewards, ms)
    by = {r["agent"]: r for r in rows}
    assert by["fast"]["minus_mpc"] == pytest.approx(0.0)
    assert by["fast"]["meets"] and not by["slow"]["meets"] and not by["worse"]["meets"]
    assert by["worse"]["minus_mpc"] == pytest.approx(-1.0)
    assert by["fast"]["vs_mpc"] == pytest.approx(0.09) and by["fast"]["vs_mpc_serial"] == pytest.approx(
        9 / 400
    )
    assert not by["mpc"]["meets"] and "| fast | 3 |" in md
