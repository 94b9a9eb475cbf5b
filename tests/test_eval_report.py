"""The cross-scenario tables of `srem figures`' summary, on hand-worked evaluations."""

from __future__ import annotations

import math

from placement.evaluation.days import Evaluation
from placement.evaluation.report import cross_tables, paired
from placement.evaluation.results import _mean_se


def _ev(name: str, rewards: dict[str, list[float]], ms: dict[str, float], bound=()) -> Evaluation:
    ev = Evaluation(name, 3)
    for a, r in rewards.items():
        ev.day_rewards[a] = r
        ev.summary[a] = {"day_reward": _mean_se(r), "decision_ms": {"mean": ms[a], "se": 0.0, "n": len(r)}}
    ev.day_bound = list(bound)
    return ev


def test_paired_differences_and_ratios_by_hand() -> None:
    ev = _ev(
        "s1",
        {
            "mpc": [5.0, 4.0, 6.0],
            "mfg": [4.0, 4.0, 5.0],
            "greedy": [3.0, 3.5, 4.5],
            "milp-day (1 days)": [4.5],
        },
        {"mpc": 100.0, "mfg": 20.0, "greedy": 10.0, "milp-day (1 days)": 9000.0},
        bound=[5.5],
    )
    d = paired(ev, "mfg", "mpc")  # differences -1, 0, -1
    assert math.isclose(d["mean"], -2 / 3) and math.isclose(d["se"], (1 / 3) ** 0.5 / 3**0.5)
    # the MILP played one day: the pair covers that day only
    assert paired(ev, "mfg", "milp-day (1 days)")["n"] == 1
    lines = "\n".join(cross_tables([ev]))
    assert "| mfg | 4.333 ± 0.333 |" in lines
    assert "| s1 | mfg | -0.667 ± 0.333 |" in lines  # minus mpc
    assert "(mpc)" in lines  # the best online agent is named
    assert "| mfg | 20.0 (2.0×) |" in lines and "| mpc | 100.0 (10.0×) |" in lines
    assert "| mpc | 0.500 |" in lines  # gap to the bound 5.5 on the day it ran (no spread from one day)
    gaps = ev.gap_to_bound()
    assert math.isclose(gaps["mfg"]["mean"], 1.5)


def test_an_agent_missing_on_a_scenario_is_said_so() -> None:
    a = _ev("a", {"mpc": [1.0, 2.0], "greedy": [1.0, 1.0]}, {"mpc": 3.0, "greedy": 1.0})
    b = _ev("b", {"greedy": [2.0, 2.0]}, {"greedy": 1.0})
    b.day_bound = [float("inf")]  # the day MILP ran and found no bound in time
    b.notes["milp-day (1 days)"] = "no bound"
    lines = "\n".join(cross_tables([a, b]))
    assert "| mpc | 1.500 ± 0.500 | not run |" in lines
    assert "| b | none | no bound |" in lines and "## Gap to the day MILP" not in lines
