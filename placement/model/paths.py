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

import networkx as nx
import numpy as np

from placement.model.domain import Substrate


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
        # Cost tie-break, scaled so that it never outweighs one unit of utilisation.
        self.tiebreak = 1e-3 * sub.arc_cost / max(float(sub.arc_cost.max()), 1e-12)

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
        sub = self.sub
        hmax = max(1, max(len(p) for p in self._paths))
        self.parcs = np.full((len(self._paths), hmax), self.dummy_arc, dtype=np.int64)
        for i, p in enumerate(self._paths):
            self.parcs[i, : len(p)] = p
        kmax = max(len(r) for r in self._rows)
        self.cand = np.zeros((len(self._rows), kmax), dtype=np.int64)
        self.cand_valid = np.zeros((len(self._rows), kmax), dtype=bool)
        for i, r in enumerate(self._rows):
            self.cand[i, : len(r)] = r
            self.cand_valid[i, : len(r)] = True
        ext = lambda a, pad: np.append(a, pad)
        self.path_cost = ext(sub.arc_cost, 0.0)[self.parcs].sum(1)
        self.path_tx = ext(sub.arc_tx, 0.0)[self.parcs].sum(1)
        self.path_prop = ext(sub.arc_prop, 0.0)[self.parcs].sum(1)
        self.path_bottleneck = ext(sub.arc_bw, np.inf)[self.parcs].min(1)
        self.path_hops = (self.parcs != self.dummy_arc).sum(1)
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
        cand = self.cand[rows]
        w = weight[self.parcs[cand]].sum(-1)
        w[~self.cand_valid[rows]] = np.inf
        return cand[np.arange(len(rows)), w.argmin(1)]

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
