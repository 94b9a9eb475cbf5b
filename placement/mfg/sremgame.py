"""The mean-field game on SR-EM's step problem (issue 20, part 5): the adapter that lets the
mean-field actor-critic place VNF instances on servers, switch LM and switch EM.

The mapping from the MEC game (`env.py`) to an SR-EM step:

- a **player** is a VNF instance (the MEC game's VNF); its **action** is the host it sits on
  next (every server, every switch's LM and EM: the MEC game's nodes);
- the **mean field** is the distribution of the *other* instances over hosts and over
  substrate nodes (the instance itself left out, as `env.mean_field`), plus where its chain
  neighbours sit: what the MEC agent reads about the others;
- its **own state** per host is what placing it there would do, the (instance, host)
  features srem's graph policy also reads (`placement.gnn.graph.encode`: storage left, IT
  cost, processing delay against the deadline, detour of its chains, delay and price of the
  move, time of day), with storage room counted under the round's placement;
- **moves** are simultaneous; hosts admit them in order and refuse one that would overflow
  their storage or RDMA table (the paper's dynamic filter; the MEC game's admission), so
  every visited placement fits. Hosts the static filter removes are never scored;
- the **payoff** is SR-EM's reward of the round's placement (acceptance against normalised
  cost, moving from the step's starting placement), now and, under this step's traffic, for
  the rest of the day (`mpc`'s persistence forecast): every instance's delay and cost feed
  the same acceptance ratio, so the players share it; in training each is paid its own
  marginal part of it (`sremtrain.marginal_payoffs`).

Deciding (`MfgAgent`) runs the learned dynamics from the placement in force for a few
rounds, several times (the first greedily, the rest sampled from the policy), and keeps the
visited placement with the best payoff, holding the current one when nothing beats it: the
controller of `train.decide`, with the step model in place of the MEC delay model. That
search uses the step's rates and deadlines, as greedy and mpc do; it is counted in the
decision time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from placement.gnn.graph import PAIR_FEATURES, encode
from placement.model.constraints import feasible_hosts, host_usage
from placement.model.simulate import DayRun
from placement.mpc.agent import MpcAgent
from topologies import InputError

# Per (instance, host), first the mean-field part (own position first: the critic reads its
# own host from feature 0), then the pair features of the graph policy's encoder.
MEAN_FIELD = ("own", "mean_field_host", "mean_field_node", "neighbours_on_node", "room")
FEATURES = MEAN_FIELD + tuple(f"pair{k}" for k in range(PAIR_FEATURES))
FORMAT = "srem-mfg-sr-em-policy"
VERSION = 1
DEFAULT_MODEL = Path(__file__).parent / "models" / "mfg-srem.pt"
_DAY_VALUE = MpcAgent().value


@dataclass
class StepState:
    """What stays fixed while the players move within one step."""

    pair: np.ndarray  # [I, H, PAIR_FEATURES]
    static: np.ndarray  # [I, H] the static filter
    neighbours: np.ndarray  # [I, I] rate share of each chain neighbour (rows sum to 1 or 0)
    need: np.ndarray  # [I, H] MB each instance takes on each host
    order: np.ndarray  # [I] admission order: largest demand first


def step_state(run: DayRun) -> StepState:
    problem, day = run.problem, run.day
    sub, cat = problem.sub, problem.cat
    I, H = cat.n_instances, sub.n_hosts
    e = encode(run)
    pair = np.zeros((I, H, PAIR_FEATURES), dtype=np.float32)
    pair[e.pair_inst.numpy(), e.pair_host.numpy()] = e.pair_x.numpy()
    static = cat.static_mask[cat.inst_type]
    # chain neighbours: consecutive instances of a chain, weighted by the chain's rate now
    rate = day.rate[run.t]
    a, b = day.assign[:, :-1], day.assign[:, 1:]
    r, k = np.nonzero((a >= 0) & (b >= 0))
    nb = np.zeros((I, I))
    np.add.at(nb, (a[r, k], b[r, k]), rate[r])
    nb = nb + nb.T
    np.fill_diagonal(nb, 0.0)
    nb /= np.maximum(nb.sum(1, keepdims=True), 1e-12)
    return StepState(pair, static, nb, cat.need[cat.inst_type], np.argsort(-run.demand(), kind="stable"))


def observe(run: DayRun, st: StepState, x: np.ndarray) -> np.ndarray:
    """[I, H, F] every player's view of every host under the round's placement x."""
    sub = run.problem.sub
    I, H = st.static.shape
    own = np.zeros((I, H), dtype=np.float32)
    own[np.arange(I), x] = 1.0
    others = max(I - 1, 1)
    count_h = np.bincount(x, minlength=H)
    mf_host = (count_h[None, :] - own) / others
    node_x = sub.host_node[x]
    count_n = np.bincount(node_x, minlength=sub.n_nodes)
    same_node = (node_x[:, None] == sub.host_node[None, :]).astype(np.float32)
    mf_node = (count_n[sub.host_node][None, :] - same_node) / others
    on_node = np.zeros((I, sub.n_nodes))
    on_node[np.arange(I), node_x] = 1.0
    nb_node = (st.neighbours @ on_node)[:, sub.host_node]
    used = host_usage(sub, run.problem.cat, x)
    cap = np.maximum(sub.host_capacity, 1e-9)
    # room on h for instance i after every other instance (itself taken off where it sits)
    room = (sub.host_capacity[None, :] - used[None, :] + own * st.need - st.need) / cap[None, :]
    mf = np.stack([own, mf_host, mf_node, nb_node, np.clip(room, -1.0, 1.0)], -1).astype(np.float32)
    return np.concatenate([mf, st.pair], -1)


def admit(run: DayRun, x: np.ndarray, moves: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hosts take the moves in `order`, refusing one they have no room for (storage, RDMA
    table): that instance stays. Returns the new placement and who was refused."""
    sub, cat = run.problem.sub, run.problem.cat
    out = x.copy()
    refused = np.zeros(len(x), dtype=bool)
    for i in order:
        h = int(moves[i])
        if h == out[i]:
            continue
        if feasible_hosts(sub, cat, out)[i, h]:
            out[i] = h
        else:
            refused[i] = True
    return out, refused


