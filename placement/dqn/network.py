"""SR-EM's filtered DQN: one Q-network per VNF instance, one output per host.

- Static filter: the output-layer weights (and bias) of hosts that can never hold
  an instance's VNF are fixed at zero by a mask in the forward pass, so they get
  no gradient and stay zero; their Q-values are never chosen.
- Dynamic filter: at every step only hosts whose remaining storage holds the
  instance may be chosen. Actions are picked instance by instance, re-masking
  after each choice, so a joint action never overflows a host.
- hybrid = both, none = neither (the network may then pick infeasible hosts and
  learn from the zero reward, as in the paper's ablation).

The per-instance networks are batched: weights are [I, in, out] tensors and a
forward pass is two `einsum`s, whatever the number of instances.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from placement.model.constraints import feasible_hosts
from placement.model.domain import HostKind
from placement.model.step import cost_reference
from placement.model.workload import Problem

FILTERS = ("none", "static", "dynamic", "hybrid")


@dataclass(frozen=True)
class DqnConfig:
    filter: str = "hybrid"
    hidden: int = 64
    lr: float = 0.2  # the paper's
    gamma: float = 0.3  # the paper's
    optimizer: str = "sgd"
    batch: int = 64
    buffer: int = 20_000
    learning_starts: int = 256
    train_every: int = 1
    target_every: int = 250
    eps_start: float = 1.0
    eps_end: float = 0.02  # 98 % greedy
    eps_decay_steps: int = 12_000  # 2,000 days of 6 steps: then 98 % greedy
    grad_clip: float = 10.0
    # The DDQN-CM baseline is this loop with: double Q-learning, servers as the
    # only hosts, the server placement as the state, and delay + migration as cost.
    double: bool = False
    hosts: str = "all"  # all | servers
    state: str = "full"  # full | placement
    reward: str = "srem"  # srem | delay_migration
    # One hidden layer shared by all instances (per-instance output layers stay):
    # far fewer weights on large fat-trees. The paper's variant is the default.
    shared_trunk: bool = False

    @property
    def name(self) -> str:
        return "ddqn-cm" if self.hosts == "servers" else "srem"

    @property
    def static(self) -> bool:
        return self.filter in ("static", "hybrid")

    @property
    def dynamic(self) -> bool:
        return self.filter in ("dynamic", "hybrid")


def ddqn_cm_config(**changes) -> DqnConfig:
    """The DDQN-CM baseline: migrates instances among servers only."""
    base = {
        "filter": "dynamic",
        "double": True,
        "hosts": "servers",
        "state": "placement",
        "reward": "delay_migration",
    }
    return DqnConfig(**{**base, **changes})


class FilteredQNet(nn.Module):
    """Q[b, i, h] for every instance i and host h, from the shared state features."""

    def __init__(
        self,
        n_features: int,
        static_mask: np.ndarray,
        hidden: int,
        use_static: bool,
        hosts: np.ndarray | None = None,
        shared_trunk: bool = False,
    ) -> None:
        super().__init__()
        n_inst, n_hosts = static_mask.shape
        trunks = 1 if shared_trunk else n_inst
        self.w1 = nn.Parameter(torch.empty(trunks, n_features, hidden))
        self.b1 = nn.Parameter(torch.zeros(trunks, hidden))
        self.w2 = nn.Parameter(torch.empty(n_inst, hidden, n_hosts))
        self.b2 = nn.Parameter(torch.zeros(n_inst, n_hosts))
        for w in (self.w1, self.w2):
            fan_in = w.shape[1]
            nn.init.uniform_(w, -(fan_in**-0.5), fan_in**-0.5)
        # Outputs outside the action space (hosts) are cut like statically filtered ones.
        keep = static_mask if use_static else np.ones_like(static_mask)
        if hosts is not None:
            keep = keep & hosts[None, :]
        mask = torch.as_tensor(keep, dtype=torch.float32)
        self.register_buffer("out_mask", mask)  # [I, H]
        with torch.no_grad():
            self.w2.mul_(mask[:, None, :])
            self.b2.mul_(mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(torch.einsum("bf,ifk->bik", x, self.w1) + self.b1)
        if h.shape[1] != self.out_mask.shape[0]:  # one shared trunk for every instance
            h = h.expand(-1, self.out_mask.shape[0], -1)
        w2 = self.w2 * self.out_mask[:, None, :]
        return torch.einsum("bik,ikh->bih", h, w2) + self.b2 * self.out_mask

    def masked_weights(self) -> torch.Tensor:
        """The output weights the static filter removes (all zero by construction)."""
        return self.w2.detach() * (1 - self.out_mask)[:, None, :]


class Replay:
    def __init__(
        self, size: int, n_features: int, n_inst: int, n_hosts: int, rng: np.random.Generator
    ) -> None:
        self.obs = np.zeros((size, n_features), np.float32)
        self.next_obs = np.zeros((size, n_features), np.float32)
        self.action = np.zeros((size, n_inst), np.int64)
        self.reward = np.zeros(size, np.float32)
        self.done = np.zeros(size, np.float32)
        self.next_mask = np.zeros((size, n_inst, n_hosts), bool)
        self.size, self.n, self.pos, self.rng = size, 0, 0, rng

    def add(self, obs, action, reward, next_obs, done, next_mask) -> None:
        i = self.pos
        self.obs[i], self.action[i], self.reward[i] = obs, action, reward
        self.next_obs[i], self.done[i], self.next_mask[i] = next_obs, done, next_mask
        self.pos = (self.pos + 1) % self.size
        self.n = min(self.n + 1, self.size)

    def sample(self, batch: int) -> dict[str, torch.Tensor]:
        idx = self.rng.integers(0, self.n, batch)
        return {
            k: torch.as_tensor(getattr(self, k)[idx])
            for k in ("obs", "action", "reward", "next_obs", "done", "next_mask")
        }


def choose(
    q: np.ndarray | None,
    placement: np.ndarray,
    problem: Problem,
    dynamic: bool,
    rng: np.random.Generator | None = None,
    hosts: np.ndarray | None = None,
) -> np.ndarray:
    """One host per instance from Q [I, H] (or uniformly at random when `rng` is given),
    instance by instance; with the dynamic filter each choice sees the storage the
    earlier ones took. `hosts` restricts the choice to the agent's action space."""
    sub, cat = problem.sub, problem.cat
    out = placement.copy()
    for i in range(len(out)):
        allowed = feasible_hosts(sub, cat, out)[i] if dynamic else np.ones(sub.n_hosts, bool)
        if hosts is not None:
            allowed = allowed & hosts
        if rng is not None:
            out[i] = rng.choice(np.flatnonzero(allowed))
        else:
            out[i] = int(np.argmax(np.where(allowed, q[i], -np.inf)))
    return out


