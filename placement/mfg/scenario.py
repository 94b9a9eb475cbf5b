"""The MEC scenario: nodes, shared links, VNFs, services (SFCs) and seeded request sets.

Units: computation GHz (node) and Gcycles per MB (VNF work), storage GB, transmission
and link capacity Mbps, packet size MB, delays ms. A VNF reserves `cpu`/`storage`/`tx`
on the node it is placed on (10–70 % of a node in the generated scenarios); its
processing takes `work` Gcycles per MB on that node's `cpu` (the paper's Eq. 6).
Each VNF is placed once and serves every SFC that lists it (the paper's x_(i,j)).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from topologies import InputError, read_yaml

DATA = Path(__file__).parent / "data"
BUNDLED = ("paper", "mec-10", "mec-30", "mec-100")
RESOURCES = ("cpu", "storage", "tx")


@dataclass(frozen=True)
class Node:
    name: str
    cpu: float  # GHz
    storage: float  # GB
    tx: float  # Mbps, the node's transmission resource (omega_i)


@dataclass(frozen=True)
class Link:
    a: int
    b: int
    capacity: float  # Mbps, one OFDMA channel shared by every flow that crosses it (both ways)


@dataclass(frozen=True)
class Vnf:
    name: str
    cpu: float  # GHz reserved
    storage: float  # GB reserved
    tx: float  # Mbps reserved; also its weight in the OFDMA split of a link
    work: float  # Gcycles per MB processed


@dataclass(frozen=True)
class Sfc:
    name: str
    vnfs: tuple[int, ...]  # ordered: ingress first, egress last
    rate: float  # requests per slot (Poisson)
    timeout: float  # ms (T_out)


@dataclass(frozen=True)
class RequestSpec:
    slots: int = 20
    size_mb: tuple[float, float] = (0.1, 2.0)


@dataclass(frozen=True)
class Scenario:
    name: str
    nodes: tuple[Node, ...]
    links: tuple[Link, ...]
    vnfs: tuple[Vnf, ...]
    sfcs: tuple[Sfc, ...]
    requests: RequestSpec = field(default_factory=RequestSpec)

    def need(self) -> np.ndarray:
        """(V, 3) reserved cpu, storage, tx of each VNF."""
        return np.array([[v.cpu, v.storage, v.tx] for v in self.vnfs], dtype=float)

    def capacity(self) -> np.ndarray:
        """(N, 3) cpu, storage, tx of each node."""
        return np.array([[n.cpu, n.storage, n.tx] for n in self.nodes], dtype=float)


@dataclass(frozen=True)
class Requests:
    """One seeded request set: rho_u^k = <s_k, beta_u, T_out> with its arrival slot."""

    sfc: np.ndarray  # (R,) int
    size_mb: np.ndarray  # (R,) float
    slot: np.ndarray  # (R,) int
    timeout: np.ndarray  # (R,) float, ms

    def volumes(self, n_sfcs: int) -> np.ndarray:
        """MB per SFC: the weights of the total-delay objective (delay is linear in size)."""
        return np.bincount(self.sfc, weights=self.size_mb, minlength=n_sfcs)


def sample_requests(s: Scenario, seed: int) -> Requests:
    """Poisson arrivals per SFC and slot, sizes uniform in the scenario's range; seeded."""
    rng = np.random.default_rng(seed)
    sfc, slot = [], []
    for t in range(s.requests.slots):
        for k, f in enumerate(s.sfcs):
            n = int(rng.poisson(f.rate))
            sfc += [k] * n
            slot += [t] * n
    sfc_a = np.array(sfc, dtype=int)
    lo, hi = s.requests.size_mb
    size = rng.uniform(lo, hi, size=len(sfc_a))
    timeout = np.array([s.sfcs[k].timeout for k in sfc_a], dtype=float)
    return Requests(sfc_a, size, np.array(slot, dtype=int), timeout)


# ---------------------------------------------------------------- parsing

_TOP = {"name", "nodes", "links", "vnfs", "sfcs", "requests"}


