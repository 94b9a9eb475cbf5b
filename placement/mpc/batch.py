"""`step.evaluate`'s reward for K placements at once, for the step-model search.

`mpc` scores every candidate host of an instance with two `evaluate` calls (moving
now, then keeping the placement); the candidates of one instance differ only in that
instance, and evaluating them one by one spends most of its time in numpy's per-call
overhead on small arrays. Here the same computation runs with a leading K axis.

It is `evaluate`, restated, not a model of its own: every quantity is computed with
the same operations in the same order, so the rewards come out bit for bit equal
(tested against `evaluate` on random feasible and infeasible placements):
- sums run over the last, contiguous axis, as in `evaluate` (numpy's pairwise sum
  groups a row of a 2-D array exactly as it groups the 1-D row);
- sums over a masked subset (`x[mask].sum()`) are taken per placement on the
  compressed slice, since zero-filling would regroup the pairwise sum;
- routes come from the same `PathTable` lookup (the argmin of summed arc weights);
- admission takes `evaluate`'s fast path (nobody rejected when every resource holds
  all its uses) on batched totals summed in the same order, and calls `admit` itself
  for the placements where a resource overflows.

Only what the search reads comes back: feasibility, reward and arc load. Routing,
the only costly part that does not depend on the step's rates, is done once by
`Routed` and shared by every step scored with the same link weights (the
forecasting agents score one placement on every remaining step of the day); the
paths chosen under one weight vector are kept for the next batches of a decision.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from placement.model import cost as C
from placement.model import delay as D
from placement.model.constraints import EPS, admit
from placement.model.domain import HostKind
from placement.model.paths import PathTable
from placement.model.step import cost_reference
from placement.model.workload import Day, Problem


def storage_ok(problem: Problem, placements: np.ndarray) -> np.ndarray:
    """[K] True where a placement breaks no storage or RDMA-table limit
    (`storage_violations` is empty), for valid host ids."""
    sub, cat = problem.sub, problem.cat
    K = len(placements)
    H, W = sub.n_hosts, sub.n_switches
    rows = np.arange(K)[:, None]
    need = cat.need[cat.inst_type[None, :], placements]
    used = np.bincount((rows * H + placements).ravel(), weights=need.ravel(), minlength=K * H).reshape(K, H)
    ok = ~(used > sub.host_capacity + EPS).any(1)
    em = sub.host_kind[placements] == HostKind.EM
    kk, ii = np.nonzero(em)
    sw = sub.host_node[placements[kk, ii]]
    rt = np.bincount(kk * W + sw, weights=cat.rt_mb[cat.inst_type[ii]], minlength=K * W).reshape(K, W)
    return ok & ~(rt > sub.rt_capacity + EPS).any(1)


def _argmin_paths(paths: PathTable, rows: np.ndarray, weight: np.ndarray, k: np.ndarray) -> np.ndarray:
    """The path `PathTable.choose` picks for pair row rows[e] under weight[k[e]]: the first
    of its candidates with the least summed arc weight (summed as `choose` sums it)."""
    cand = paths.cand[rows]  # [E, P]
    ev, pv = np.nonzero(paths.cand_valid[rows])  # real paths only; padding: inf
    w = np.full(cand.shape, np.inf)
    w[ev, pv] = weight.ravel()[k[ev, None] * weight.shape[1] + paths.parcs[cand[ev, pv]]].sum(-1)
    return cand[np.arange(len(rows)), w.argmin(1)]


# (id(PathTable), weights) -> (that PathTable, path per row, -1: not chosen yet). The table
# itself is held so that its id cannot be reused by another while the entry lives.
_MEMO: dict[tuple[int, bytes], tuple[PathTable, np.ndarray]] = {}
MEMO_SIZE = 4


def _memo(paths: PathTable, weight: np.ndarray, n_rows: int) -> np.ndarray:
    """The paths already chosen per pair row under these exact weights (-1 where none yet):
    every batch of a decision routes its step on the same link load, as `PathTable`'s own
    memo notes. The same weights choose the same paths, so it is exact."""
    key = (id(paths), weight.tobytes())
    hit = _MEMO.get(key)
    if hit is None or hit[0] is not paths:
        while len(_MEMO) >= MEMO_SIZE:
            del _MEMO[next(iter(_MEMO))]  # the oldest
        best = np.full(n_rows, -1, dtype=np.int64)
    else:
        best = hit[1]
        if len(best) < n_rows:  # rows registered since
            best = np.concatenate([best, np.full(n_rows - len(best), -1, dtype=np.int64)])
    _MEMO[key] = (paths, best)
    return best


def choose_paths(paths: PathTable, pairs: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Path id per entry of `pairs` [K, n] under arc weights [K, A+1] (one per placement)
    or [1, A+1] (shared): `PathTable.choose`'s choice, made once per pair where no arc of
    its paths weighs differently between placements, per placement where one does."""
    K = len(pairs)
    paths.ensure(pairs.ravel())
    rows = paths.pair_row[pairs]  # [K, n]
    chosen = paths.cand[rows, 0]
    # Only pairs with several min-hop paths have a choice to weigh (distinct rows found
    # with a mark per registered row rather than a sort).
    n_rows = len(paths.cand)
    multi = paths.cand_valid[:, 1] if paths.cand_valid.shape[1] > 1 else np.zeros(n_rows, bool)
    seen = np.zeros(n_rows, dtype=bool)
    seen[rows] = True
    used = np.flatnonzero(seen & multi)
    if not len(used):
        return chosen
    own = np.zeros(n_rows, dtype=bool)
    if len(weight) > 1:
        varies = (weight != weight[0]).any(0)
        own[used] = varies[paths.parcs[paths.cand[used]]].any((1, 2))
    once = used[~own[used]]
    pick = multi[rows]
    if len(weight) == 1:  # the step's own link load: the same in every batch of a decision
        best = _memo(paths, weight[0], n_rows)
        todo = once[best[once] < 0]
    else:
        best, todo = np.zeros(n_rows, dtype=np.int64), once
    best[todo] = _argmin_paths(paths, todo, weight, np.zeros(len(todo), dtype=np.int64))
    chosen[pick] = best[rows[pick]]
    if own.any():  # each (placement, pair row) whose paths' weights differ between placements
        mine = np.zeros((K, n_rows), dtype=bool)
        mine[np.arange(K)[:, None], rows] = True
        kk, uu = np.nonzero(mine & own)
        per = np.zeros((K, n_rows), dtype=np.int64)
        per[kk, uu] = _argmin_paths(paths, uu, weight, kk)
        at = own[rows]
        chosen[at] = per[np.nonzero(at)[0], rows[at]]
    return chosen


