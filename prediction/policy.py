"""Failure-handling policies: which servers to avoid, and where to move the VNFs they hold.

Pure functions over the SR-EM model (placement/model): no clock, no I/O. The simulator
(prediction/simulate.py) and the fabric replay (emulation/failures.py) call them.

- none: do nothing; a failed server's instances lose their traffic until the placement
  agent happens to move them.
- reactive: avoid a server once its failure has been seen (the monitor's `down`).
- proactive-T: as reactive, and also avoid a server whose predicted failure score is >= T,
  moving its VNFs away before the failure (a failure the predictor missed is still handled
  reactively).
- oracle: knows the failure schedule: avoids a server from just before it fails.

The destination of a moved VNF is chosen from the **predicted** state of the others: never
a server that is avoided (failed, or predicted to fail), and among the rest the one that
maximises the step's expected reward, the reward of the step model (placement/model/step.py)
with the request set served under the step's traffic, weighted by each candidate's
probability of failing: (1 - p) x reward + p x reward with the candidate's requests lost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from placement.model import cost as C
from placement.model.constraints import feasible_hosts
from placement.model.domain import HostKind
from placement.model.step import evaluate
from placement.model.workload import Day, Problem

KINDS = ("none", "reactive", "proactive", "oracle")
# Every policy a comparison shows by default: the three thresholds the paper reports.
DEFAULT_POLICIES = ("none", "reactive", "proactive-0.5", "proactive-0.7", "proactive-0.9", "oracle")


@dataclass(frozen=True)
class Policy:
    name: str
    kind: str  # none | reactive | proactive | oracle
    threshold: float | None = None  # proactive only

    @classmethod
    def parse(cls, name: str) -> Policy:
        """'none', 'reactive', 'oracle' or 'proactive-T' with T in (0, 1); ValueError otherwise."""
        if name in ("none", "reactive", "oracle"):
            return cls(name, name)
        kind, _, t = name.partition("-")
        if kind == "proactive":
            try:
                th = float(t)
            except ValueError:
                th = -1.0
            if 0.0 < th < 1.0:
                return cls(name, kind, th)
        raise ValueError(f"unknown policy '{name}' (none, reactive, proactive-T with T in (0, 1), oracle)")

    @property
    def uses_predictor(self) -> bool:
        return self.kind == "proactive"


@dataclass(frozen=True)
class Move:
    instance: int
    src: int  # host
    dst: int  # host


def avoided(policy: Policy, seen_down: np.ndarray, risk: np.ndarray, fails_soon: np.ndarray) -> np.ndarray:
    """[servers] bool: the servers the policy keeps VNFs off now.

    seen_down: failures the monitor has seen; risk: the predictor's latest scores;
    fails_soon: the schedule's truth (failed now or within the oracle's lead), oracle only."""
    if policy.kind == "none":
        return np.zeros_like(seen_down, dtype=bool)
    if policy.kind == "reactive":
        return seen_down.copy()
    if policy.kind == "proactive":
        return seen_down | (risk >= policy.threshold)
    return fails_soon.copy()


def server_hosts(problem: Problem, per_server: np.ndarray, fill: float | bool = False) -> np.ndarray:
    """A per-server array spread over all hosts (servers are hosts 0..S-1; switch memories get `fill`)."""
    out = np.full(problem.sub.n_hosts, fill, dtype=np.asarray(per_server).dtype)
    servers = np.flatnonzero(problem.sub.host_kind == HostKind.SERVER)
    out[servers] = per_server
    return out


def touching(day: Day, placement: np.ndarray, hosts: np.ndarray) -> np.ndarray:
    """[R] requests that use an instance placed on one of `hosts` (a bool mask over hosts)."""
    valid = day.assign >= 0
    hit = hosts[placement][np.where(valid, day.assign, 0)] & valid
    return hit.any(axis=1)


def expected_reward(
    problem: Problem,
    day: Day,
    t: int,
    placement: np.ndarray,
    previous: np.ndarray | None,
    arc_util: np.ndarray,
    lost_hosts: np.ndarray,
    p_fail: float,
    host: int,
) -> float:
    """The step reward of `placement` with requests through `lost_hosts` lost, in expectation over
    `host` failing with probability p_fail (its requests lost too). previous None: the placement
    in steady state (the move's own delay, seconds against hours, left out)."""
    o = evaluate(problem, day, t, placement, placement if previous is None else previous, arc_util)
    if not o.feasible:
        return -np.inf
    obj = problem.scenario.objective
    ok = o.accepted & ~touching(day, placement, lost_hosts)
    up = float(C.reward(ok.mean(), o.cost_normalised, True, obj))
    if p_fail <= 0.0:
        return up
    also = lost_hosts.copy()
    also[host] = True
    down = float(
        C.reward((o.accepted & ~touching(day, placement, also)).mean(), o.cost_normalised, True, obj)
    )
    return (1.0 - p_fail) * up + p_fail * down


def evacuate(
    problem: Problem,
    day: Day,
    t: int,
    placement: np.ndarray,
    previous: np.ndarray | None,
    arc_util: np.ndarray,
    avoid_hosts: np.ndarray,
    risk_hosts: np.ndarray,
    only: np.ndarray | None = None,
) -> tuple[np.ndarray, list[Move]]:
    """Move every instance on an avoided host (or those in `only`) to its best destination.

    Instances are taken busiest first (most offered traffic), each placed given the moves
    before it. One with no allowed destination stays where it is (not in the moves).
    Returns the new placement and the moves made."""
    p = np.asarray(placement, dtype=np.int64).copy()
    todo = np.flatnonzero(avoid_hosts[p]) if only is None else np.asarray(only, dtype=np.int64)
    if len(todo) == 0:
        return p, []
    valid = day.assign >= 0
    demand = np.bincount(day.assign[valid], weights=day.rate[t][np.nonzero(valid)[0]], minlength=len(p))
    moves: list[Move] = []
    for i in sorted(todo.tolist(), key=lambda i: -demand[i]):
        cands = np.flatnonzero(feasible_hosts(problem.sub, problem.cat, p)[i] & ~avoid_hosts)
        cands = cands[cands != p[i]]
        if len(cands) == 0:
            continue
        best, best_v = -1, -np.inf
        for h in cands.tolist():
            q = p.copy()
            q[i] = h
            v = expected_reward(problem, day, t, q, previous, arc_util, avoid_hosts, float(risk_hosts[h]), h)
            # ties: the candidate less likely to fail
            if v > best_v + 1e-12 or (abs(v - best_v) <= 1e-12 and risk_hosts[h] < risk_hosts[best]):
                best, best_v = h, v
        if best < 0:
            continue
        moves.append(Move(int(i), int(p[i]), int(best)))
        p[i] = best
    return p, moves
