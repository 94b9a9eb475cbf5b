"""Mean-field actor-critic (the paper's Algorithm 1), one file, top to bottom.

Every VNF is an agent; all share one actor and one critic. The actor scores each node
from that node's features for the agent, which include the mean field of the *other*
VNFs (env.mean_field), plus the average over nodes; the critic values the agent's
state (its own node's features and the average). Per episode: a random initial
distribution of the VNFs (line 3), `steps` simultaneous moves sampled from the policy
(line 8), the per-VNF payoffs (line 9), then the critic (the average reward, line 10)
and the policy (line 11) are updated by advantage actor-critic with GAE.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical
from torch.utils.tensorboard import SummaryWriter
from tqdm import trange

from . import delay as D
from .env import FEATURES, MecPlacementEnv, admit, initial_placement, observe
from .scenario import Scenario, generate, load


@dataclass
class TrainConfig:
    episodes: int = 2000
    steps: int = 8  # moves per episode
    seed: int = 0
    lr: float = 2e-3
    gamma: float = 0.9
    gae_lambda: float = 0.9
    entropy: float = 0.01
    value_coef: float = 0.5
    hidden: int = 64
    paper_share: float = 0.5  # the rest of the episodes draw a generated training scenario
    train_sizes: tuple[int, ...] = (4, 6, 8)
    train_scenarios: int = 12  # generated with seeds 1000+ (evaluation uses others)
    checkpoint_every: int = 250
    extra: dict = field(default_factory=dict)


class MeanFieldActorCritic(nn.Module):
    def __init__(self, n_features: int = len(FEATURES), hidden: int = 64) -> None:
        super().__init__()
        self.actor_enc = nn.Sequential(
            nn.Linear(n_features, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh()
        )
        self.actor_head = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        self.critic_enc = nn.Sequential(
            nn.Linear(n_features, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh()
        )
        self.critic_head = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def logits(self, obs: torch.Tensor) -> torch.Tensor:
        """obs (B, N, F) -> (B, N) a score per node."""
        h = self.actor_enc(obs)
        ctx = h.mean(1, keepdim=True).expand_as(h)
        return self.actor_head(torch.cat([h, ctx], -1)).squeeze(-1)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        """obs (B, N, F) -> (B,) the agent's value; its own node is where feature 'own' is 1."""
        h = self.critic_enc(obs)
        own = (obs[..., :1] * h).sum(1)
        return self.critic_head(torch.cat([own, h.mean(1)], -1)).squeeze(-1)


def training_scenarios(cfg: TrainConfig) -> list[Scenario]:
    rng = np.random.default_rng(cfg.seed + 1000)
    return [generate(int(rng.choice(cfg.train_sizes)), seed=1000 + i) for i in range(cfg.train_scenarios)]


def save(
    path: Path, net, opt, cfg: TrainConfig, episode: int, history: dict, rng: np.random.Generator
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "kind": "srem-mfg-actor-critic",
            "features": FEATURES,
            "config": asdict(cfg),
            "episode": episode,
            "model": net.state_dict(),
            "optimizer": opt.state_dict() if opt is not None else None,
            "history": history,
            "numpy_rng": rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
        },
        tmp,
    )
    tmp.replace(path)  # never a half-written checkpoint


def load_policy(path: str | Path) -> tuple[MeanFieldActorCritic, dict]:
    from topologies import InputError

    try:
        ck = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise InputError(str(path), "file", "does not exist") from None
    except Exception as e:  # a file torch cannot read
        raise InputError(str(path), "file", f"is not a policy checkpoint ({type(e).__name__})") from None
    if not isinstance(ck, dict) or ck.get("kind") != "srem-mfg-actor-critic":
        raise InputError(str(path), "file", "is not an srem mfg policy")
    if tuple(ck["features"]) != FEATURES:
        raise InputError(str(path), "features", "were made by another version of the environment")
    net = MeanFieldActorCritic(len(FEATURES), ck["config"]["hidden"])
    net.load_state_dict(ck["model"])
    net.eval()
    return net, ck