def step_reward(run: DayRun, x: np.ndarray) -> float:
    """The players' shared payoff: the SR-EM reward of moving to x now plus that of staying
    there for the rest of the day under this step's traffic (the persistence forecast `mpc`
    scores with: a move's price is paid once, its gain every step it lasts)."""
    v = _DAY_VALUE(run, x)
    return v if np.isfinite(v) else -float(run.day.n_steps)


def masked(logits: torch.Tensor, allowed: np.ndarray) -> torch.Tensor:
    """Hosts the filters remove get -inf: never chosen, no gradient."""
    return logits.masked_fill(~torch.as_tensor(allowed), -math.inf)


# ------------------------------------------------------------------------- the agent


@dataclass
class MfgAgent:
    """The mean-field actor-critic as an SR-EM placement agent."""

    net: torch.nn.Module
    seed: int = 0
    rollouts: int = 4  # the first greedy (argmax), the others sampled
    rounds: int = 4  # simultaneous moves per rollout
    name: str = "mfg"
    rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def start_day(self, split: str, day: int) -> None:
        """Draws come from (seed, split, day) alone: days run in any order or in parallel."""
        self.rng = np.random.default_rng([self.seed, ("train", "test").index(split), day])

    @torch.no_grad()
    def decide(self, run: DayRun) -> np.ndarray:
        st = step_state(run)
        g = torch.Generator().manual_seed(int(self.rng.integers(2**31)))
        best_x, best_r = run.placement.copy(), step_reward(run, run.placement)
        for k in range(self.rollouts):
            x = run.placement.copy()
            for _ in range(self.rounds):
                allowed = st.static & feasible_hosts(run.problem.sub, run.problem.cat, x)
                logits = masked(self.net.logits(torch.as_tensor(observe(run, st, x))), allowed)
                if k == 0:
                    a = logits.argmax(1).numpy()
                else:
                    a = torch.multinomial(torch.softmax(logits, 1), 1, generator=g).squeeze(1).numpy()
                x, _ = admit(run, x, a, st.order)
                r = step_reward(run, x)
                if r > best_r + 1e-12:
                    best_x, best_r = x.copy(), r
        return best_x


# ---------------------------------------------------------------------- policy files


def save(path: Path, net: torch.nn.Module, hidden: int, meta: dict | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {"format": FORMAT, "version": VERSION, "features": list(FEATURES), "hidden": hidden,
            "meta": meta or {}, "state_dict": net.state_dict()}  # fmt: skip
    tmp = path.with_suffix(".tmp")
    torch.save(blob, tmp)
    tmp.replace(path)  # never a half-written policy


def load(path: Path):
    """A policy file; anything else (missing, truncated, not a torch file, another agent's,
    another architecture, NaN weights) is an InputError in one line."""
    from placement.mfg.train import MeanFieldActorCritic

    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "policy", "no such file")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # whatever torch cannot read back
        first = (str(e).splitlines() or [type(e).__name__])[0][:120]
        if first.startswith("Weights only load failed"):  # torch's advice runs over many lines
            first = "not a torch file of plain tensors"
        raise InputError(str(path), "policy", f"cannot be read as an mfg policy ({first})") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise InputError(str(path), "policy", f"is not an SR-EM mfg policy (no '{FORMAT}' header)")
    if blob.get("version") != VERSION:
        raise InputError(str(path), "version", f"{blob.get('version')!r}, this srem reads {VERSION}")
    if tuple(blob.get("features") or ()) != FEATURES:
        raise InputError(str(path), "features", "were made by another version of the adapter")
    hidden = blob.get("hidden")
    if not isinstance(hidden, int) or not 1 <= hidden <= 4096:
        raise InputError(str(path), "hidden", f"{hidden!r} is not a layer width")
    net = MeanFieldActorCritic(len(FEATURES), hidden)
    try:
        net.load_state_dict(blob["state_dict"])
    except (RuntimeError, KeyError, TypeError, ValueError) as e:
        first = (str(e).splitlines() or [type(e).__name__])[0][:120]
        raise InputError(str(path), "weights", f"do not fit the mfg architecture ({first})") from None
    for name, t in net.state_dict().items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise InputError(str(path), name, "holds NaN or infinite weights")
    net.eval()
    return net
