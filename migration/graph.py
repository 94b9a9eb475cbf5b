"""The state as a graph (the paper's State Collection): nodes are NF instances, edges the
migrations the scenario allows, the global attribute the overall load and scenario.

A *view* is one of the double-GNN's graphs: the current instances, or the current ones
plus k spares started next to the most loaded (scale-out), or minus the k least loaded
candidates (scale-in), whose flows must then all leave.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch_geometric.data import Data

from migration.model import SCENARIOS, Problem

NODE_DIM = 12
EDGE_DIM = 6
GLOBAL_DIM = 8


@dataclass(frozen=True)
class View:
    nodes: np.ndarray  # problem instance index of each graph node
    sources: np.ndarray  # graph nodes that send load (bool)
    dests: np.ndarray  # graph nodes that may receive (bool)
    drain: np.ndarray  # graph nodes whose flows must all leave (scale-in removals)
    excess: np.ndarray  # Mbps each source should shed (the scale of its edge loads)
    edges: np.ndarray  # (2, E) graph node indices, source → destination
    added: int
    removed: int


def view(p: Problem, k: int = 0) -> View:
    """The graph with k spares added (scale-out) or k candidates removed (scale-in)."""
    n = len(p.instances)
    load, cap, th = p.load, p.cap, p.thresholds
    has_mov = np.bincount(p.src[p.movable], minlength=n) > 0
    members = p.active.copy()
    drain = np.zeros(n, dtype=bool)
    if p.scenario == "scale-out":
        spares = np.flatnonzero(~p.active)
        if k and len(spares):
            hottest = int(np.argmax(np.where(p.active, p.util, -1)))
            order = spares[np.argsort(p.hop_ms[hottest, spares], kind="stable")]
            members[order[:k]] = True
        src = p.active & has_mov
        excess = np.maximum(0.0, load - th.high * cap)
        dst = members & ~src
    elif p.scenario == "scale-in":
        cands = np.flatnonzero(p.candidates)
        order = cands[np.argsort(load[cands], kind="stable")]
        drain[order[:k]] = True
        src = drain.copy()
        excess = np.where(drain, load, 0.0)
        dst = p.active & ~drain
    else:
        src = p.active & has_mov & (p.util > p.target)
        excess = np.maximum(0.0, load - p.target * cap)
        dst = p.destinations.copy()
    nodes = np.flatnonzero(members)
    pos = -np.ones(n, dtype=int)
    pos[nodes] = np.arange(len(nodes))
    s_nodes, d_nodes = np.flatnonzero(src[nodes]), np.flatnonzero(dst[nodes])
    ei = np.stack([np.repeat(s_nodes, len(d_nodes)), np.tile(d_nodes, len(s_nodes))])
    ei = ei[:, ei[0] != ei[1]]
    return View(nodes, src[nodes], dst[nodes], drain[nodes], excess[nodes], ei,
                int(min(k, (~p.active).sum())) if p.scenario == "scale-out" else 0,
                int(drain.sum()))  # fmt: skip


def n_views(p: Problem) -> int:
    if p.scenario == "scale-out":
        return int((~p.active).sum()) + 1
    if p.scenario == "scale-in":
        return int(p.candidates.sum()) + 1
    return 1


def features(p: Problem, v: View) -> Data:
    """Node, edge and global attributes, scaled to order 1."""
    idx = v.nodes
    cap = p.cap[idx]
    u = p.util[idx]
    th = p.thresholds
    room = np.maximum(0.0, th.high * cap - p.load[idx]) / cap
    buf = np.array([p.instances[j].buffer_mb for j in idx])
    new = ~p.active[idx]
    mov = p.movable
    nflows = np.bincount(p.src[mov], minlength=len(p.instances))[idx]
    x = np.stack(
        [u, u - th.high, u - p.target, p.queue_ms[idx] / 5, buf, v.sources, v.dests, v.drain, new,
         v.excess / cap, room, np.log1p(nflows) / 4],
        axis=1,
    )  # fmt: skip
    # edge attributes from the source's movable flows: mean / min cost, SLA misses, state per Mbps
    s_prob, d_prob = idx[v.edges[0]], idx[v.edges[1]]
    n = len(p.instances)
    f_idx = np.flatnonzero(mov)
    sums = np.zeros((n, n))
    late = np.zeros((n, n))
    np.add.at(sums, p.src[f_idx], p.cost[f_idx])
    np.add.at(late, p.src[f_idx], p.late[f_idx])
    cnt = np.maximum(1, np.bincount(p.src[f_idx], minlength=n))[:, None]
    mean_c, late_frac = sums / cnt, late / cnt
    e = np.stack(
        [p.hop_ms[s_prob, d_prob], mean_c[s_prob, d_prob] / 10, late_frac[s_prob, d_prob],
         (p.queue_ms[d_prob] - p.queue_ms[s_prob]) / 5, room[v.edges[1]], v.excess[v.edges[0]] / cap[v.edges[0]]],
        axis=1,
    ) if v.edges.shape[1] else np.zeros((0, EDGE_DIM))  # fmt: skip
    g = np.zeros(GLOBAL_DIM)
    g[SCENARIOS.index(p.scenario)] = 1.0
    act = p.active
    g[3:] = [p.target, th.high, th.low, np.log(max(1, act.sum())) / 5, float(np.var(p.util[act])) * 10]
    return Data(
        x=torch.tensor(x, dtype=torch.float32),
        edge_index=torch.tensor(v.edges, dtype=torch.long),
        edge_attr=torch.tensor(e, dtype=torch.float32),
        u=torch.tensor(g, dtype=torch.float32)[None, :],
    )
