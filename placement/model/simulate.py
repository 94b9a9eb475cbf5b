"""Run a day: at every step an agent decides the placement, the step is evaluated."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Protocol

import numpy as np

from placement.model.constraints import feasible_hosts
from placement.model.domain import HostKind
from placement.model.step import StepOutcome, evaluate
from placement.model.workload import Day, Problem


class DayRun:
    """The state of one day between steps: what agents look at and act on."""

    def __init__(self, problem: Problem, day: Day) -> None:
        self.problem, self.day = problem, day
        self.t = 0
        self.placement = day.initial.copy()
        self.arc_util = np.zeros(problem.sub.n_arcs)
        self.last: StepOutcome | None = None

    @property
    def done(self) -> bool:
        return self.t >= self.day.n_steps

    def mask(self, placement: np.ndarray | None = None) -> np.ndarray:
        """[I, H] hosts each instance may move to (static and dynamic filters)."""
        p = self.placement if placement is None else placement
        return feasible_hosts(self.problem.sub, self.problem.cat, p)

    def demand(self) -> np.ndarray:
        """[I] Mbps offered to every instance at the step about to be decided."""
        d = self.day
        valid = d.assign >= 0
        r = np.nonzero(valid)[0]
        return np.bincount(d.assign[valid], weights=d.rate[self.t][r], minlength=self.problem.cat.n_instances)

    def apply(self, placement: np.ndarray) -> StepOutcome:
        o = evaluate(self.problem, self.day, self.t, placement, self.placement, self.arc_util)
        self.placement = o.placement
        self.arc_util = o.arc_load / self.problem.sub.arc_bw
        self.last = o
        self.t += 1
        return o


class Agent(Protocol):
    name: str

    def decide(self, run: DayRun) -> np.ndarray: ...


@dataclass(frozen=True)
class StepRecord:
    hour: int
    acceptance_ratio: float
    cost_it: float
    cost_bw: float
    cost_rc: float
    cost_total: float
    on_server: int
    on_lm: int
    on_em: int
    decision_ms: float
    reward: float
    feasible: bool

    def as_dict(self) -> dict:
        return asdict(self)


def record(run: DayRun, o: StepOutcome, hour: int, decision_ms: float) -> StepRecord:
    kinds = run.problem.sub.host_kind[o.placement]
    return StepRecord(
        hour=int(hour),
        acceptance_ratio=o.acceptance_ratio,
        cost_it=o.cost_it,
        cost_bw=o.cost_bw,
        cost_rc=o.cost_rc,
        cost_total=o.cost_total,
        on_server=int(np.sum(kinds == HostKind.SERVER)),
        on_lm=int(np.sum(kinds == HostKind.LM)),
        on_em=int(np.sum(kinds == HostKind.EM)),
        decision_ms=decision_ms,
        reward=o.reward,
        feasible=o.feasible,
    )


def run_day(problem: Problem, day: Day, agent: Agent) -> list[StepRecord]:
    run = DayRun(problem, day)
    out = []
    while not run.done:
        hour = int(day.hours[run.t])
        t0 = time.perf_counter()
        placement = agent.decide(run)
        ms = (time.perf_counter() - t0) * 1000.0
        out.append(record(run, run.apply(placement), hour, ms))
    return out


def run_days(
    problem: Problem, agent: Agent, split: str, days: list[int], progress=None
) -> list[list[StepRecord]]:
    """Run an agent over several days; `progress(1)` is called after each day."""
    out = []
    for i in days:
        if hasattr(agent, "start_day"):  # an agent whose randomness is drawn per day
            agent.start_day(split, i)
        out.append(run_day(problem, problem.day(split, i), agent))  # type: ignore[arg-type]
        if progress:
            progress(1)
    return out
