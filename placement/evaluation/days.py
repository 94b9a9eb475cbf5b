"""Agents over a scenario's test days: per-hour means, whole-day means with standard
errors, and what the MILP proved. Shared by `srem eval` and `srem figures`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from placement.evaluation import results
from placement.evaluation.parallel import run_days_parallel
from placement.model.simulate import Agent
from placement.model.workload import Problem

# Every agent srem has, in table order (`srem eval`'s default list).
ALL_AGENTS = (
    "mpc",
    "mpc-forecast",
    "gnn-refine",
    "gnn",
    "mfg",
    "srem",
    "ddqn-cm",
    "lag",
    "greedy",
    "greedy-hold",
    "random",
    "milp",
    "milp-day",
)


@dataclass
class Evaluation:
    scenario: str
    instances: int
    by_agent: dict[str, list[dict]] = field(default_factory=dict)  # per-hour means (+ _se)
    summary: dict[str, dict[str, dict]] = field(default_factory=dict)  # whole-day mean/se/n
    notes: dict[str, str] = field(default_factory=dict)  # e.g. which MILP steps were proven
    day_rewards: dict[str, list[float]] = field(default_factory=dict)  # per test day, in order
    day_bound: list[float] = field(default_factory=list)  # the day MILP's bound per day it solved
    day_milp: list[dict] = field(default_factory=list)  # the day MILP's solve per day (milp_day_record)

    def as_json(self) -> dict:
        return {
            "scenario": self.scenario,
            "instances": self.instances,
            "agents": self.by_agent,
            "summary": self.summary,
            "notes": self.notes,
            "day_rewards": self.day_rewards,
            "day_bound": self.day_bound,
            "day_milp": self.day_milp,
        }

    def gap_to_bound(self) -> dict[str, dict]:
        """Per agent, mean (± se) of the day MILP's bound minus its day reward, over the
        days the day MILP bounded (a gap of 0 would be optimal); empty without a bound."""
        days = [k for k, b in enumerate(self.day_bound) if np.isfinite(b)]
        if not days:
            return {}
        out = {}
        for name, rewards in self.day_rewards.items():
            if len(rewards) > days[-1]:
                out[name] = results._mean_se([self.day_bound[k] - rewards[k] for k in days])
        return out


def milp_note(res: list) -> str:
    """Which of the MILP's steps were proven optimal, and the gap of the others."""
    proven = sum(r.optimal for r in res)
    gaps = [r.gap for r in res if not r.optimal]
    kept = sum(getattr(r, "kept", False) for r in res)
    txt = f"{proven} of {len(res)} steps proven optimal"
    if gaps:
        txt += f"; the others stopped at the time limit with relative gap {min(gaps):.2e}..{max(gaps):.2e}"
    if kept:
        txt += f"; {kept} steps found no solution in time and kept the previous placement"
    return txt


def milp_day_record(r) -> dict:
    """One day MILP's solve for eval.json (JSON-safe: non-finite numbers as None)."""

    def num(v: float) -> float | None:
        return float(v) if np.isfinite(v) else None

    return {
        "bound": num(r.bound),
        "objective": num(r.objective),
        "optimal": bool(r.optimal),
        "found": bool(r.found),
        "seconds": float(r.seconds),
        "status": r.status,
        "rounds": int(r.rounds),
        "start": r.start,
        "start_objective": num(r.start_objective),
        "start_reward": num(r.start_reward),
    }


def evaluate_agents(
    problem: Problem,
    agents: dict[str, Agent],
    instances: int,
    milp_instances: int,
    progress: Callable[[str, int], Callable[[int], None]] | None = None,
    workers: int = 1,
    address: str | None = None,
) -> Evaluation:
    """Run every agent on the first `instances` test days (the MILPs on fewer), the days
    in parallel on Ray when `workers` > 1 or a cluster `address` is given."""
    s = problem.scenario
    ev = Evaluation(s.name, instances)
    # The day's optimum first: its days are the ones every other agent is compared on.
    agents = dict(sorted(agents.items(), key=lambda kv: kv[0] != "milp-day"))
    for name, a in agents.items():
        slow = name.startswith("milp")
        n_days = min(instances, milp_instances) if slow else instances
        cb = progress(name, n_days) if progress else None
        days = run_days_parallel(problem, a, "test", list(range(n_days)), cb, workers, address)
        label = f"{name} ({n_days} days)" if slow and n_days < instances else name
        ev.by_agent[label] = results.mean_by_hour(days)
        ev.summary[label] = results.summarise(days, s.workload.working_until)
        ev.day_rewards[label] = [float(sum(r.reward for r in d)) for d in days]
        if hasattr(a, "results") and a.results:
            ev.notes[label] = milp_note(a.results)
        elif hasattr(a, "day_results") and a.day_results:
            ev.notes[label] = a.note()
            ev.day_bound = [r.bound for r in a.day_results]
            ev.day_milp = [milp_day_record(r) for r in a.day_results]
    # Table order: as asked, with the day's optimum last.
    order = sorted(ev.summary, key=lambda k: k.startswith("milp-day"))
    ev.summary = {k: ev.summary[k] for k in order}
    ev.by_agent = {k: ev.by_agent[k] for k in order}
    return ev


def best_of(summary: dict[str, dict[str, dict]], key: str, exclude: tuple[str, ...] = ()) -> str:
    """The agent with the highest mean of a whole-day figure."""
    names = [n for n in summary if not n.startswith(exclude)] if exclude else list(summary)
    return max(names, key=lambda n: summary[n][key]["mean"] if np.isfinite(summary[n][key]["mean"]) else -1e9)
