"""The flow-migration problem: NF instances of one type, the flows they serve, and costs.

Units: rates and capacities in Mbps, flow state and buffers in MB, latencies in ms,
costs in the paper's cost units (β per ms of latency, δ per SLA violation, R per
instance). Utilisation u_j = (sum of the rates on j) / capacity_j.

The migration cost of flow f from instance i to j is the paper's eq. (2):

    la_ij  = hop latency(server_i, server_j) + state transfer (size_f over the migration bandwidth)
    total  = la_ij + la_p_j + la_q_j            (migration + processing + queueing at j)
    C_ij^f = β (total − la_q_i)                 if total ≤ SLA_f
           = δ + β (total − SLA_f)               otherwise

A flow that stays costs 0. Adding an instance costs R, removing one saves R (C_R = R·ΔN).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

SCENARIOS = ("scale-out", "scale-in", "balance")


@dataclass(frozen=True)
class Instance:
    """One NF instance (active) or a spare that scale-out may start (active=False)."""

    name: str
    server: str
    capacity_mbps: float
    buffer_mb: float  # free buffer for migrated flows' state (constraint (5))
    queue_mb: float = 0.0  # what waits in its queue now; sets its queueing delay
    proc_ms: float = 0.5  # per-flow processing latency la_p
    active: bool = True


@dataclass(frozen=True)
class Flow:
    name: str
    instance: int  # index into Problem.instances
    rate_mbps: float
    size_mb: float  # state moved with the flow (and buffered at the destination)
    sla_ms: float


@dataclass(frozen=True)
class Network:
    """Where instances sit: hop latency by locality, and the migration bandwidth."""

    bandwidth_mbps: float = 1000.0
    same_server_ms: float = 0.05
    same_rack_ms: float = 0.2
    cross_rack_ms: float = 0.6


@dataclass(frozen=True)
class Costs:
    beta: float = 1.0  # per ms (β)
    delta: float = 50.0  # per SLA violation (δ)
    resource: float = 200.0  # per instance added / saved per instance removed (R)
    omega: float = 1000.0  # per unit of utilisation above Th_high (ω)
    omega_balance: float = 1000.0  # load balancing: per unit of L1 distance from the even share (as ω)


@dataclass(frozen=True)
class Thresholds:
    high: float = 0.6  # Th_high: an instance above it is overloaded
    low: float = 0.1  # Th_low: an active instance below it may be drained and removed
    var: float = 0.01  # Th_var: variance of utilisation that calls for load balancing


@dataclass(frozen=True)
class Move:
    flow: int
    src: int
    dst: int


@dataclass(frozen=True)
class Problem:
    scenario: str
    instances: tuple[Instance, ...]
    flows: tuple[Flow, ...]
    racks: dict[str, str] = field(default_factory=dict)  # server → rack
    network: Network = Network()
    costs: Costs = Costs()
    thresholds: Thresholds = Thresholds()
    name: str = "problem"
    seed: int | None = None

    # ---- arrays (cached: a Problem is immutable) -------------------------------------------------
    @cached_property
    def cap(self) -> np.ndarray:
        return np.array([i.capacity_mbps for i in self.instances], dtype=float)

    @cached_property
    def active(self) -> np.ndarray:
        return np.array([i.active for i in self.instances], dtype=bool)

    @cached_property
    def rate(self) -> np.ndarray:
        return np.array([f.rate_mbps for f in self.flows], dtype=float)

    @cached_property
    def size(self) -> np.ndarray:
        return np.array([f.size_mb for f in self.flows], dtype=float)

    @cached_property
    def src(self) -> np.ndarray:
        return np.array([f.instance for f in self.flows], dtype=int)

    @cached_property
    def load(self) -> np.ndarray:
        """Mbps on each instance now."""
        return np.bincount(self.src, weights=self.rate, minlength=len(self.instances))

    @cached_property
    def util(self) -> np.ndarray:
        return self.load / self.cap

    @cached_property
    def queue_ms(self) -> np.ndarray:
        return np.array([i.queue_mb * 8e3 / i.capacity_mbps for i in self.instances])

    @cached_property
    def hop_ms(self) -> np.ndarray:
        return hop_matrix(self.instances, self.racks, self.network)

    @cached_property
    def cost(self) -> np.ndarray:
        """C[f, j]: the migration cost of flow f to instance j (0 where j is its own)."""
        return migration_costs(self)

    @cached_property
    def late(self) -> np.ndarray:
        return sla_misses(self)

    @cached_property
    def target(self) -> float:
        """The even share of utilisation load balancing aims at (total load / total active capacity)."""
        return float(self.load[self.active].sum() / self.cap[self.active].sum())

    @cached_property
    def movable(self) -> np.ndarray:
        """Flows a method may move in this scenario (the same set for every method and the MILP)."""
        u, act = self.util, self.active
        if self.scenario == "scale-out":
            on = act & (u > self.thresholds.high + 1e-12)
        elif self.scenario == "scale-in":
            on = self.candidates
        else:
            on = act & (u > self.target + 1e-12)
        return on[self.src]

    @cached_property
    def candidates(self) -> np.ndarray:
        """Scale-in: the active instances under Th_low, which may be drained and removed."""
        if self.scenario != "scale-in":
            return np.zeros(len(self.instances), dtype=bool)
        return self.active & (self.util < self.thresholds.low)

    @cached_property
    def destinations(self) -> np.ndarray:
        """Instances a moved flow may go to: scale-out adds spares; balance only fills the cold ones."""
        if self.scenario == "scale-out":
            return np.ones(len(self.instances), dtype=bool)
        if self.scenario == "scale-in":
            return self.active.copy()
        return self.active & (self.util < self.target - 1e-12)

    def allowed(self, f: int, j: int) -> bool:
        return j == self.src[f] or bool(self.movable[f] and self.destinations[j])


def hop_matrix(instances: tuple[Instance, ...], racks: dict[str, str], net: Network) -> np.ndarray:
    servers = [i.server for i in instances]
    rack = [racks.get(s, s) for s in servers]
    n = len(instances)
    h = np.full((n, n), net.cross_rack_ms)
    srv = np.array(servers, dtype=object)
    rk = np.array(rack, dtype=object)
    h[rk[:, None] == rk[None, :]] = net.same_rack_ms
    h[srv[:, None] == srv[None, :]] = net.same_server_ms
    np.fill_diagonal(h, 0.0)
    return h


def migration_latency(p: Problem, f: int, j: int) -> float:
    """la_ij^f: hop latency plus moving the flow's state over the migration bandwidth."""
    return float(p.hop_ms[p.src[f], j] + p.size[f] * 8e3 / p.network.bandwidth_mbps)