def train(cfg: TrainConfig, out: Path, resume: bool = False, progress: bool = True) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "checkpoint.pt"
    torch.set_num_threads(1)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    net = MeanFieldActorCritic(len(FEATURES), cfg.hidden)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    paper = load("paper")
    history: dict = {"agents": [v.name for v in paper.vnfs], "episode": [], "reward": [], "delay": []}
    start = 0
    if resume and ckpt.exists():
        ck = torch.load(ckpt, map_location="cpu", weights_only=False)
        net.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        history, start = ck["history"], ck["episode"]
        rng.bit_generator.state = ck["numpy_rng"]
        torch.set_rng_state(ck["torch_rng"])
    envs = {"paper": MecPlacementEnv(paper, cfg.steps)}
    for s in training_scenarios(cfg):
        envs[s.name] = MecPlacementEnv(s, cfg.steps)
    others = [k for k in envs if k != "paper"]
    writer = SummaryWriter(str(out / "tb"))
    t0 = time.perf_counter()
    bar = trange(
        start, cfg.episodes, desc="mfg actor-critic", disable=not progress, initial=start, total=cfg.episodes
    )
    for ep in bar:
        name = (
            "paper"
            if rng.random() < cfg.paper_share or not others
            else others[int(rng.integers(len(others)))]
        )
        env = envs[name]
        # line 3: a fresh request set and a random initial distribution of the VNFs
        obs, _ = env.reset(seed=int(rng.integers(2**31)))
        obs_b, act_b, rew_b = [], [], []
        for _ in range(cfg.steps):
            o = torch.as_tensor(np.stack([obs[a] for a in env.possible_agents]))
            with torch.no_grad():
                a = Categorical(logits=net.logits(o)).sample()
            obs, rew, _, _, info = env.step({ag: int(a[j]) for j, ag in enumerate(env.possible_agents)})
            obs_b.append(o)
            act_b.append(a)
            rew_b.append(torch.tensor([rew[ag] for ag in env.possible_agents], dtype=torch.float32))
        last = torch.as_tensor(observe(env.model, env.x, env.vol))
        o_all = torch.stack(obs_b)  # (T, V, N, F)
        t_n, v_n = o_all.shape[:2]
        values = net.value(o_all.flatten(0, 1)).view(t_n, v_n)
        with torch.no_grad():
            nxt = net.value(last)  # bootstrap: the episode is cut, not ended
            adv = torch.zeros(t_n, v_n)
            gae = torch.zeros(v_n)
            for t in reversed(range(t_n)):
                nv = nxt if t == t_n - 1 else values[t + 1]
                delta = rew_b[t] + cfg.gamma * nv - values[t]
                gae = delta + cfg.gamma * cfg.gae_lambda * gae
                adv[t] = gae
            ret = adv + values
        dist = Categorical(logits=net.logits(o_all.flatten(0, 1)))
        logp = dist.log_prob(torch.stack(act_b).flatten())
        a_norm = adv.flatten()
        a_norm = (a_norm - a_norm.mean()) / (a_norm.std() + 1e-8)
        pg_loss = -(logp * a_norm).mean()
        v_loss = ((values.flatten() - ret.flatten()) ** 2).mean()
        ent = dist.entropy().mean()
        loss = pg_loss + cfg.value_coef * v_loss - cfg.entropy * ent
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 0.5)
        opt.step()
        ep_rew = torch.stack(rew_b).mean(0)
        delay = info[env.possible_agents[0]]["total_delay_ms"] / max(env.vol.sum(), 1e-9)
        writer.add_scalar("loss/policy", pg_loss.item(), ep)
        writer.add_scalar("loss/value", v_loss.item(), ep)
        writer.add_scalar("policy/entropy", ent.item(), ep)
        writer.add_scalar(f"delay_ms_per_mb/{'paper' if name == 'paper' else 'generated'}", delay, ep)
        if name == "paper":  # Fig. 3: each VNF's reward on the paper's case
            history["episode"].append(ep)
            history["reward"].append(ep_rew.tolist())
            history["delay"].append(delay)
            for j, ag in enumerate(env.possible_agents):
                writer.add_scalar(f"reward/{ag}", ep_rew[j].item(), ep)
            bar.set_postfix(delay_ms_per_mb=f"{delay:.0f}")
        if (ep + 1) % cfg.checkpoint_every == 0 or ep + 1 == cfg.episodes:
            save(ckpt, net, opt, cfg, ep + 1, history, rng)
    writer.add_scalar("time/seconds", time.perf_counter() - t0, cfg.episodes)
    writer.close()
    return ckpt


@torch.no_grad()
def decide(
    net: MeanFieldActorCritic,
    m: D.Model,
    vol: np.ndarray,
    seed: int,
    steps: int | None = None,
    rollouts: int = 8,
) -> np.ndarray:
    """The agents' placement: `rollouts` times, from a seeded random initial distribution that
    fits (Algorithm 1 draws one per episode), `steps` rounds of simultaneous moves sampled
    from the policy and admitted by the nodes as in the environment; the controller keeps
    the lowest-delay placement visited (the delay model is cheap to evaluate). Restarts
    matter: the learned dynamics settle in an equilibrium that depends on where they start.
    Every visited placement fits, so no repair is needed. By default `steps` grows with the
    number of VNFs (8 + V/4, at most 32): more agents need more rounds to settle."""
    steps = steps if steps is not None else min(32, 8 + m.n_vnfs // 4)
    g = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    best: tuple[float, np.ndarray] | None = None
    for _ in range(rollouts):
        x = initial_placement(m, rng)
        for _ in range(steps):
            o = torch.as_tensor(observe(m, x, vol))
            a = torch.multinomial(torch.softmax(net.logits(o), -1), 1, generator=g).squeeze(1).numpy()
            x, _ = admit(m, x, a, rng.permutation(m.n_vnfs))
            c = D.total_delay(m, x, vol)
            if best is None or c < best[0]:
                best = (c, x.copy())
    assert best is not None
    return best[1]