def _num(v: Any, src: str, item: str, lo: float = 0.0, hi: float = 1e9, strict: bool = True) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise InputError(src, item, f"must be a number, got {v!r}")
    if (v <= lo if strict else v < lo) or v > hi:
        raise InputError(src, item, f"must be in {'(' if strict else '['}{lo:g}, {hi:g}], got {v!r}")
    return float(v)


def _map(v: Any, src: str, item: str, keys: set[str], required: set[str]) -> dict:
    if not isinstance(v, dict):
        raise InputError(src, item, f"must be a mapping, got {type(v).__name__}")
    extra = sorted(set(map(str, v)) - keys)
    if extra:
        raise InputError(
            src, f"{item}.{extra[0]}", f"unknown key (expected one of {', '.join(sorted(keys))})"
        )
    missing = sorted(required - set(v))
    if missing:
        raise InputError(src, item, f"missing '{missing[0]}'")
    return v


def _list(v: Any, src: str, item: str) -> list:
    if not isinstance(v, list) or not v:
        raise InputError(src, item, "must be a non-empty list")
    return v


def _name(v: Any, src: str, item: str, seen: dict[str, int]) -> str:
    if not isinstance(v, str) or not v.strip():
        raise InputError(src, item, f"must be a non-empty string, got {v!r}")
    if v in seen:
        raise InputError(src, item, f"duplicate name '{v}'")
    seen[v] = len(seen)
    return v


def from_dict(d: Any, src: str = "<scenario>") -> Scenario:
    """Validate a parsed YAML scenario; any problem is one InputError naming the item."""
    d = _map(d, src, "scenario", _TOP, _TOP - {"requests"})
    name = d["name"]
    if not isinstance(name, str) or not name:
        raise InputError(src, "name", "must be a non-empty string")
    node_ix: dict[str, int] = {}
    nodes = []
    for i, n in enumerate(_list(d["nodes"], src, "nodes")):
        it = f"nodes[{i}]"
        n = _map(n, src, it, {"name", *RESOURCES}, {"name", *RESOURCES})
        nodes.append(
            Node(
                _name(n["name"], src, f"{it}.name", node_ix),
                *(_num(n[r], src, f"{it}.{r}") for r in RESOURCES),
            )
        )
    links, pairs = [], set()
    for i, ln in enumerate(d["links"] or []) if isinstance(d["links"], list) else []:
        it = f"links[{i}]"
        ln = _map(ln, src, it, {"a", "b", "capacity"}, {"a", "b", "capacity"})
        ends = []
        for e in ("a", "b"):
            if ln[e] not in node_ix:
                raise InputError(src, f"{it}.{e}", f"no node named {ln[e]!r}")
            ends.append(node_ix[ln[e]])
        if ends[0] == ends[1]:
            raise InputError(src, it, "a link joins two different nodes")
        key = (min(ends), max(ends))
        if key in pairs:
            raise InputError(src, it, f"duplicate link {ln['a']}–{ln['b']}")
        pairs.add(key)
        links.append(Link(key[0], key[1], _num(ln["capacity"], src, f"{it}.capacity")))
    if not isinstance(d["links"], list):
        raise InputError(src, "links", "must be a list")
    vnf_ix: dict[str, int] = {}
    vnfs = []
    keys = {"name", *RESOURCES, "work"}
    for i, v in enumerate(_list(d["vnfs"], src, "vnfs")):
        it = f"vnfs[{i}]"
        v = _map(v, src, it, keys, keys)
        vnfs.append(
            Vnf(
                _name(v["name"], src, f"{it}.name", vnf_ix),
                *(_num(v[r], src, f"{it}.{r}") for r in RESOURCES),
                _num(v["work"], src, f"{it}.work"),
            )
        )
    sfcs, seen_sfc, used = [], {}, set()
    for i, f in enumerate(_list(d["sfcs"], src, "sfcs")):
        it = f"sfcs[{i}]"
        f = _map(f, src, it, {"name", "vnfs", "rate", "timeout"}, {"name", "vnfs", "rate", "timeout"})
        nm = _name(f["name"], src, f"{it}.name", seen_sfc)
        chain = []
        for p, v in enumerate(_list(f["vnfs"], src, f"{it}.vnfs")):
            if v not in vnf_ix:
                raise InputError(src, f"{it}.vnfs[{p}]", f"no VNF named {v!r}")
            if vnf_ix[v] in chain:
                raise InputError(src, f"{it}.vnfs[{p}]", f"{v!r} appears twice in one SFC")
            chain.append(vnf_ix[v])
        used.update(chain)
        sfcs.append(
            Sfc(
                nm, tuple(chain), _num(f["rate"], src, f"{it}.rate"), _num(f["timeout"], src, f"{it}.timeout")
            )
        )
    unused = [vnfs[j].name for j in range(len(vnfs)) if j not in used]
    if unused:
        raise InputError(src, "vnfs", f"{unused[0]!r} is in no SFC")
    req = RequestSpec()
    if d.get("requests") is not None:
        r = _map(d["requests"], src, "requests", {"slots", "size_mb"}, set())
        slots = r.get("slots", req.slots)
        if isinstance(slots, bool) or not isinstance(slots, int) or not 1 <= slots <= 10_000:
            raise InputError(src, "requests.slots", f"must be an integer in 1..10000, got {slots!r}")
        size = r.get("size_mb", list(req.size_mb))
        if not isinstance(size, list) or len(size) != 2:
            raise InputError(src, "requests.size_mb", "must be [low, high] in MB")
        lo, hi = (_num(x, src, "requests.size_mb") for x in size)
        if lo > hi:
            raise InputError(src, "requests.size_mb", f"low {lo:g} is above high {hi:g}")
        req = RequestSpec(slots, (lo, hi))
    s = Scenario(name, tuple(nodes), tuple(links), tuple(vnfs), tuple(sfcs), req)
    _check_whole(s, src)
    return s


