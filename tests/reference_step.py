"""A plain, loop-by-loop evaluation of one step, written straight from model.md.

It shares only the pure cost/delay functions with `placement.step`: routes come
from networkx's Dijkstra, requests are walked one by one. Tests compare the two
on random placements; `make bench` uses it as the speed baseline.
"""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np

from placement.model import cost as C
from placement.model import delay as D
from placement.model.constraints import storage_violations
from placement.model.domain import HostKind


def reference_evaluate(problem, day, t, placement, previous, arc_util):
    sub, cat, obj = problem.sub, problem.cat, problem.scenario.objective
    if storage_violations(sub, cat, np.asarray(placement)):
        placement = previous
    placement = [int(h) for h in placement]
    weight = problem.paths.arc_weight(arc_util)
    g = nx.DiGraph()
    for a in range(sub.n_arcs):
        g.add_edge(int(sub.arc_src[a]), int(sub.arc_dst[a]), w=1.0 + weight[a], arc=a)

    def path_arcs(a, b):
        nodes = nx.dijkstra_path(g, a, b, weight="w")
        return [g.edges[u, v]["arc"] for u, v in itertools.pairwise(nodes)]

    node = [int(sub.host_node[h]) for h in placement]
    prog_mb = {}
    for i, h in enumerate(placement):
        if h != previous[i] and sub.host_kind[h] != HostKind.SERVER:
            prog_mb[node[i]] = prog_mb.get(node[i], 0.0) + cat.switch_mb[cat.inst_type[i]]
    inst_rc, rc_cost = [], 0.0
    for i, h in enumerate(placement):
        v = cat.inst_type[i]
        if h == previous[i]:
            inst_rc.append(0.0)
        elif sub.host_kind[h] == HostKind.SERVER:
            arcs = path_arcs(int(sub.host_node[previous[i]]), node[i])
            bott = min((sub.arc_bw[a] for a in arcs), default=np.inf)
            inst_rc.append(float(D.transfer_ms(cat.server_mb[v], bott)))
            rc_cost += float(C.migration_cost(cat.server_mb[v], sum(sub.arc_cost[a] for a in arcs)))
        else:
            inst_rc.append(float(D.transfer_ms(prog_mb[node[i]], sub.controller_bw)))
            rc_cost += float(C.programming_cost(cat.switch_mb[v], sub.controller_cost))

    rate = day.rate[t]
    walks, delays = [], []
    for r in range(day.n_chains):
        n = int(day.chain_len[r])
        insts = [int(i) for i in day.assign[r, :n]]
        stops = [int(day.src[r])] + [node[i] for i in insts] + [int(day.dst[r])]
        arcs = [a for u, v in itertools.pairwise(stops) if u != v for a in path_arcs(u, v)]
        proc = sum(cat.ms_per_mb[cat.inst_type[i], placement[i]] for i in insts)
        tx = sum(sub.arc_tx[a] for a in arcs)
        prop = sum(sub.arc_prop[a] for a in arcs)
        recon = max(inst_rc[i] for i in insts)
        delays.append(
            float(
                D.request_delay(recon, D.processing_ms(rate[r], proc), D.transmission_ms(rate[r], tx, prop))
            )
        )
        walks.append((insts, arcs))
    on_time = [delays[r] <= day.deadline[t, r] + 1e-9 for r in range(day.n_chains)]
    # Admission in request order: a request is admitted if every instance and arc it
    # uses has room for it; a rejected one takes nothing and blocks nobody after it.
    inst_used = [0.0] * cat.n_instances
    arc_used = [0.0] * sub.n_arcs
    accepted = []
    for r, (insts, arcs) in enumerate(walks):
        if not on_time[r]:
            accepted.append(False)
            continue
        ti, ta = list(inst_used), list(arc_used)
        ok = True
        for i in insts:
            ti[i] += rate[r]
            ok &= ti[i] <= cat.capacity[cat.inst_type[i], placement[i]] * (1 + 1e-9) + 1e-9
        for a in arcs:
            ta[a] += rate[r]
            ok &= ta[a] <= sub.arc_bw[a] * (1 + 1e-9) + 1e-9
        if ok:
            inst_used, arc_used = ti, ta
        accepted.append(bool(ok))
    it = sum(
        float(C.it_cost(cat.need[cat.inst_type[i], h], sub.host_unit_cost[h]))
        for i, h in enumerate(placement)
    )
    bw = sum(
        float(C.bandwidth_cost(rate[r], sum(sub.arc_cost[a] for a in walks[r][1])))
        for r in range(day.n_chains)
        if accepted[r]
    )
    return {
        "placement": placement,
        "delay": delays,
        "accepted": accepted,
        "cost_it": it,
        "cost_bw": bw,
        "cost_rc": rc_cost,
        "cost_total": float(C.total_cost(it, bw, rc_cost, obj)),
    }