@dataclass
class Routed:
    """K placements applied after `previous`, routed on link weights: everything of a
    step that does not depend on its rates and deadlines."""

    placements: np.ndarray  # [K, I]
    moved: np.ndarray  # [K, I]
    to_server: np.ndarray  # [K, I]
    to_switch: np.ndarray  # [K, I]
    seg: np.ndarray  # [K, R, L+1] path of every segment of every chain
    mig: np.ndarray  # [K, I] migration path of every instance
    fixed: Fixed | None = None  # filled by the first `score`


def route(problem: Problem, day: Day, placements: np.ndarray, previous: np.ndarray, arc_util) -> Routed:
    """`previous` is [I] or [K, I]; `arc_util` is [A] (one weight for all) or [K, A]."""
    sub, paths = problem.sub, problem.paths
    N = sub.n_nodes
    p = placements
    K = len(p)
    R, L = day.assign.shape
    previous = np.broadcast_to(previous, p.shape)
    kind = sub.host_kind[p]
    node = sub.host_node[p]
    valid = day.assign >= 0
    inst = np.where(valid, day.assign, 0)
    seq = np.empty((K, R, L + 2), dtype=np.int64)
    seq[:, :, 0] = day.src
    seq[:, :, 1:-1] = np.where(valid, node[:, inst], day.dst[:, None])
    seq[:, :, -1] = day.dst
    moved = p != previous
    pairs = np.concatenate(
        [(seq[:, :, :-1] * N + seq[:, :, 1:]).reshape(K, -1), sub.host_node[previous] * N + node], axis=1
    )
    util = np.atleast_2d(arc_util)
    weight = np.minimum(util, 1.0) + paths.tiebreak  # `PathTable.arc_weight`, per row
    chosen = choose_paths(paths, pairs, np.concatenate([weight, np.zeros((len(util), 1))], axis=1))
    return Routed(
        placements=p,
        moved=moved,
        to_server=moved & (kind == HostKind.SERVER),
        to_switch=moved & (kind != HostKind.SERVER),
        seg=chosen[:, : R * (L + 1)].reshape(K, R, L + 1),
        mig=chosen[:, R * (L + 1) :],
    )


