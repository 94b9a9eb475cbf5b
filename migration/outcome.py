"""What a migration plan does: the objective every method is judged by, and its parts.

The objective (the paper's reward, eq. (3) plus C_R plus the threshold penalty) is

    J = Σ C_ij^f (moved flows) + R·ΔN + ω·Σ_j max(0, u_j − Th_high) + [balance] ω_b·Σ_j |u_j − ū|

ΔN counts spares that received flows (added) minus scale-in candidates left empty (removed).
The last term is only in load balancing, where ū is the even share; it is the linear
stand-in for the variance that the exact MILP can optimise (variance itself is quadratic).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from migration.model import Move, Problem, utilisation_variance


@dataclass(frozen=True)
class Outcome:
    total: float  # J
    migration: float  # Σ C_ij^f
    resource: float  # R·ΔN
    overload: float  # ω·Σ max(0, u − Th_high)
    balance: float  # ω_b·Σ |u − ū| (balance only)
    added: int
    removed: int
    moves: int
    sla_violations: int
    overloaded_after: int
    buffer_ok: bool
    var_before: float
    var_after: float

    @property
    def ratio(self) -> float:
        """Load balancing's figure of merit, var_before / var_after."""
        return self.var_before / self.var_after if self.var_after > 0 else float("inf")


def assignment(p: Problem, moves: list[Move]) -> np.ndarray:
    """Each flow's instance after the moves; a move that the scenario forbids is a bug."""
    a = p.src.copy()
    seen: set[int] = set()
    for m in moves:
        if m.flow in seen:
            raise ValueError(f"flow {m.flow} moved twice")
        if m.src != p.src[m.flow]:
            raise ValueError(f"flow {m.flow} is on {p.src[m.flow]}, not {m.src}")
        if not p.allowed(m.flow, m.dst):
            raise ValueError(f"flow {m.flow} may not move to {m.dst} in {p.scenario}")
        seen.add(m.flow)
        a[m.flow] = m.dst
    return a


def evaluate(p: Problem, moves: list[Move]) -> Outcome:
    a = assignment(p, moves)
    n = len(p.instances)
    moved = a != p.src
    load = np.bincount(a, weights=p.rate, minlength=n)
    count = np.bincount(a, minlength=n)
    inflow = np.bincount(a[moved], weights=p.size[moved], minlength=n)
    added = int(((~p.active) & (count > 0)).sum())
    removed_mask = p.candidates & (count == 0)
    removed = int(removed_mask.sum())
    active_after = (p.active & ~removed_mask) | (count > 0)
    util = load / p.cap
    over = np.maximum(0.0, util - p.thresholds.high)[active_after]
    idx = np.flatnonzero(moved)
    mig = float(p.cost[idx, a[idx]].sum())
    sla = int(p.late[idx, a[idx]].sum())
    bal = 0.0
    if p.scenario == "balance":
        bal = p.costs.omega_balance * float(np.abs(util[p.active] - p.target).sum())
    res = p.costs.resource * (added - removed)
    ovl = p.costs.omega * float(over.sum())
    buf = np.array([i.buffer_mb for i in p.instances])
    return Outcome(
        total=mig + res + ovl + bal,
        migration=mig,
        resource=res,
        overload=ovl,
        balance=bal,
        added=added,
        removed=removed,
        moves=len(idx),
        sla_violations=sla,
        overloaded_after=int((over > 1e-12).sum()),
        buffer_ok=bool((inflow <= buf + 1e-9).all()),
        var_before=utilisation_variance(p.util, p.active),
        var_after=utilisation_variance(util, active_after),
    )


def moves_from_assignment(p: Problem, a: np.ndarray) -> list[Move]:
    return [Move(int(f), int(p.src[f]), int(a[f])) for f in np.flatnonzero(a != p.src)]
