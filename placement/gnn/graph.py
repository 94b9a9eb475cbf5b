"""A day in progress as a graph: what the GNN policy reads.

Graph nodes are the substrate's nodes (switches, then servers) followed by the VNF
instances. Edges: every link (both directions, with its utilisation), every
instance to the node it sits on, consecutive instances of a chain (with the chain's
rate), and an instance to the source / destination switch of the chains it starts /
ends. Every feature is a ratio (free over capacity, cost over the instance's
dearest host, delay over deadline, ...), never an absolute size, so that one policy
reads a 5-switch tree and an 80-switch fat-tree alike.

Besides the graph, every (instance, host) pair gets features of what placing that
instance there would do (storage left, IT cost, processing delay against the
deadline, detour of its chains, price and delay of the move), and the mask of the
static filter: the pairs the policy scores at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from placement.model import delay as D
from placement.model.constraints import host_usage, rt_usage
from placement.model.cost import volume_mb
from placement.model.domain import HostKind
from placement.model.paths import hop_matrix
from placement.model.simulate import DayRun
from placement.model.step import cost_reference

NODE_FEATURES = 9
INST_FEATURES = 9
EDGE_FEATURES = 5  # type one-hot (link, placed-on, chain, end) + a value
PAIR_FEATURES = 17
EPS = 1e-9


@dataclass
class Encoded:
    """One decision state, as tensors (float32 / int64)."""

    x_node: torch.Tensor  # [N, NODE_FEATURES]
    x_inst: torch.Tensor  # [I, INST_FEATURES]
    edge_index: torch.Tensor  # [2, E] over N + I graph nodes
    edge_attr: torch.Tensor  # [E, EDGE_FEATURES]
    pair_inst: torch.Tensor  # [P] instance of each scored pair (static filter passed)
    pair_host: torch.Tensor  # [P] host of each scored pair
    pair_node: torch.Tensor  # [P] substrate node of that host
    pair_x: torch.Tensor  # [P, PAIR_FEATURES]
    n_inst: int
    n_hosts: int


def _log_ratio(x: np.ndarray) -> np.ndarray:
    """Ratios spanning decades, squashed to a few units either side of 0."""
    return np.clip(np.log10(np.maximum(x, 1e-6)), -4.0, 4.0) / 2.0


def encode(run: DayRun) -> Encoded:
    problem, day, t = run.problem, run.day, run.t
    sub, cat, paths = problem.sub, problem.cat, problem.paths
    I, H, N, W = cat.n_instances, sub.n_hosts, sub.n_nodes, sub.n_switches
    p = run.placement
    itype = cat.inst_type
    rate = day.rate[t]
    dl = day.deadline[t]
    valid = day.assign >= 0
    r_of, k_of = np.nonzero(valid)
    i_of = day.assign[r_of, k_of]
    total_rate = max(float(rate.sum()), EPS)

    # -- per instance: demand, its requests' tightest volume/deadline ratio --------
    demand = np.bincount(i_of, weights=rate[r_of], minlength=I)
    vol_dl = volume_mb(rate[r_of]) / np.maximum(dl[r_of], EPS)
    q_max = np.zeros(I)
    np.maximum.at(q_max, i_of, vol_dl)
    min_dl = np.full(I, np.inf)
    np.minimum.at(min_dl, i_of, dl[r_of])
    min_dl = np.where(np.isfinite(min_dl), min_dl, float(dl.max()))
    n_req = np.bincount(i_of, minlength=I)

    used = host_usage(sub, cat, p)
    free = sub.host_capacity - used
    cap = np.maximum(sub.host_capacity, EPS)
    rt_free = (sub.rt_capacity - rt_usage(sub, cat, p)) / np.maximum(sub.rt_capacity, EPS)
    kind = sub.host_kind

    # -- substrate nodes -------------------------------------------------------------
    util = np.minimum(run.arc_util, 1.0)
    node_util = np.bincount(sub.arc_src, weights=util, minlength=N) / np.maximum(
        np.bincount(sub.arc_src, minlength=N), 1
    )
    src_share = np.bincount(day.src, weights=rate, minlength=N) / total_rate
    dst_share = np.bincount(day.dst, weights=rate, minlength=N) / total_rate
    lm = np.flatnonzero(kind == HostKind.LM)
    em = np.flatnonzero(kind == HostKind.EM)
    srv = np.flatnonzero(kind == HostKind.SERVER)
    host_free = free / cap
    x_node = np.zeros((N, NODE_FEATURES))
    x_node[:W, 0] = 1.0
    x_node[W:, 1] = 1.0
    x_node[sub.host_node[lm], 2] = host_free[lm]
    x_node[sub.host_node[em], 3] = host_free[em]
    x_node[:W, 4] = rt_free
    x_node[sub.host_node[srv], 5] = host_free[srv]
    x_node[:, 6] = node_util
    x_node[:, 7] = src_share * W
    x_node[:, 8] = dst_share * W

    # -- instances --------------------------------------------------------------------
    ref_rate = float(cat.server_capacity.max())
    cur_cap = cat.capacity[itype, p]
    x_inst = np.zeros((I, INST_FEATURES))
    x_inst[:, 0] = _log_ratio(demand / ref_rate)
    x_inst[:, 1] = np.minimum(demand / np.maximum(cur_cap, EPS), 4.0)
    x_inst[:, 2] = _log_ratio(q_max)
    x_inst[:, 3] = _log_ratio(min_dl / 10.0)
    x_inst[:, 4] = n_req / max(day.n_chains, 1) * I
    x_inst[:, 5] = cat.server_mb[itype] / max(float(cat.server_mb.max()), EPS)
    x_inst[:, 6 + kind[p]] = 1.0

    # -- edges ------------------------------------------------------------------------
    e_src, e_dst, e_type, e_val = [], [], [], []

    def add(a, b, typ, val):
        a, b, val = np.asarray(a), np.asarray(b), np.asarray(val, dtype=np.float64)
        e_src.extend([a, b])
        e_dst.extend([b, a])
        e_type.extend([np.full(len(a), typ), np.full(len(a), typ)])
        e_val.extend([val, val])

    half = sub.n_arcs // 2  # arcs come as (a->b for every link, then b->a)
    add(sub.arc_src[:half], sub.arc_dst[:half], 0, 0.5 * (util[:half] + util[half:]))
    add(N + np.arange(I), sub.host_node[p], 1, np.ones(I))
    # chain adjacency, summed over requests
    nxt = np.zeros_like(valid)
    nxt[:, :-1] = valid[:, 1:]
    r2, k2 = np.nonzero(valid & nxt)
    if len(r2):
        key = day.assign[r2, k2] * I + day.assign[r2, k2 + 1]
        u, inv = np.unique(key, return_inverse=True)
        w = np.bincount(inv, weights=rate[r2]) / total_rate * I
        a, b = np.divmod(u, I)
        keep = a != b
        add(N + a[keep], N + b[keep], 2, w[keep])
    first, last = day.assign[:, 0], day.assign[np.arange(day.n_chains), day.chain_len - 1]
    for ends, sw in ((first, day.src), (last, day.dst)):
        key = ends * W + sw
        u, inv = np.unique(key, return_inverse=True)
        w = np.bincount(inv, weights=rate) / total_rate * I
        a, b = np.divmod(u, W)
        add(N + a, b, 3, w)
    edge_index = np.stack([np.concatenate(e_src), np.concatenate(e_dst)])
    et = np.concatenate(e_type)
    edge_attr = np.zeros((len(et), EDGE_FEATURES))
    edge_attr[np.arange(len(et)), et] = 1.0
    edge_attr[:, 4] = np.minimum(np.concatenate(e_val), 10.0)

    # -- (instance, host) pairs passing the static filter -----------------------------
    stat = cat.static_mask[itype]  # [I, H]
    pi, ph = np.nonzero(stat)
    v = itype[pi]
    hn = sub.host_node[ph]
    need = cat.need[v, ph]
    own = ph == p[pi]
    f_after = (free[ph] + np.where(own, need, 0.0) - need) / cap[ph]
    it = need * sub.host_unit_cost[ph]
    it_max = np.zeros(I)
    np.maximum.at(it_max, pi, it)
    ms = cat.ms_per_mb[v, ph]
    # Detour of the instance's chains through the host's node (as mpc prunes on),
    # with the chain's other instances where they are now.
    hops = hop_matrix(problem)
    node_p = sub.host_node[p]
    walk = np.concatenate(
        [day.src[:, None], np.where(valid, node_p[np.where(valid, day.assign, 0)], day.dst[:, None]),
         day.dst[:, None]], axis=1)  # fmt: skip
    prev_n, next_n = walk[r_of, k_of], walk[r_of, k_of + 2]
    # [I, N]: rate-weighted hops through each node, per instance
    through = np.zeros((I, N))
    np.add.at(through, i_of, rate[r_of][:, None] * (hops[prev_n] + hops[:, next_n].T))
    diam = max(float(hops[hops < N].max()), 1.0)
    norm = np.maximum(demand, EPS) * diam
    detour = through[pi, hn] / norm[pi]
    detour_delta = (through[pi, hn] - through[pi, node_p[pi]]) / norm[pi]
    # The move: migration (to a server) or programming (into a switch), its delay
    # against the tightest deadline and its price against the step's cost scale.
    moved = ~own
    route = paths.route(node_p[pi] * N + hn, paths.arc_weight(run.arc_util))
    bottleneck = np.where(node_p[pi] == hn, np.inf, paths.path_bottleneck[route])
    to_server = moved & (kind[ph] == HostKind.SERVER)
    to_switch = moved & (kind[ph] != HostKind.SERVER)
    mig_ms = np.where(np.isfinite(bottleneck), D.transfer_ms(cat.server_mb[v], bottleneck), 0.0)
    prog_ms = D.transfer_ms(cat.switch_mb[v], sub.controller_bw)
    move_ms = np.where(to_server, mig_ms, 0.0) + np.where(to_switch, prog_ms, 0.0)
    ref = cost_reference(problem, day, t)
    move_cost = (
        (
            np.where(to_server, cat.server_mb[v] * paths.path_cost[route], 0.0)
            + np.where(to_switch, cat.switch_mb[v] * sub.controller_cost, 0.0)
        )
        / ref
        * I
    )
    left = (day.n_steps - t) / day.n_steps

    px = np.zeros((len(pi), PAIR_FEATURES))
    px[np.arange(len(pi)), kind[ph]] = 1.0
    px[:, 3] = own
    px[:, 4] = hn == node_p[pi]
    px[:, 5] = np.clip(f_after, -1.0, 1.0)
    px[:, 6] = it / np.maximum(it_max[pi], EPS)
    px[:, 7] = _log_ratio(ms * q_max[pi])
    px[:, 8] = _log_ratio(cat.capacity[v, ph] / np.maximum(demand[pi], EPS))
    px[:, 9] = cat.capacity[v, ph] >= demand[pi]
    px[:, 10] = np.minimum(detour, 4.0)
    px[:, 11] = np.clip(detour_delta, -4.0, 4.0)
    px[:, 12] = _log_ratio(np.maximum(move_ms, 1e-6) / min_dl[pi]) * moved
    px[:, 13] = move_ms > min_dl[pi]
    px[:, 14] = np.minimum(move_cost, 10.0)
    px[:, 15] = left
    px[:, 16] = float(day.working[t])

    f32 = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32))
    i64 = lambda a: torch.as_tensor(np.asarray(a, dtype=np.int64))
    return Encoded(
        x_node=f32(x_node),
        x_inst=f32(x_inst),
        edge_index=i64(edge_index),
        edge_attr=f32(edge_attr),
        pair_inst=i64(pi),
        pair_host=i64(ph),
        pair_node=i64(hn),
        pair_x=f32(px),
        n_inst=I,
        n_hosts=H,
    )
