"""Constraints (model.md 1-5): storage, RDMA table, instance and link capacity.

Storage (1) is a property of the placement alone: a placement that breaks it
cannot be deployed. Capacities of instances (3) and links (4) depend on which
requests are served, so they are enforced by admission: requests are taken in
order and admitted when every resource they use has room; the others are
rejected for the step (they count against the acceptance ratio) without blocking
the requests after them.
"""

from __future__ import annotations

import itertools

import numpy as np

from placement.model.domain import Catalog, HostKind, Substrate

EPS = 1e-9


def host_usage(sub: Substrate, cat: Catalog, placement: np.ndarray) -> np.ndarray:
    """MB used on every host."""
    return np.bincount(placement, weights=cat.need[cat.inst_type, placement], minlength=sub.n_hosts)


def rt_usage(sub: Substrate, cat: Catalog, placement: np.ndarray) -> np.ndarray:
    """MB of every switch's RDMA table taken by the VNFs in its EM."""
    em = sub.host_kind[placement] == HostKind.EM
    return np.bincount(
        sub.host_node[placement[em]], weights=cat.rt_mb[cat.inst_type[em]], minlength=sub.n_switches
    )


def storage_violations(sub: Substrate, cat: Catalog, placement: np.ndarray) -> list[str]:
    """Human-readable list of storage and RDMA-table overflows; empty when feasible."""
    out = []
    if placement.shape != (cat.n_instances,):
        return [f"placement needs {cat.n_instances} hosts, got shape {placement.shape}"]
    if (placement < 0).any() or (placement >= sub.n_hosts).any():
        return [f"host ids must be in [0, {sub.n_hosts}), got {placement.tolist()}"]
    used = host_usage(sub, cat, placement)
    for h in np.flatnonzero(used > sub.host_capacity + EPS):
        out.append(f"{sub.host_label(h)}: {used[h]:.1f} MB > {sub.host_capacity[h]:.1f} MB")
    rt = rt_usage(sub, cat, placement)
    for w in np.flatnonzero(rt > sub.rt_capacity + EPS):
        out.append(f"{sub.names[w]}/RT: {rt[w]:.1f} MB > {sub.rt_capacity[w]:.1f} MB")
    return out


def feasible_hosts(sub: Substrate, cat: Catalog, placement: np.ndarray) -> np.ndarray:
    """[I, H] mask of the dynamic filter: hosts whose remaining storage (and RDMA
    table, for EM) holds the instance, counting its own current host as free of it."""
    I = cat.n_instances
    free = sub.host_capacity - host_usage(sub, cat, placement)
    need = cat.need[cat.inst_type]  # [I, H]
    own = np.zeros((I, sub.n_hosts))
    own[np.arange(I), placement] = need[np.arange(I), placement]
    ok = need <= free[None, :] + own + EPS
    rt_free = sub.rt_capacity - rt_usage(sub, cat, placement)
    em_hosts = np.flatnonzero(sub.host_kind == HostKind.EM)
    rt_need = cat.rt_mb[cat.inst_type]
    own_rt = np.where(sub.host_kind[placement] == HostKind.EM, rt_need, 0.0)
    in_switch = sub.host_node[placement]
    rt_room = rt_free[None, :] + np.where(
        np.arange(sub.n_switches)[None, :] == in_switch[:, None], own_rt[:, None], 0.0
    )
    ok[:, em_hosts] &= rt_need[:, None] <= rt_room + EPS
    return ok & cat.static_mask[cat.inst_type]


def admit(request: np.ndarray, resource: np.ndarray, amount: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Requests (ids) rejected because a resource they use has no room for them.

    `request`, `resource`, `amount` list every use of a resource. Requests are
    served in id order; one is admitted when every resource it uses still has room
    for it, otherwise it is skipped (rejected) and the requests after it still get
    their chance: a rejected request never blocks a later one.
    """
    if len(request) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((resource, request))
    req, res, amt = request[order], resource[order], amount[order]
    # Fast path: when every resource holds all its uses, nobody is rejected.
    total = np.bincount(res, weights=amt, minlength=len(capacity))
    if (total <= capacity * (1 + EPS) + EPS).all():
        return np.zeros(0, dtype=np.int64)
    # Only requests that use an overflowing resource can be turned away, and only the
    # overflowing resources can turn them away: any subset of a resource's uses fits it
    # when all of them do. The sequential pass runs over those uses alone (exact).
    over = total > capacity * (1 + EPS) + EPS
    at_risk = np.unique(req[over[res]])
    keep = np.isin(req, at_risk) & over[res]
    req, res, amt = req[keep], res[keep], amt[keep]
    left = (capacity * (1 + EPS) + EPS).tolist()
    rejected = []
    starts = [*np.flatnonzero(np.r_[True, req[1:] != req[:-1]]).tolist(), len(req)]
    req_l, res_l, amt_l = req.tolist(), res.tolist(), amt.tolist()
    for a, b in itertools.pairwise(starts):
        need: dict[int, float] = {}
        for k in range(a, b):
            need[res_l[k]] = need.get(res_l[k], 0.0) + amt_l[k]
        if all(left[r] >= v for r, v in need.items()):
            for r, v in need.items():
                left[r] -= v
        else:
            rejected.append(req_l[a])
    return np.array(rejected, dtype=np.int64)