def flow_cost(p: Problem, f: int, j: int) -> float:
    """Eq. (2) for one flow and destination (the scalar form the tests check by hand)."""
    i = int(p.src[f])
    if j == i:
        return 0.0
    total = migration_latency(p, f, j) + p.instances[j].proc_ms + p.queue_ms[j]
    sla = p.flows[f].sla_ms
    if total <= sla:
        return p.costs.beta * (total - p.queue_ms[i])
    return p.costs.delta + p.costs.beta * (total - sla)


def _latency(p: Problem) -> tuple[np.ndarray, np.ndarray]:
    proc = np.array([i.proc_ms for i in p.instances])
    la = p.hop_ms[p.src] + (p.size * 8e3 / p.network.bandwidth_mbps)[:, None]
    total = la + (proc + p.queue_ms)[None, :]
    return total, np.array([f.sla_ms for f in p.flows])[:, None]


def sla_misses(p: Problem) -> np.ndarray:
    """late[f, j]: moving f to j breaks its SLA (constraint (1) fails)."""
    total, sla = _latency(p)
    late = total > sla
    late[np.arange(len(p.flows)), p.src] = False
    return late


def migration_costs(p: Problem) -> np.ndarray:
    """Eq. (2) for every flow and destination at once."""
    total, sla = _latency(p)
    ok = total <= sla
    c = np.where(
        ok, p.costs.beta * (total - p.queue_ms[p.src][:, None]), p.costs.delta + p.costs.beta * (total - sla)
    )
    c[np.arange(len(p.flows)), p.src] = 0.0
    return c


def utilisation_variance(util: np.ndarray, active: np.ndarray) -> float:
    return float(np.var(util[active])) if active.any() else 0.0
