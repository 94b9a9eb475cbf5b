"""DeepMigration as a decision: graph network → edge loads → translator → flows.

Scale-out and scale-in use the double-GNN structure: the network runs on the current
graph and on the graph with one more spare started next to the most loaded instance
(scale-out) or one more least-loaded candidate removed (scale-in); the Action
Comparison keeps the cheaper plan, and the next view is tried while it pays (every
view, when `exhaustive`), so one decision can start or stop several instances.

`plan(problem)` is the entry point for the orchestration loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
from torch_geometric.utils import softmax

from migration.gnn import MigrationGN
from migration.graph import View, features, n_views, view
from migration.model import Move, Problem
from migration.outcome import evaluate
from migration.translator import translate

DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "deepmigration.pt"
# The orchestration loop's policy: the shipped one fine-tuned on loop-sized problems (1-12
# instances, 3-40 flows each, overloads up to Th_high + 50 points, ω = 5000; docs/migration.md)
LOOP_MODEL = Path(__file__).resolve().parent / "models" / "deepmigration-loop.pt"


@dataclass
class Sample:
    """One view's action: what the network saw, what it drew, and what it cost."""

    view: View
    data: object
    z: torch.Tensor  # edge logits drawn
    y: torch.Tensor  # node amounts drawn
    moves: list[Move]
    cost: float  # J


def edge_loads(v: View, data, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mbps along each edge: the source's share (softmax over its edges) × amount × excess."""
    if z.numel() == 0:
        return z
    src = data.edge_index[0]
    share = softmax(z, src)
    amount = 2.0 * torch.sigmoid(y)
    amount = torch.where(
        torch.tensor(v.drain), torch.ones_like(amount), amount
    )  # a drained node sheds it all
    return share * amount[src] * torch.tensor(v.excess, dtype=torch.float32)[src]


def log_prob(model: MigrationGN, s: Sample) -> torch.Tensor:
    """log μ_θ(s, a) of a drawn action (with gradient)."""
    d = s.data
    mu_e, mu_n = model(d.x, d.edge_index, d.edge_attr, d.u)
    std = model.log_std.exp()
    lp = torch.distributions.Normal(mu_e, std[0]).log_prob(s.z).sum()
    mask = torch.tensor(s.view.sources & ~s.view.drain)
    return lp + torch.distributions.Normal(mu_n[mask], std[1]).log_prob(s.y[mask]).sum()


@torch.no_grad()
def act(model: MigrationGN, p: Problem, k: int, gen: torch.Generator | None) -> Sample:
    """Run the network on view k; draw from the policy (gen given) or take its mean."""
    v = view(p, k)
    d = features(p, v)
    mu_e, mu_n = model(d.x, d.edge_index, d.edge_attr, d.u)
    if gen is not None:
        std = model.log_std.exp()
        z = mu_e + std[0] * torch.randn(mu_e.shape, generator=gen)
        y = mu_n + std[1] * torch.randn(mu_n.shape, generator=gen)
    else:
        z, y = mu_e, mu_n
    loads = edge_loads(v, d, z, y).numpy().astype(float)
    moves = translate(p, v, loads)
    return Sample(v, d, z, y, moves, evaluate(p, moves).total)


def decide(
    model: MigrationGN, p: Problem, gen: torch.Generator | None = None, exhaustive: bool = False
) -> Sample:
    """The double-GNN decision: grow the view (one more spare / one fewer instance) while it pays."""
    best = act(model, p, 0, gen)
    worse = 0
    for k in range(1, n_views(p)):
        s = act(model, p, k, gen)
        if s.cost < best.cost - 1e-9:
            best, worse = s, 0
        else:
            worse += 1
            if not exhaustive and worse >= 2:
                break
    return best


def load_model(path: Path | str = DEFAULT_MODEL) -> MigrationGN:
    ck = torch.load(path, map_location="cpu", weights_only=False)
    m = MigrationGN(**ck.get("arch", {}))
    m.load_state_dict(ck["model"])
    m.eval()
    return m


@lru_cache(maxsize=4)
def _cached(path: str) -> MigrationGN:
    return load_model(path)


def plan(problem: Problem, model: Path | str | MigrationGN | None = None) -> list[tuple[str, str, str]]:
    """Which flows move where: [(flow name, from instance, to instance), ...].

    `problem` is the current state (`migration.problems.load`, or built from live counters);
    `model` defaults to the shipped policy. Deterministic (the policy's mean action). Never
    overloads a destination (Th_high, free buffer). Instances that end with flows but were
    not active are to be started; scale-in candidates left empty are to be stopped.
    """
    m = model if isinstance(model, MigrationGN) else _cached(str(model or DEFAULT_MODEL))
    s = decide(m, problem)
    names = [i.name for i in problem.instances]
    return [(problem.flows[mv.flow].name, names[mv.src], names[mv.dst]) for mv in s.moves]


def deepmigration(p: Problem, model: MigrationGN | None = None) -> list[Move]:
    """DeepMigration as a method beside the baselines (moves, not names)."""
    return decide(model or _cached(str(DEFAULT_MODEL)), p).moves


def noop_cost(p: Problem) -> float:
    return evaluate(p, []).total


def reward(p: Problem, cost: float) -> float:
    """What the plan saved against doing nothing, in units of one instance's cost R."""
    return float((noop_cost(p) - cost) / max(p.costs.resource, 1e-9))


__all__ = [
    "DEFAULT_MODEL",
    "LOOP_MODEL",
    "Sample",
    "act",
    "decide",
    "deepmigration",
    "load_model",
    "log_prob",
    "plan",
    "reward",
]
