"""Baselines: OFM-style heuristics (after Sun et al., JSAC 2018), size-greedy, pairwise, random.

Every method sees the same problem and returns a list of moves that respects the
scenario's movable set and destinations and never overfills a destination's buffer or
pushes it past Th_high (a flow that fits nowhere stays, and J charges the overload).

* **OFM** — scale-out: (1) pick, on each overloaded instance, the flows that relieve it
  at the lowest migration cost per Mbps; (2) place them, largest first, on the existing
  instance where they cost least and fit; (3) start spares for the rest, first-fit
  decreasing, cheapest spare first. Load balancing: (1) split instances into hot (above
  the even share) and cold; (2) on the hottest instance, pick the (flow, cold instance)
  pair that lowers J the most; (3) repeat while some move lowers J. Scale-in: OFM solves
  the optimisation problem, so it is the MILP (`milp.solve`).
* **size-greedy** — the largest flow of the most loaded hot spot goes to the least loaded
  instance that takes it (scale-out opens a spare when none does); scale-in drains the
  least loaded candidates first, largest flows first.
* **pairwise** — pair the i-th hottest with the i-th coldest instance and move flows
  within each pair until the pair is even (balance) or the hot one is under Th_high
  (scale-out, leftovers to spares); scale-in pairs each candidate with its nearest instance.
* **random** — random flows to random instances that take them (scale-in: each
  underloaded instance, in random order, to random others; undone if it cannot be emptied).
"""

from __future__ import annotations

import numpy as np

from migration.model import Move, Problem
from migration.outcome import moves_from_assignment


class State:
    """Loads and buffer use while a method moves flows one at a time."""

    def __init__(self, p: Problem) -> None:
        self.p = p
        self.a = p.src.copy()
        self.load = p.load.copy()
        self.buf = np.array([i.buffer_mb for i in p.instances])
        self.open = p.active.copy()  # instances that are (or will be) running

    def util(self, j: int) -> float:
        return self.load[j] / self.p.cap[j]

    def fits(self, f: int, j: int) -> bool:
        p = self.p
        if j == self.a[f] or not p.allowed(f, j):
            return False
        if self.a[f] != p.src[f]:
            return False  # each flow moves at most once (a migration is one transfer)
        return (
            self.load[j] + p.rate[f] <= p.thresholds.high * p.cap[j] + 1e-9
            and p.size[f] <= self.buf[j] + 1e-12
        )

    def move(self, f: int, j: int) -> None:
        i = self.a[f]
        self.load[i] -= self.p.rate[f]
        self.load[j] += self.p.rate[f]
        self.buf[j] -= self.p.size[f]
        self.a[f] = j
        self.open[j] = True

    def undo(self, f: int) -> None:
        j, i = self.a[f], self.p.src[f]
        self.load[j] -= self.p.rate[f]
        self.load[i] += self.p.rate[f]
        self.buf[j] += self.p.size[f]
        self.a[f] = i

    def flows_on(self, i: int) -> np.ndarray:
        return np.flatnonzero((self.a == i) & self.p.movable)

    def moves(self) -> list[Move]:
        return moves_from_assignment(self.p, self.a)

    def hot(self) -> list[int]:
        p = self.p
        over = [j for j in np.flatnonzero(self.open) if self.util(j) > p.thresholds.high + 1e-12]
        return sorted(over, key=lambda j: -self.util(j))


def _spares(s: State) -> list[int]:
    return [int(j) for j in np.flatnonzero(~s.p.active)]


def _existing(s: State) -> list[int]:
    return [int(j) for j in np.flatnonzero(s.p.active)]


# ---- scale-out -------------------------------------------------------------------------------------
def ofm_scale_out(p: Problem) -> list[Move]:
    s = State(p)
    existing = _existing(s)
    # step 1: evict, per overloaded instance, the flows cheapest per Mbps relieved
    evict: list[int] = []
    for i in s.hot():
        fl = list(s.flows_on(i))
        best = {f: min((p.cost[f, j] for j in existing if j != i), default=0.0) for f in fl}
        fl.sort(key=lambda f: best[f] / p.rate[f])
        excess = s.load[i] - p.thresholds.high * p.cap[i]
        for f in fl:
            if excess <= 1e-9:
                break
            evict.append(f)
            excess -= p.rate[f]
    evict.sort(key=lambda f: -p.rate[f])
    # step 2: to the cheapest existing instance with room
    rest = []
    for f in evict:
        opts = [j for j in existing if s.fits(f, j)]
        if opts:
            s.move(f, min(opts, key=lambda j: p.cost[f, j]))
        else:
            rest.append(f)
    # step 3: first-fit decreasing onto spares, cheapest spare (mean cost from the sources) first
    spares = _spares(s)
    if rest and spares:
        spares.sort(key=lambda j: float(np.mean(p.cost[rest, j])))
        for f in rest:
            for j in spares:
                if s.fits(f, j):
                    s.move(f, j)
                    break
    return s.moves()


