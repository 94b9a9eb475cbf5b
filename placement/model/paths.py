"""Load-aware shortest paths with a vectorised lookup.

Routing follows the paper: Dijkstra with link load as the weight. The weight of
an arc is `1 + u` with `u` the arc's utilisation at the start of the step scaled
to below 1 per path, so a route never detours: among the minimum-hop paths it
takes the least loaded one, ties going to the cheapest. Candidate min-hop paths
are enumerated once per node pair (lazily: a k=16 fat-tree has 1.8 M pairs) and
kept as padded arrays, so choosing routes for a whole step is one gather, one
sum and one argmin.
"""

from __future__ import annotations

import itertools
from functools import cache

import networkx as nx
import numpy as np

from placement.model.domain import Substrate

MEMO_WEIGHTS = 8  # weight vectors whose path choices are kept


class PathTable:
    def __init__(self, sub: Substrate, max_paths: int = 64) -> None:
        self.sub = sub
        self.max_paths = max_paths
        n = sub.n_nodes
        self._g = nx.DiGraph()
        self._g.add_nodes_from(range(n))
        self._g.add_edges_from(zip(sub.arc_src.tolist(), sub.arc_dst.tolist(), strict=True))
        self._arc = {
            (int(a), int(b)): i for i, (a, b) in enumerate(zip(sub.arc_src, sub.arc_dst, strict=True))
        }
        self.dummy_arc = sub.n_arcs  # padding slot: zero weight, zero cost, infinite bandwidth
        self.pair_row = np.full(n * n, -1, dtype=np.int64)
        self._paths: list[tuple[int, ...]] = [()]  # path 0: the dummy padding path
        self._rows: list[list[int]] = []
        self._dirty = True
        self._built_paths = self._built_rows = 0  # how many of each the arrays hold
        # Cost tie-break, scaled so that it never outweighs one unit of utilisation.
        self.tiebreak = 1e-3 * sub.arc_cost / max(float(sub.arc_cost.max()), 1e-12)
        self._memo: dict[bytes, list] = {}  # weights -> [times asked, chosen path per row]

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_memo": {}}  # kept choices are this process's cache only

    def __setstate__(self, state: dict) -> None:
        # Ray and other zero-copy loaders hand out read-only arrays; pairs are registered
        # into pair_row in place.
        self.__dict__.update(state)
        if not self.pair_row.flags.writeable:
            self.pair_row = self.pair_row.copy()

    # -- registry ------------------------------------------------------------
    def _register(self, pairs: np.ndarray) -> None:
        n = self.sub.n_nodes
        for p in pairs.tolist():
            a, b = divmod(p, n)
            if a == b:
                node_paths = [[a]]
            else:
                node_paths = list(itertools.islice(nx.all_shortest_paths(self._g, a, b), self.max_paths))
            row = []
            for nodes in node_paths:
                self._paths.append(tuple(self._arc[(u, v)] for u, v in itertools.pairwise(nodes)))
                row.append(len(self._paths) - 1)
            self.pair_row[p] = len(self._rows)
            self._rows.append(row)
        self._dirty = True

    def _rebuild(self) -> None:
        """Add the paths and pairs registered since the last call to the padded arrays.

        Only the new ones are built and appended: a planner that meets new pairs all
        the time (the k=8 fat-tree has 40 k) would otherwise rebuild every array each time."""
        sub = self.sub
        paths, rows = self._paths[self._built_paths :], self._rows[self._built_rows :]
        width = max(1, max((len(p) for p in paths), default=1))
        parcs = np.full((len(paths), width), self.dummy_arc, dtype=np.int64)
        for i, p in enumerate(paths):
            parcs[i, : len(p)] = p
        kmax = max((len(r) for r in rows), default=1)
        cand = np.zeros((len(rows), kmax), dtype=np.int64)
        valid = np.zeros((len(rows), kmax), dtype=bool)
        for i, r in enumerate(rows):
            cand[i, : len(r)] = r
            valid[i, : len(r)] = True
        ext = lambda a, pad: np.append(a, pad)
        new = {
            "path_cost": ext(sub.arc_cost, 0.0)[parcs].sum(1),
            "path_tx": ext(sub.arc_tx, 0.0)[parcs].sum(1),
            "path_prop": ext(sub.arc_prop, 0.0)[parcs].sum(1),
            "path_bottleneck": ext(sub.arc_bw, np.inf)[parcs].min(1),
            "path_hops": (parcs != self.dummy_arc).sum(1),
        }
        if self._built_paths == 0:
            self.parcs, self.cand, self.cand_valid = parcs, cand, valid
            for name, values in new.items():
                setattr(self, name, values)
        else:
            self.parcs = _stack(self.parcs, parcs, self.dummy_arc)
            self.cand = _stack(self.cand, cand, 0)
            self.cand_valid = _stack(self.cand_valid, valid, False)
            for name, values in new.items():
                setattr(self, name, np.concatenate([getattr(self, name), values]))
        self._built_paths, self._built_rows = len(self._paths), len(self._rows)
        self._dirty = False

    def ensure(self, pairs: np.ndarray) -> None:
        missing = pairs[self.pair_row[pairs] < 0]
        if len(missing):
            self._register(np.unique(missing))
        if self._dirty:
            self._rebuild()

    # -- routing ---------------------------------------------------------------
    def arc_weight(self, utilisation: np.ndarray) -> np.ndarray:
        """Per-arc routing weight from utilisation (load / bandwidth), padded."""
        return np.append(np.minimum(utilisation, 1.0) + self.tiebreak, 0.0)

    def choose(self, pairs: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """Best path id for each of the distinct `pairs` (node a * N + b)."""
        self.ensure(pairs)
        rows = self.pair_row[pairs]
        best = self._memo_for(weight)
        todo = rows[best[rows] < 0] if best is not None else rows
        if len(todo):
            cand = self.cand[todo]
            w = weight[self.parcs[cand]].sum(-1)
            w[~self.cand_valid[todo]] = np.inf
            chosen = cand[np.arange(len(todo)), w.argmin(1)]
            if best is None:
                return chosen
            best[todo] = chosen
        return best[rows]

    def _memo_for(self, weight: np.ndarray) -> np.ndarray | None:
        """The path chosen per pair row under `weight`, filled as pairs are asked for.

        A planner scores many placements under one step's weights: those choices are
        kept (for the few weights seen most often) instead of summed again. Exact: the
        same weights give the same choices."""
        key = weight.tobytes()
        hit = self._memo.get(key)
        if hit is None:
            if len(self._memo) >= MEMO_WEIGHTS:
                del self._memo[min(self._memo, key=lambda k: self._memo[k][0])]
            hit = self._memo[key] = [0, None]
        hit[0] += 1
        if hit[0] < 2:
            return None  # seen once: likely never again
        if hit[1] is None or len(hit[1]) < len(self._rows):
            grown = np.full(len(self._rows), -1, dtype=np.int64)
            if hit[1] is not None:
                grown[: len(hit[1])] = hit[1]
            hit[1] = grown
        return hit[1]

    def route(self, pairs: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """Path id for every pair in an array of any shape."""
        uniq, inv = np.unique(pairs, return_inverse=True)
        return self.choose(uniq, weight)[inv].reshape(pairs.shape)

    def nodes_of(self, path: int) -> list[str]:
        """Node names along a path, for display and tests."""
        arcs = [a for a in self.parcs[path] if a != self.dummy_arc]
        if not arcs:
            return []
        sub = self.sub
        return [sub.names[int(sub.arc_src[arcs[0]])]] + [sub.names[int(sub.arc_dst[a])] for a in arcs]


def _stack(old: np.ndarray, new: np.ndarray, pad) -> np.ndarray:
    """Rows of `new` below those of `old`, the narrower one padded on the right."""
    width = max(old.shape[1], new.shape[1])
    grow = lambda a: (
        a if a.shape[1] == width else np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=pad)
    )
    return np.concatenate([grow(old), grow(new)])


@cache
def hop_matrix(problem) -> np.ndarray:
    """[N, N] hop counts between the substrate's nodes, once per problem (planners rank
    hosts by how far a request would detour through them)."""
    sub = problem.sub
    at = {name: sub.index(name) for name in sub.names}
    h = np.full((sub.n_nodes, sub.n_nodes), sub.n_nodes, dtype=np.float64)
    for a, dist in nx.all_pairs_shortest_path_length(sub.graph):
        for b, d in dist.items():
            h[at[a], at[b]] = d
    return h
