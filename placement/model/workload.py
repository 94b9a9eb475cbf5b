"""From a scenario to a problem (substrate + catalogue) and its days of chains.

A *day* is one instance of the data set: chains with per-step rates and
deadlines, the initial placement and the request-to-instance assignment.
Day `i` of a split is drawn from its own seed stream, so any day can be made on
its own, in any order, and is the same every time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

import topologies
from placement.model.domain import Catalog, HostKind, Substrate, build_catalog
from placement.model.paths import PathTable
from placement.model.scenario import Scenario

Split = Literal["train", "test"]
_STREAM = {"substrate": 0, "catalog": 1, "train": 2, "test": 3, "train-initial": 4, "test-initial": 5}


def rng_for(scenario: Scenario, stream: str, index: int = 0) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([scenario.seed, _STREAM[stream], index]))


@dataclass(frozen=True, eq=False)
class Day:
    split: str
    index: int
    hours: np.ndarray  # [T]
    working: np.ndarray  # [T] bool: working hours (Mbps traffic, tight deadlines)
    chain_types: np.ndarray  # [R, K] VNF type per position, -1 padding
    chain_len: np.ndarray  # [R]
    src: np.ndarray  # [R] source switch node
    dst: np.ndarray  # [R] destination switch node
    rate: np.ndarray  # [T, R] Mbps
    deadline: np.ndarray  # [T, R] ms
    assign: np.ndarray  # [R, K] instance serving each position, -1 padding
    initial: np.ndarray  # [I] initial host of every instance

    @property
    def n_steps(self) -> int:
        return len(self.hours)

    @property
    def n_chains(self) -> int:
        return len(self.src)


@dataclass(frozen=True, eq=False)
class Problem:
    scenario: Scenario
    sub: Substrate
    cat: Catalog
    paths: PathTable
    _days: dict = field(default_factory=dict, repr=False)

    def day(self, split: Split, index: int) -> Day:
        """Day `index` of a split, made once and then kept (a day is a few KB)."""
        key = (split, index)
        if key not in self._days:
            self._days[key] = make_day(self, split, index)
        return self._days[key]

    def n_days(self, split: Split) -> int:
        w = self.scenario.workload
        return w.train_days if split == "train" else w.test_days


def build_topology(scenario: Scenario):
    t = scenario.topology
    if t.builder == "file":
        return topologies.load(t.file)
    if t.builder == "paper":
        g = topologies.paper_fattree(t.servers_per_edge or 3)
    else:
        g = topologies.kary_fattree(t.k, t.servers_per_edge)
    return topologies.draw(g, scenario.substrate, rng_for(scenario, "substrate"))


def _draw_catalog(scenario: Scenario, sub: Substrate) -> Catalog:
    v, rng = scenario.vnfs, rng_for(scenario, "catalog")
    V = v.types
    u = lambda r, size=V: rng.uniform(r[0], r[1], size)
    return build_catalog(
        sub,
        names=tuple(f"vnf{j}" for j in range(V)),
        switch_mb=u(v.switch_mb),
        server_mb=u(v.server_mb),
        server_capacity=u(v.server_capacity_mbps),
        switch_capacity=u(v.switch_capacity_mbps),
        server_ms_per_mb=u(v.server_ms_per_mb, (V, sub.n_servers)),
        switch_ms_per_mb=u(v.switch_ms_per_mb, (V, sub.n_switches)),
        rdma_accesses=rng.integers(v.rdma_accesses[0], v.rdma_accesses[1] + 1, V).astype(float),
        rdma_table_share=v.rdma_table_share,
        instances_per_type=np.full(V, v.instances_per_type),
        rdma_lookups_per_mb=v.lookups_per_mb * (1.0 - v.rdma_hit_ratio),
    )


def build_problem(scenario: Scenario) -> Problem:
    sub = Substrate.from_graph(build_topology(scenario))
    return Problem(scenario, sub, _draw_catalog(scenario, sub), PathTable(sub))


def initial_placement(sub: Substrate, cat: Catalog) -> np.ndarray:
    """Every instance on the cheapest server that can still hold it (the paper's start)."""
    servers = np.flatnonzero(sub.host_kind == HostKind.SERVER)
    free = sub.host_capacity.copy()
    out = np.empty(cat.n_instances, dtype=np.int64)
    for i, t in enumerate(cat.inst_type):
        need = cat.need[t, servers]
        cost = np.where(need <= free[servers], need * sub.host_unit_cost[servers], np.inf)
        if not np.isfinite(cost).any():
            # No server has room: fall back to the cheapest host of any kind that fits.
            cost = np.where(cat.need[t] <= free, cat.need[t] * sub.host_unit_cost, np.inf)
            h = int(np.argmin(cost))
        else:
            h = int(servers[np.argmin(cost)])
        out[i] = h
        free[h] -= cat.need[t, h]
    return out


def random_placement(sub: Substrate, cat: Catalog, rng: np.random.Generator) -> np.ndarray:
    """A random feasible configuration: instances in random order, each on a host
    drawn uniformly among those whose remaining storage (and RDMA table) holds it."""
    from placement.model.constraints import feasible_hosts

    out = initial_placement(sub, cat)  # feasible; every instance is then re-drawn
    for i in rng.permutation(cat.n_instances):
        out[i] = rng.choice(np.flatnonzero(feasible_hosts(sub, cat, out)[i]))
    return out


def make_day(problem: Problem, split: Split, index: int) -> Day:
    s, sub, cat = problem.scenario, problem.sub, problem.cat
    w = s.workload
    if not 0 <= index < problem.n_days(split):
        raise IndexError(f"{split} day {index} out of range [0, {problem.n_days(split)})")
    rng = rng_for(s, split, index)
    hours = np.array(s.hours)
    working = hours < w.working_until
    R, K, T = w.chains, w.max_chain_length, len(hours)

    lengths = rng.integers(1, K + 1, R)
    # Distinct types per chain: the first `length` entries of a random permutation.
    perm = np.argsort(rng.random((R, s.vnfs.types)), axis=1)[:, :K]
    types = np.where(np.arange(K)[None, :] < lengths[:, None], perm, -1)
    W = sub.n_switches
    src = rng.integers(0, W, R)
    # Destination differs from the source wherever there is more than one switch.
    dst = (src + rng.integers(1, W, R)) % W if W > 1 else src.copy()

    def phase_draw(key: str) -> np.ndarray:
        lo_hi = lambda ph: getattr(ph, key)
        base = {p: rng.uniform(*lo_hi(getattr(w, p)), R) for p in ("working", "evening")}
        return np.where(working[:, None], base["working"][None, :], base["evening"][None, :])

    shape = np.array([w.shape.get(int(h), 1.0) for h in hours])
    noise = rng.uniform(1 - w.jitter, 1 + w.jitter, (T, R))
    rate = phase_draw("rate_mbps") * shape[:, None] * noise
    deadline = phase_draw("deadline_ms")

    if w.initial == "random":
        # Its own stream, so that the chains of a day do not depend on this choice.
        initial = random_placement(sub, cat, rng_for(s, f"{split}-initial", index))
    else:
        initial = initial_placement(sub, cat)
    # Each VNF of a request goes to a random instance of its type that can carry
    # its first-step rate; when none can, to a random one (admission rejects it).
    # Plain Python here: the loop is sequential (capacity left) and short.
    left = cat.capacity[cat.inst_type, initial].tolist()
    of_type = [np.flatnonzero(cat.inst_type == v).tolist() for v in range(s.vnfs.types)]
    draws = rng.random((R, K)).tolist()
    first = rate[0].tolist()
    assign = np.full((R, K), -1, dtype=np.int64)
    for r in range(R):
        for k in range(int(lengths[r])):
            cands = of_type[types[r, k]]
            ok = [i for i in cands if left[i] >= first[r]] or cands
            i = ok[int(draws[r][k] * len(ok))]
            assign[r, k] = i
            left[i] -= first[r]
    return Day(split, index, hours, working, types, lengths, src, dst, rate, deadline, assign, initial)