def action_hosts(problem: Problem, cfg: DqnConfig) -> np.ndarray | None:
    """[H] hosts in the agent's action space, or None for all."""
    if cfg.hosts == "all":
        return None
    if cfg.hosts == "servers":
        return problem.sub.host_kind == HostKind.SERVER
    raise ValueError(f"unknown hosts {cfg.hosts!r} (all or servers)")


def delay_migration_reward(problem: Problem, day, t: int, o) -> float:
    """DDQN-CM's reward: minus the chains' delay (as a share of their deadline, capped)
    and the migration cost (normalised like the SR-EM cost)."""
    lateness = np.minimum(o.delay / day.deadline[t], 10.0).mean()
    return -float(lateness + o.cost_rc / cost_reference(problem, day, t))


class DqnAgent:
    """The policy of a trained (or training) network, usable by `run_day`."""

    def __init__(self, net: FilteredQNet, env_features, problem: Problem, cfg: DqnConfig) -> None:
        self.net, self.features, self.problem, self.cfg = net, env_features, problem, cfg
        self.name = cfg.name
        # Decision time is measured on one thread, like the baselines' (numpy) decisions.
        torch.set_num_threads(1)
        self.hosts = action_hosts(problem, cfg)

    def decide(self, run) -> np.ndarray:
        with torch.no_grad():
            q = self.net(torch.as_tensor(self.features(run))[None])[0].numpy()
        return choose(q, run.placement, self.problem, self.cfg.dynamic, hosts=self.hosts)