def _check_whole(s: Scenario, src: str) -> None:
    """What no single item shows: connectivity, and VNFs that cannot fit anywhere."""
    if len(s.nodes) > 1 and len(routes(s)) < len(s.nodes) ** 2:
        far = next(n.name for i, n in enumerate(s.nodes) if (0, i) not in routes(s))
        raise InputError(src, "links", f"node {far!r} cannot be reached from {s.nodes[0].name!r}")
    cap, need = s.capacity(), s.need()
    for j, v in enumerate(s.vnfs):
        if not (need[j] <= cap).all(axis=1).any():
            raise InputError(src, f"vnfs[{j}]", f"{v.name!r} fits on no node (cpu, storage and tx)")
    for r, res in enumerate(RESOURCES):
        if need[:, r].sum() > cap[:, r].sum():
            raise InputError(
                src, "vnfs", f"the VNFs need more {res} ({need[:, r].sum():g}) than all nodes have"
            )


def routes(s: Scenario) -> dict[tuple[int, int], tuple[int, ...]]:
    """Fixed route between every ordered node pair: link indices of a minimum-hop path.

    BFS visiting neighbours by decreasing capacity, so ties go to the wider links;
    deterministic. The same route serves both directions (links are undirected channels)."""
    adj: dict[int, list[tuple[float, int, int]]] = {i: [] for i in range(len(s.nodes))}
    for e, ln in enumerate(s.links):
        adj[ln.a].append((-ln.capacity, ln.b, e))
        adj[ln.b].append((-ln.capacity, ln.a, e))
    out: dict[tuple[int, int], tuple[int, ...]] = {}
    for src in range(len(s.nodes)):
        prev: dict[int, tuple[int, int]] = {src: (-1, -1)}
        q = deque([src])
        while q:
            u = q.popleft()
            for _, w, e in sorted(adj[u]):
                if w not in prev:
                    prev[w] = (u, e)
                    q.append(w)
        for dst in prev:
            path, u = [], dst
            while u != src:
                u, e = prev[u]
                path.append(e)
            out[(src, dst)] = tuple(reversed(path))
    return out


def load(spec: str | Path) -> Scenario:
    """A YAML file or a bundled name (paper, mec-10, mec-30, mec-100)."""
    if str(spec) in BUNDLED:
        if str(spec) == "paper":
            return from_dict(read_yaml(DATA / "paper.yaml"), "paper")
        return generate(int(str(spec).split("-")[1]), seed=int(str(spec).split("-")[1]))
    return from_dict(read_yaml(spec), str(spec))


