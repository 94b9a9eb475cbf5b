"""The policy translator: edge loads (Mbps to move i → j) to concrete flows.

For each edge, heaviest load first, it moves the source's flows that bring the moved
amount closer to the requested load (a flow of rate r is taken while r < 2·what is left),
cheapest migration cost per Mbps first. What an edge cannot round to whole flows is
carried to the source's next edge (error diffusion), so a source sheds about the total
the network asked of it even when that total is spread thin over many destinations. A flow goes only where it fits: the destination
stays at or under Th_high and its free buffer holds the flow's state, so the translator
never overloads a destination whatever the network asks. A node the view drains
(scale-in) must be emptied: what the loads left there goes to the destinations the
network gave load to, then to any that fits; if it cannot be emptied, its moves are undone.
"""

from __future__ import annotations

import numpy as np

from migration.baselines import State
from migration.graph import View
from migration.model import Move, Problem


def translate(p: Problem, v: View, loads: np.ndarray) -> list[Move]:
    s = State(p)
    src = v.nodes[v.edges[0]]
    dst = v.nodes[v.edges[1]]
    allowed_dst = set(v.nodes[v.dests].tolist())
    pending: dict[int, list[int]] = {}
    for i in np.unique(src):
        pending[int(i)] = list(np.flatnonzero((p.src == i) & p.movable))
    carry = dict.fromkeys(pending, 0.0)
    for k in np.argsort(-loads, kind="stable"):
        i, j = int(src[k]), int(dst[k])
        q = float(loads[k]) + carry[i]  # what earlier edges of i could not round to flows comes along
        fl = pending.get(i, [])
        if q <= 0 or not fl or 2 * q <= p.rate[fl].min():
            carry[i] = max(q, 0.0)
            continue  # no flow brings this edge closer to its load
        order = sorted(fl, key=lambda f: p.cost[f, j] / p.rate[f])
        for f in order:
            if q <= 0:
                break
            if p.rate[f] < 2 * q and s.fits(f, j):
                s.move(f, j)
                q -= p.rate[f]
        carry[i] = max(q, 0.0)
        pending[i] = [f for f in fl if s.a[f] == i]
    for node in np.flatnonzero(v.drain):
        i = int(v.nodes[node])
        mine = src == i
        pref = [int(j) for j in dst[mine][np.argsort(-loads[mine], kind="stable")] if loads[mine].size]
        rest = sorted(allowed_dst - set(pref) - {i})
        moved = [f for f in np.flatnonzero(p.src == i) if s.a[f] != i]
        ok = True
        for f in sorted((f for f in np.flatnonzero(p.src == i) if s.a[f] == i), key=lambda f: -p.rate[f]):
            j = next((j for j in pref if s.fits(f, j)), None)
            if j is None:
                fits = [j for j in rest if s.fits(f, j)]
                j = min(fits, key=lambda j: p.cost[f, j]) if fits else None
            if j is None:
                ok = False
                break
            s.move(f, j)
            moved.append(f)
        if not ok:
            for f in moved:
                s.undo(f)
    return s.moves()


def top_up(p: Problem, moves: list[Move]) -> tuple[list[Move], int]:
    """Scale-out: `moves` (a policy's plan), topped up where they leave a source above Th_high;
    returns the plan and the number of flows added.

    The policy sizes each source's shed load itself and can fall a little short (225 of the
    240 packets/s asked on a hand-made loop case), and a source left overloaded would raise
    the orchestration loop's alert again. Each such source sheds, one flow at a time, the
    smallest flow that covers what is left over (else its largest; the next one where that
    fits nowhere), to the open instance with the most room, else to the nearest spare; only
    where the flow fits (State.fits)."""
    s = State(p)
    for m in moves:
        s.move(m.flow, m.dst)
    extra = 0
    for i in np.flatnonzero(p.active):
        while s.load[i] > p.thresholds.high * p.cap[i] + 1e-9:
            over = s.load[i] - p.thresholds.high * p.cap[i]
            fl = [int(f) for f in np.flatnonzero((s.a == i) & p.movable & (s.a == p.src))]
            cover = sorted((f for f in fl if p.rate[f] >= over), key=lambda f: p.rate[f])
            rest = sorted((f for f in fl if p.rate[f] < over), key=lambda f: -p.rate[f])
            room = lambda j: p.thresholds.high * p.cap[j] - s.load[j]
            for f in cover + rest:  # the first flow, in that order, that fits somewhere
                dests = [j for j in range(len(p.instances)) if s.fits(f, j)]
                if dests:
                    opened = [j for j in dests if s.open[j]]
                    s.move(f, max(opened, key=room) if opened else min(dests, key=lambda j: p.hop_ms[i, j]))
                    extra += 1
                    break
            else:
                break  # no flow of i fits anywhere
    return s.moves(), extra
