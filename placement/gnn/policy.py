"""The GNN placement policy: a graph encoder (PyTorch Geometric), a score per
(instance, host) pair, and the paper's two filters.

- Static filter, on the output layer: only pairs whose host can ever hold the
  instance's VNF are scored at all; every other host gets -inf before the
  softmax/argmax, so it is never chosen and no gradient reaches it.
- Dynamic filter, on storage: instances choose one after the other (largest
  demand first), each among the hosts whose remaining storage (and RDMA table)
  still holds it given the choices made so far, so a joint action never overflows.

Nothing in the network depends on the number of nodes, hosts or instances: one
policy file runs on any substrate.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch_geometric.nn import GATv2Conv

from placement.gnn.graph import EDGE_FEATURES, INST_FEATURES, NODE_FEATURES, PAIR_FEATURES, Encoded, encode
from placement.model.constraints import feasible_hosts
from placement.model.simulate import DayRun
from topologies import InputError

FORMAT = "srem-gnn-policy"
VERSION = 1


@dataclass(frozen=True)
class GnnConfig:
    hidden: int = 64
    layers: int = 3
    heads: int = 2


class GnnPolicy(nn.Module):
    def __init__(self, cfg: GnnConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.hidden
        self.node_in = nn.Sequential(nn.Linear(NODE_FEATURES, d), nn.ReLU())
        self.inst_in = nn.Sequential(nn.Linear(INST_FEATURES, d), nn.ReLU())
        self.convs = nn.ModuleList(
            GATv2Conv(d, d, heads=cfg.heads, concat=False, edge_dim=EDGE_FEATURES, add_self_loops=False)
            for _ in range(cfg.layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(d) for _ in range(cfg.layers))
        self.score = nn.Sequential(
            nn.Linear(2 * d + PAIR_FEATURES, d), nn.ReLU(), nn.Linear(d, d), nn.ReLU(), nn.Linear(d, 1)
        )

    def forward(self, e: Encoded) -> torch.Tensor:
        """[I, H] logits; -inf where the static filter removes the host."""
        h = torch.cat([self.node_in(e.x_node), self.inst_in(e.x_inst)])
        for conv, norm in zip(self.convs, self.norms, strict=True):
            h = norm(h + torch.relu(conv(h, e.edge_index, e.edge_attr)))  # residual: depth stays cheap
        n = e.x_node.shape[0]
        z = torch.cat([h[n + e.pair_inst], h[e.pair_node], e.pair_x], dim=1)
        s = self.score(z).squeeze(1)
        out = torch.full((e.n_inst, e.n_hosts), -math.inf)
        return out.index_put((e.pair_inst, e.pair_host), s)


def masked_logits(logits: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """Hosts not allowed get -inf: out of the softmax, and no gradient flows to them."""
    return logits.masked_fill(~allowed, -math.inf)


def choose(logits: np.ndarray, run: DayRun, order: np.ndarray) -> np.ndarray:
    """Instances in `order`, each on its best host among those the dynamic filter
    leaves given the choices before it (its current host always fits)."""
    sub, cat = run.problem.sub, run.problem.cat
    out = run.placement.copy()
    for i in order:
        ok = feasible_hosts(sub, cat, out)[i]
        s = np.where(ok, logits[i], -np.inf)
        if np.isfinite(s).any():
            out[i] = int(np.argmax(s))
    return out


@dataclass
class GnnAgent:
    policy: GnnPolicy
    name: str = "gnn"

    def decide(self, run: DayRun) -> np.ndarray:
        with torch.no_grad():
            logits = self.policy(encode(run)).numpy()
        return choose(logits, run, np.argsort(-run.demand(), kind="stable"))


# ---------------------------------------------------------------- policy files


def save(policy: GnnPolicy, path: Path, meta: dict | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {"format": FORMAT, "version": VERSION, "config": asdict(policy.cfg), "meta": meta or {},
            "state_dict": policy.state_dict()}  # fmt: skip
    torch.save(blob, path)


def load(path: Path) -> GnnPolicy:
    """A policy file; anything else (missing, truncated, another architecture, NaN
    weights) is an InputError in one line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "policy", "no such file")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # any file torch cannot read back (truncated, text, another pickle)
        first = (str(e).splitlines() or [type(e).__name__])[0][:120]
        if first.startswith("Weights only load failed"):  # torch's advice runs over many lines
            first = "not a torch file of plain tensors"
        raise InputError(str(path), "policy", f"cannot be read as a gnn policy ({first})") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise InputError(str(path), "policy", f"is not a gnn policy (no '{FORMAT}' header)")
    if blob.get("version") != VERSION:
        raise InputError(str(path), "version", f"{blob.get('version')!r}, this srem reads {VERSION}")
    known = {f.name for f in fields(GnnConfig)}
    raw = blob.get("config")
    if not isinstance(raw, dict) or set(raw) - known:
        raise InputError(str(path), "config", f"unknown fields {sorted(set(raw or {}) - known)}")
    try:
        policy = GnnPolicy(GnnConfig(**raw))
        policy.load_state_dict(blob["state_dict"])
    except (RuntimeError, KeyError, TypeError, ValueError) as e:
        first = (str(e).splitlines() or [type(e).__name__])[0][:120]
        raise InputError(str(path), "weights", f"do not fit the gnn architecture ({first})") from None
    for name, t in policy.state_dict().items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise InputError(str(path), name, "holds NaN or infinite weights")
    policy.eval()
    return policy