def to_dict(s: Scenario) -> dict:
    return {
        "name": s.name,
        "nodes": [{"name": n.name, "cpu": n.cpu, "storage": n.storage, "tx": n.tx} for n in s.nodes],
        "links": [
            {"a": s.nodes[ln.a].name, "b": s.nodes[ln.b].name, "capacity": ln.capacity} for ln in s.links
        ],
        "vnfs": [
            {"name": v.name, "cpu": v.cpu, "storage": v.storage, "tx": v.tx, "work": v.work} for v in s.vnfs
        ],
        "sfcs": [
            {"name": f.name, "vnfs": [s.vnfs[j].name for j in f.vnfs], "rate": f.rate, "timeout": f.timeout}
            for f in s.sfcs
        ],
        "requests": {"slots": s.requests.slots, "size_mb": list(s.requests.size_mb)},
    }


# ---------------------------------------------------------------- generator


def generate(n_nodes: int, seed: int, vnfs_per_node: float = 1.5) -> Scenario:
    """A seeded larger MEC: heterogeneous nodes, a sparse connected mesh (ring plus chords,
    mean degree about 4), VNFs needing 10–70 % of a mean node per resource, SFCs of 3–5
    VNFs. Redraws the VNF needs until first-fit-decreasing packs them, so it is feasible."""
    if n_nodes < 2:
        raise InputError("generate", "nodes", "needs at least 2 nodes")
    rng = np.random.default_rng(seed)
    nodes = tuple(
        Node(
            f"mec-{i + 1}",
            round(rng.uniform(2, 6), 2),
            round(rng.uniform(16, 64), 1),
            round(rng.uniform(200, 800)),
        )
        for i in range(n_nodes)
    )
    pairs = {(i, (i + 1) % n_nodes) for i in range(n_nodes)} if n_nodes > 2 else {(0, 1)}
    pairs = {(min(p), max(p)) for p in pairs}
    while n_nodes > 3 and len(pairs) < min(2 * n_nodes, n_nodes * (n_nodes - 1) // 2):
        a, b = (int(x) for x in rng.choice(n_nodes, 2, replace=False))
        pairs.add((min(a, b), max(a, b)))
    links = tuple(Link(a, b, float(round(rng.uniform(50, 200)))) for a, b in sorted(pairs))
    cap = np.array([[n.cpu, n.storage, n.tx] for n in nodes])
    n_v = max(3, round(vnfs_per_node * n_nodes))
    for _ in range(1000):
        need = cap.mean(0) * rng.uniform(0.1, 0.7, size=(n_v, 3))
        if _ffd(need, cap):
            break
    else:  # pragma: no cover - the draw above succeeds for the sizes srem ships
        raise InputError("generate", "vnfs", "could not draw VNFs that fit")
    vnfs = tuple(
        Vnf(f"vnf-{j + 1}", *(round(float(x), 3) for x in need[j]), round(float(rng.uniform(0.1, 0.3)), 3))
        for j in range(n_v)
    )
    n_sfc = max(3, n_nodes)
    chains = [list(rng.choice(n_v, int(rng.integers(3, 6)), replace=False)) for _ in range(n_sfc)]
    for j in set(range(n_v)) - {j for c in chains for j in c}:  # every VNF serves some SFC
        c = chains[int(rng.integers(n_sfc))]
        c.insert(int(rng.integers(len(c) + 1)), j)
    sfcs = tuple(
        Sfc(f"SFC-{k + 1}", tuple(int(j) for j in c), round(float(rng.uniform(0.5, 2.0)), 2), 1500.0)
        for k, c in enumerate(chains)
    )
    return Scenario(f"mec-{n_nodes}-seed{seed}", nodes, links, vnfs, sfcs)


def _ffd(need: np.ndarray, cap: np.ndarray) -> bool:
    left = cap.copy()
    for j in np.argsort(-need.sum(1)):
        fits = np.nonzero((need[j] <= left).all(1))[0]
        if len(fits) == 0:
            return False
        left[fits[0]] -= need[j]
    return True