def size_greedy_scale_out(p: Problem) -> list[Move]:
    s = State(p)
    existing, spares = _existing(s), _spares(s)
    stuck: set[int] = set()
    while True:
        hot = [i for i in s.hot() if i not in stuck]
        if not hot:
            break
        i = hot[0]
        fl = sorted(s.flows_on(i), key=lambda f: -p.rate[f])
        done = False
        for f in fl:
            cands = [j for j in existing if s.fits(f, j)] or [j for j in spares if s.open[j] and s.fits(f, j)]
            if not cands:
                new = [j for j in spares if not s.open[j] and s.fits(f, j)]
                cands = new[:1]
            if cands:
                s.move(f, min(cands, key=lambda j: s.util(j)))
                done = True
                break
        if not done:
            stuck.add(i)
    return s.moves()


def pairwise_scale_out(p: Problem) -> list[Move]:
    s = State(p)
    hot = s.hot()
    cold = sorted((j for j in _existing(s) if j not in hot), key=lambda j: s.util(j))
    left = []
    for i, c in zip(hot, cold + [None] * len(hot), strict=False):
        for f in sorted(s.flows_on(i), key=lambda f: -p.rate[f]):
            if s.util(i) <= p.thresholds.high + 1e-12:
                break
            if c is not None and s.fits(f, c):
                s.move(f, c)
            else:
                left.append(f)
    for f in left:  # leftovers: first fit onto spares in order
        if s.util(s.a[f]) <= p.thresholds.high + 1e-12:
            continue
        for j in _spares(s):
            if s.fits(f, j):
                s.move(f, j)
                break
    return s.moves()


def random_scale_out(p: Problem, seed: int = 0) -> list[Move]:
    rng = np.random.default_rng(seed)
    s = State(p)
    for i in s.hot():
        fl = list(s.flows_on(i))
        rng.shuffle(fl)
        for f in fl:
            if s.util(i) <= p.thresholds.high + 1e-12:
                break
            opts = [j for j in range(len(p.instances)) if s.open[j] and s.fits(f, j)]
            if not opts:
                opts = [j for j in _spares(s) if s.fits(f, j)][:1]
            if opts:
                s.move(f, int(rng.choice(opts)))
    return s.moves()


# ---- scale-in --------------------------------------------------------------------------------------
def _drain(s: State, i: int, order: list[int], pick) -> bool:
    """Move every flow off candidate i (in `order`) to `pick(f)`; undo all if one fails."""
    done = []
    for f in order:
        j = pick(f)
        if j is None:
            for g in done:
                s.undo(g)
            return False
        s.move(f, j)
        done.append(f)
    return True


def _keepers(s: State, removed: set[int]) -> list[int]:
    return [int(j) for j in np.flatnonzero(s.p.active) if j not in removed]


def size_greedy_scale_in(p: Problem) -> list[Move]:
    s = State(p)
    removed: set[int] = set()
    for i in sorted(np.flatnonzero(p.candidates), key=lambda j: s.load[j]):
        dst = [j for j in _keepers(s, removed | {int(i)})]

        def pick(f: int, dst=dst) -> int | None:
            opts = [j for j in dst if s.fits(f, j)]
            return min(opts, key=lambda j: s.util(j)) if opts else None

        if _drain(s, int(i), sorted(s.flows_on(i), key=lambda f: -p.rate[f]), pick):
            removed.add(int(i))
    return s.moves()


def pairwise_scale_in(p: Problem) -> list[Move]:
    s = State(p)
    removed: set[int] = set()
    for i in sorted(np.flatnonzero(p.candidates), key=lambda j: s.load[j]):
        partners = sorted(_keepers(s, removed | {int(i)}), key=lambda j: (p.hop_ms[i, j], s.util(j)))
        for c in partners:
            if _drain(s, int(i), list(s.flows_on(i)), lambda f, c=c: c if s.fits(f, c) else None):
                removed.add(int(i))
                break
    return s.moves()


def random_scale_in(p: Problem, seed: int = 0) -> list[Move]:
    rng = np.random.default_rng(seed)
    s = State(p)
    removed: set[int] = set()
    cands = list(np.flatnonzero(p.candidates))
    rng.shuffle(cands)
    for i in cands:
        dst = _keepers(s, removed | {int(i)})

        def pick(f: int, dst=dst) -> int | None:
            opts = [j for j in dst if s.fits(f, j)]
            return int(rng.choice(opts)) if opts else None

        if _drain(s, int(i), list(s.flows_on(i)), pick):
            removed.add(int(i))
    return s.moves()