def _masked_sums(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """values[k][mask[k]].sum() for every row k, summed as numpy sums the 1-D slice: a
    full row as the row (same pairwise grouping), one element as itself, none as 0, and
    any other row on its compressed slice."""
    values = np.broadcast_to(values, mask.shape)
    count = mask.sum(1)
    out = np.where(count == mask.shape[1], values.sum(-1), 0.0)
    one = np.flatnonzero(count == 1)
    out[one] = values[one, mask[one].argmax(1)]
    for k in np.flatnonzero((count > 1) & (count < mask.shape[1])).tolist():
        out[k] = values[k][mask[k]].sum()
    return out


@dataclass
class Scored:
    reward: np.ndarray  # [K]
    arc_load: np.ndarray  # [K, A] Mbps of admitted traffic


@dataclass
class Fixed:
    """What a step's rates and deadlines do not change, per routed placement."""

    recon: np.ndarray  # [K, R] ms of reconfiguration before the request is served
    proc: np.ndarray  # [K, R] ms per MB of processing along the chain
    tx: np.ndarray  # [K, R] ms per MB of transmission along the chain's paths
    prop: np.ndarray  # [K, R] ms of propagation
    path_cost: np.ndarray  # [K, R] cost per MB along the chain's paths
    cap_i: np.ndarray  # [K, I] Mbps each instance serves on its host
    it: np.ndarray  # [K] storage cost
    rc: np.ndarray  # [K] reconfiguration cost
    # Every use of an instance and of an arc, in np.nonzero's (placement, request, ...)
    # order, with its resource: what admission and the link load are summed over.
    ki: np.ndarray
    ri: np.ndarray
    res_i: np.ndarray
    ka: np.ndarray
    ra: np.ndarray
    res_a: np.ndarray


def fixed(problem: Problem, day: Day, r: Routed) -> Fixed:
    sub, cat, paths = problem.sub, problem.cat, problem.paths
    N = sub.n_nodes
    p, seg, mig = r.placements, r.seg, r.mig
    K = len(p)
    R, L = day.assign.shape
    itype = cat.inst_type
    node = sub.host_node[p]
    valid = day.assign >= 0
    inst = np.where(valid, day.assign, 0)

    mig_ms = D.transfer_ms(cat.server_mb[itype], paths.path_bottleneck[mig])
    ks, iis = np.nonzero(r.to_switch)
    prog_mb = np.bincount(ks * N + node[ks, iis], weights=cat.switch_mb[itype[iis]], minlength=K * N)
    prog_ms = D.transfer_ms(prog_mb.reshape(K, N), sub.controller_bw)
    inst_rc = np.where(r.to_server, mig_ms, 0.0) + np.where(
        r.to_switch, prog_ms[np.arange(K)[:, None], node], 0.0
    )
    ctype = np.where(valid, day.chain_types, 0)
    if r.moved.any():
        rc = _masked_sums(C.migration_cost(cat.server_mb[itype], paths.path_cost[mig]), r.to_server)
        rc = rc + _masked_sums(
            np.broadcast_to(C.programming_cost(cat.switch_mb[itype], sub.controller_cost), p.shape),
            r.to_switch,
        )
    else:  # every sum is over nothing
        rc = np.zeros(K)
    # Uses in np.nonzero's (placement, request, position) order; arc uses in (placement,
    # request, segment, hop) order, as a padded [K, R, (L+1) * width] arc array lists them.
    r_i = np.nonzero(valid)[0]
    sid = seg.ravel()
    on_path = paths.parcs[sid]
    hops = paths.path_hops[sid]
    ka = np.repeat(np.arange(K), hops.reshape(K, -1).sum(1))
    ra = np.repeat(np.tile(np.repeat(np.arange(R), L + 1), K), hops)
    return Fixed(
        recon=np.where(valid, inst_rc[:, inst], 0.0).max(-1),
        proc=np.where(valid, cat.ms_per_mb[ctype, p[:, inst]], 0.0).sum(-1),
        tx=paths.path_tx[seg].sum(-1),
        prop=paths.path_prop[seg].sum(-1),
        path_cost=paths.path_cost[seg].sum(-1),
        cap_i=cat.capacity[itype, p],
        it=C.it_cost(cat.need[itype, p], sub.host_unit_cost[p]).sum(-1),
        rc=rc,
        ki=np.repeat(np.arange(K), len(r_i)),
        ri=np.tile(r_i, K),
        res_i=np.tile(day.assign[valid], K),
        ka=ka,
        ra=ra,
        res_a=on_path[on_path != paths.dummy_arc],
    )


def score(problem: Problem, day: Day, t: int, r: Routed) -> Scored:
    """Rewards of the routed placements at step `t` of `day` (all storage-feasible)."""
    sub, cat = problem.sub, problem.cat
    obj = problem.scenario.objective
    I, A = cat.n_instances, sub.n_arcs
    K = len(r.placements)
    R = day.assign.shape[0]
    if r.fixed is None:  # once per routing: a forecasting agent scores it on many steps
        r.fixed = fixed(problem, day, r)
    f = r.fixed
    rate = day.rate[t]
    delay = D.request_delay(f.recon, D.processing_ms(rate, f.proc), D.transmission_ms(rate, f.tx, f.prop))
    on_time = delay <= day.deadline[t] + EPS  # [K, R]

    # The uses of the requests on time (the order kept).
    flat = on_time.ravel()
    on_i, on_a = np.flatnonzero(flat[f.ki * R + f.ri]), np.flatnonzero(flat[f.ka * R + f.ra])
    ki, ri, res_i = f.ki[on_i], f.ri[on_i], f.res_i[on_i]
    ka, ra, res_a = f.ka[on_a], f.ra[on_a], f.res_a[on_a]
    # admit's fast path, per placement: totals in request order (admit sums them so).
    tot_i = np.bincount(ki * I + res_i, weights=rate[ri], minlength=K * I).reshape(K, I)
    tot_a = np.bincount(ka * A + res_a, weights=rate[ra], minlength=K * A).reshape(K, A)
    full_i, full_a = tot_i > f.cap_i * (1 + EPS) + EPS, tot_a > sub.arc_bw * (1 + EPS) + EPS
    over = full_i.any(1) | full_a.any(1)
    accepted = on_time.copy()
    if over.any():
        # `admit` turns requests away only on overflowing resources, and decides that
        # from their uses alone: handing it just those uses gives the same rejections.
        # One call for every overflowing placement: each gets its own request and resource
        # ids (placement j's are offset by j), so they never meet, and `admit`'s pass in
        # request order does each placement's pass in turn, as separate calls would.
        ks = np.flatnonzero(over)
        slot = np.full(K, -1)
        slot[ks] = np.arange(len(ks))
        si = np.flatnonzero(full_i[ki, res_i])
        sa = np.flatnonzero(full_a[ka, res_a])
        ji, ja = slot[ki[si]], slot[ka[sa]]
        n_res = I + A
        rejected = admit(
            np.concatenate([ji * R + ri[si], ja * R + ra[sa]]),
            np.concatenate([ji * n_res + res_i[si], ja * n_res + I + res_a[sa]]),
            np.concatenate([rate[ri[si]], rate[ra[sa]]]),
            np.concatenate([f.cap_i[ks], np.broadcast_to(sub.arc_bw, (len(ks), A))], axis=1).ravel(),
        )
        accepted[ks[rejected // R], rejected % R] = False
        arc_load = np.bincount(ka * A + res_a, weights=rate[ra] * accepted[ka, ra], minlength=K * A)
        arc_load = arc_load.reshape(K, A)
    else:  # every request on time is admitted: the load is the totals (same sums)
        arc_load = tot_a
    bw = _masked_sums(C.bandwidth_cost(rate, f.path_cost), accepted)
    total = C.total_cost(f.it, bw, f.rc, obj)
    norm = total / cost_reference(problem, day, t)
    ar = accepted.sum(-1) / R
    reward = obj.omega_ar * ar - obj.omega_cost * norm
    return Scored(reward=reward, arc_load=arc_load)


def evaluate_batch(
    problem: Problem, day: Day, t: int, placements: np.ndarray, previous: np.ndarray, arc_util: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(feasible [K], reward [K], arc load [K, A]) of every row of `placements` [K, I],
    as `evaluate(problem, day, t, placements[k], previous, arc_util)` gives them: a row
    that breaks storage keeps `previous` (its load) and earns 0."""
    placements = np.asarray(placements, dtype=np.int64)
    ok = storage_ok(problem, placements)
    p = np.where(ok[:, None], placements, previous)  # nothing half-applied, as in `evaluate`
    s = score(problem, day, t, route(problem, day, p, previous, arc_util))
    return ok, np.where(ok, s.reward, 0.0), s.arc_load
