"""One reconfiguration step, evaluated: routes, delays, admission, costs, reward.

`evaluate` is the single definition of what a placement is worth; the
environment, the baselines, the day runner and the MILP's checks all use it.
It is vectorised over requests so that an environment step takes well under a
millisecond on the paper's scenario.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from placement.model import cost as C
from placement.model import delay as D
from placement.model.constraints import EPS, admit, host_usage, storage_violations
from placement.model.domain import HostKind
from placement.model.workload import Day, Problem


@dataclass(frozen=True, eq=False)
class StepOutcome:
    placement: np.ndarray  # [I] the placement in force (the previous one if rejected)
    feasible: bool
    violations: list[str]
    moved: np.ndarray  # [I] bool
    delay: np.ndarray  # [R] ms
    on_time: np.ndarray  # [R] delay within the deadline
    accepted: np.ndarray  # [R] on time and admitted by every resource
    acceptance_ratio: float
    cost_it: float
    cost_bw: float
    cost_rc: float
    cost_total: float
    cost_normalised: float
    reward: float
    inst_load: np.ndarray  # [I] Mbps of admitted traffic
    arc_load: np.ndarray  # [A] Mbps of admitted traffic
    host_free: np.ndarray  # [H] MB

    def usage(self, kind: HostKind, host_kind: np.ndarray) -> int:
        return int(np.sum(host_kind[self.placement] == kind))


@cache
def _bounds(problem: Problem) -> tuple[float, float, float]:
    """Per-problem constants of the cost normaliser (see `cost_reference`)."""
    sub, cat = problem.sub, problem.cat
    it = cat.need * sub.host_unit_cost[None, :]
    it_max = float(np.where(cat.static_mask, it, 0).max(1)[cat.inst_type].sum())
    hops = max(
        1, int(max(max(d.values()) for _, d in __import__("networkx").shortest_path_length(sub.graph)))
    )
    max_path_cost = hops * float(sub.arc_cost.max())
    t = cat.inst_type
    rc_max = float(np.maximum(cat.server_mb[t] * max_path_cost, cat.switch_mb[t] * sub.controller_cost).sum())
    return it_max, max_path_cost, rc_max


def cost_reference(problem: Problem, day: Day, t: int) -> float:
    """An upper bound of the step's total cost, so that normalised cost is in [0, 1]:
    every instance on its priciest host, every request over the longest, priciest
    path for each of its segments, every instance moved at the highest price."""
    it_max, max_path_cost, rc_max = _bounds(problem)
    bw_max = float((C.volume_mb(day.rate[t]) * (day.chain_len + 1)).sum() * max_path_cost)
    obj = problem.scenario.objective
    return max(float(C.total_cost(it_max, bw_max, rc_max, obj)), EPS)


def evaluate(
    problem: Problem,
    day: Day,
    t: int,
    placement: np.ndarray,
    previous: np.ndarray,
    arc_util: np.ndarray,
) -> StepOutcome:
    """Apply `placement` at step `t` after `previous`, routing on `arc_util`."""
    sub, cat, paths = problem.sub, problem.cat, problem.paths
    obj = problem.scenario.objective
    placement = np.asarray(placement, dtype=np.int64)
    violations = storage_violations(sub, cat, placement)
    feasible = not violations
    p = placement if feasible else previous  # nothing half-applied
    N = sub.n_nodes
    R, K = day.assign.shape
    itype = cat.inst_type
    kind = sub.host_kind[p]
    node = sub.host_node[p]
    valid = day.assign >= 0
    inst = np.where(valid, day.assign, 0)

    # Chain walk: source switch, the node of each instance, destination switch.
    # Padding positions repeat the destination, giving empty dst->dst segments.
    seq = np.empty((R, K + 2), dtype=np.int64)
    seq[:, 0] = day.src
    seq[:, 1:-1] = np.where(valid, node[inst], day.dst[:, None])
    seq[:, -1] = day.dst
    moved = p != previous
    to_server = moved & (kind == HostKind.SERVER)
    to_switch = moved & (kind != HostKind.SERVER)
    pairs = np.concatenate([(seq[:, :-1] * N + seq[:, 1:]).ravel(), sub.host_node[previous] * N + node])
    route = paths.route(pairs, paths.arc_weight(arc_util))
    seg = route[: R * (K + 1)].reshape(R, K + 1)
    mig = route[R * (K + 1) :]

    # Reconfiguration delay of an instance: its migration, or the programming
    # delay of the switch it is installed in (all switches programmed in parallel).
    mig_ms = D.transfer_ms(cat.server_mb[itype], paths.path_bottleneck[mig])
    prog_mb = np.bincount(node[to_switch], weights=cat.switch_mb[itype[to_switch]], minlength=N)
    prog_ms = D.transfer_ms(prog_mb, sub.controller_bw)
    inst_rc = np.where(to_server, mig_ms, 0.0) + np.where(to_switch, prog_ms[node], 0.0)
    rate = day.rate[t]
    recon = np.where(valid, inst_rc[inst], 0.0).max(1)
    proc = np.where(valid, cat.ms_per_mb[np.where(valid, day.chain_types, 0), p[inst]], 0.0).sum(1)
    delay = D.request_delay(
        recon,
        D.processing_ms(rate, proc),
        D.transmission_ms(rate, paths.path_tx[seg].sum(1), paths.path_prop[seg].sum(1)),
    )
    on_time = delay <= day.deadline[t] + EPS

    # Admission on instance and link capacity, among the requests on time.
    arcs = paths.parcs[seg].reshape(R, -1)
    use_i = valid & on_time[:, None]
    use_a = (arcs != paths.dummy_arc) & on_time[:, None]
    ri, ki = np.nonzero(use_i)
    ra, ca = np.nonzero(use_a)
    I = cat.n_instances
    rejected = admit(
        np.concatenate([ri, ra]),
        np.concatenate([day.assign[ri, ki], I + arcs[ra, ca]]),
        np.concatenate([rate[ri], rate[ra]]),
        np.concatenate([cat.capacity[itype, p], sub.arc_bw]),
    )
    accepted = on_time.copy()
    accepted[rejected] = False

    inst_load = np.bincount(day.assign[ri, ki], weights=rate[ri] * accepted[ri], minlength=I)
    arc_load = np.bincount(arcs[ra, ca], weights=rate[ra] * accepted[ra], minlength=sub.n_arcs)
    used = host_usage(sub, cat, p)
    it = float(C.it_cost(cat.need[itype, p], sub.host_unit_cost[p]).sum())
    bw = float(C.bandwidth_cost(rate, paths.path_cost[seg].sum(1))[accepted].sum())
    rc = float(
        C.migration_cost(cat.server_mb[itype], paths.path_cost[mig])[to_server].sum()
        + C.programming_cost(cat.switch_mb[itype], sub.controller_cost)[to_switch].sum()
    )
    total = float(C.total_cost(it, bw, rc, obj))
    norm = total / cost_reference(problem, day, t)
    ar = float(accepted.mean())
    return StepOutcome(
        placement=p,
        feasible=feasible,
        violations=violations,
        moved=moved,
        delay=delay,
        on_time=on_time,
        accepted=accepted,
        acceptance_ratio=ar,
        cost_it=it,
        cost_bw=bw,
        cost_rc=rc,
        cost_total=total,
        cost_normalised=norm,
        reward=float(C.reward(ar, norm, feasible, obj)),
        inst_load=inst_load,
        arc_load=arc_load,
        host_free=sub.host_capacity - used,
    )