# ---- load balancing --------------------------------------------------------------------------------
def _gain(s: State, f: int, i: int, j: int) -> float:
    """Change of J from moving f from i to j (migration cost + balance term)."""
    p = s.p
    r, t = p.rate[f], p.target
    ui, uj = s.util(i), s.util(j)
    d = abs(ui - r / p.cap[i] - t) - abs(ui - t) + abs(uj + r / p.cap[j] - t) - abs(uj - t)
    return p.cost[f, j] + p.costs.omega_balance * d


def ofm_balance(p: Problem) -> list[Move]:
    s = State(p)
    cold = [int(j) for j in np.flatnonzero(p.destinations)]
    done: set[int] = set()
    while True:
        hot = [int(i) for i in np.flatnonzero(p.active) if s.util(i) > p.target + 1e-12 and i not in done]
        if not hot or not cold:
            break
        i = max(hot, key=s.util)
        best, arg = 0.0, None
        for f in s.flows_on(i):
            for j in cold:
                if s.fits(f, j):
                    g = _gain(s, f, i, j)
                    if g < best - 1e-12:
                        best, arg = g, (f, j)
        if arg is None:
            done.add(i)
        else:
            s.move(*arg)
    return s.moves()


def _var_drop(s: State, f: int, i: int, j: int) -> float:
    p = s.p
    r = p.rate[f]
    ui, uj = s.util(i), s.util(j)
    t = p.target
    return ((ui - t) ** 2 + (uj - t) ** 2) - ((ui - r / p.cap[i] - t) ** 2 + (uj + r / p.cap[j] - t) ** 2)


def size_greedy_balance(p: Problem) -> list[Move]:
    s = State(p)
    cold = [int(j) for j in np.flatnonzero(p.destinations)]
    done: set[int] = set()
    while cold:
        hot = [int(i) for i in np.flatnonzero(p.active) if s.util(i) > p.target + 1e-12 and i not in done]
        if not hot:
            break
        i = max(hot, key=s.util)
        j = min(cold, key=s.util)
        moved = False
        for f in sorted(s.flows_on(i), key=lambda f: -p.rate[f]):
            if s.fits(f, j) and _var_drop(s, f, i, j) > 1e-12:
                s.move(f, j)
                moved = True
                break
        if not moved:
            done.add(i)
    return s.moves()


def pairwise_balance(p: Problem) -> list[Move]:
    s = State(p)
    hot = sorted(
        (int(i) for i in np.flatnonzero(p.active) if s.util(i) > p.target + 1e-12), key=lambda i: -s.util(i)
    )
    cold = sorted((int(j) for j in np.flatnonzero(p.destinations)), key=s.util)
    for i, j in zip(hot, cold, strict=False):
        for f in sorted(s.flows_on(i), key=lambda f: -p.rate[f]):
            if s.fits(f, j) and _var_drop(s, f, i, j) > 1e-12:
                s.move(f, j)
    return s.moves()


def random_balance(p: Problem, seed: int = 0) -> list[Move]:
    rng = np.random.default_rng(seed)
    s = State(p)
    cold = [int(j) for j in np.flatnonzero(p.destinations)]
    mov = list(np.flatnonzero(p.movable))
    rng.shuffle(mov)
    for f in mov:
        if not cold:
            break
        j = int(rng.choice(cold))
        i = int(s.a[f])
        if s.fits(f, j) and _var_drop(s, f, i, j) > 1e-12:
            s.move(f, j)
    return s.moves()


# ---- by name ----------------------------------------------------------------------------------------
def ofm(p: Problem, time_limit: float = 10.0) -> list[Move]:
    if p.scenario == "scale-out":
        return ofm_scale_out(p)
    if p.scenario == "balance":
        return ofm_balance(p)
    from migration.milp import solve

    return solve(p, time_limit).moves


def size_greedy(p: Problem) -> list[Move]:
    return {
        "scale-out": size_greedy_scale_out,
        "scale-in": size_greedy_scale_in,
        "balance": size_greedy_balance,
    }[p.scenario](p)


def pairwise(p: Problem) -> list[Move]:
    return {"scale-out": pairwise_scale_out, "scale-in": pairwise_scale_in, "balance": pairwise_balance}[
        p.scenario
    ](p)


def random_plan(p: Problem, seed: int = 0) -> list[Move]:
    fn = {"scale-out": random_scale_out, "scale-in": random_scale_in, "balance": random_balance}[p.scenario]
    return fn(p, seed)


def no_move(p: Problem) -> list[Move]:
    return []
