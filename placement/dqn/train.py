"""Training the filtered DQN, top to bottom (CleanRL style).

One episode is one training day (6 steps by default). Runs are bit-for-bit
reproducible on the CPU for a given seed: torch runs on one thread with
deterministic algorithms, and every random draw comes from the seed.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from placement.dqn.network import (
    DqnAgent,
    DqnConfig,
    FilteredQNet,
    Replay,
    action_hosts,
    choose,
    delay_migration_reward,
)
from placement.model.env import SremEnv
from placement.model.scenario import Scenario, fingerprint
from placement.model.workload import Problem
from topologies import InputError


@dataclass
class TrainState:
    net: FilteredQNet
    target: FilteredQNet
    opt: torch.optim.Optimizer
    replay: Replay
    rng: np.random.Generator
    step: int = 0
    episode: int = 0
    episode_rewards: list[float] = field(default_factory=list)
    last_loss: float = float("nan")


def _optimizer(cfg: DqnConfig, net: nn.Module) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(net.parameters(), lr=cfg.lr)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(net.parameters(), lr=cfg.lr)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r} (sgd or adam)")


def new_state(problem: Problem, cfg: DqnConfig, seed: int, env: SremEnv) -> TrainState:
    torch.manual_seed(seed)
    cat = problem.cat
    hosts = action_hosts(problem, cfg)
    net = FilteredQNet(
        env.n_features, cat.static_mask[cat.inst_type], cfg.hidden, cfg.static, hosts, cfg.shared_trunk
    )
    rng = np.random.default_rng(seed)
    replay = Replay(cfg.buffer, env.n_features, cat.n_instances, problem.sub.n_hosts, rng)
    return TrainState(net, copy.deepcopy(net), _optimizer(cfg, net), replay, rng)


def epsilon(cfg: DqnConfig, step: int) -> float:
    frac = min(step / max(cfg.eps_decay_steps, 1), 1.0)
    return cfg.eps_start + frac * (cfg.eps_end - cfg.eps_start)


def td_update(st: TrainState, cfg: DqnConfig) -> float:
    """One Bellman update per instance head, on a replayed batch; returns the loss."""
    b = st.replay.sample(cfg.batch)
    with torch.no_grad():
        allowed = (st.net.out_mask[None] > 0).expand(b["next_mask"].shape)
        if cfg.dynamic:
            allowed = allowed & b["next_mask"]
        q_next = st.target(b["next_obs"])  # [B, I, H]
        if cfg.double:
            # Double DQN: the online net picks the next host, the target net values it.
            pick = st.net(b["next_obs"]).masked_fill(~allowed, -torch.inf).argmax(-1, keepdim=True)
            best = q_next.gather(2, pick).squeeze(-1)
        else:
            best = q_next.masked_fill(~allowed, -torch.inf).max(-1).values.nan_to_num(0.0, neginf=0.0)
        target = b["reward"][:, None] + cfg.gamma * (1.0 - b["done"][:, None]) * best
    q = st.net(b["obs"]).gather(2, b["action"][..., None]).squeeze(-1)  # [B, I]
    loss = nn.functional.smooth_l1_loss(q, target)
    st.opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(st.net.parameters(), cfg.grad_clip)
    st.opt.step()
    return loss.item()


def train(
    problem: Problem,
    cfg: DqnConfig,
    episodes: int,
    seed: int = 0,
    days: list[int] | None = None,
    state: TrainState | None = None,
    on_episode: Callable[[TrainState, float], None] | None = None,
) -> TrainState:
    """Train for `episodes` more episodes (continuing `state` when given)."""
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    env = SremEnv(problem, "train", days, state=cfg.state)
    st = state or new_state(problem, cfg, seed, env)
    hosts = action_hosts(problem, cfg)
    for _ in range(episodes):
        obs, info = env.reset(seed=int(st.rng.integers(2**31)))
        done, total = False, 0.0
        while not done:
            run = env.run
            if st.rng.random() < epsilon(cfg, st.step):
                action = choose(None, run.placement, problem, cfg.dynamic, st.rng, hosts)
            else:
                with torch.no_grad():
                    q = st.net(torch.as_tensor(obs)[None])[0].numpy()
                action = choose(q, run.placement, problem, cfg.dynamic, hosts=hosts)
            t = run.t
            next_obs, reward, done, _, info = env.step(action)
            if cfg.reward == "delay_migration":
                reward = delay_migration_reward(problem, run.day, t, run.last)
            next_mask = info["action_mask"] if not done else np.ones(st.replay.next_mask.shape[1:], bool)
            st.replay.add(obs, action, reward, next_obs, float(done), next_mask)
            obs, total = next_obs, total + reward
            st.step += 1
            if st.step >= cfg.learning_starts and st.step % cfg.train_every == 0:
                st.last_loss = td_update(st, cfg)
            if st.step % cfg.target_every == 0:
                st.target.load_state_dict(st.net.state_dict())
        st.episode += 1
        st.episode_rewards.append(total)
        if on_episode:
            on_episode(st, total)
    return st


def agent_of(problem: Problem, st: TrainState, cfg: DqnConfig) -> DqnAgent:
    env = SremEnv(problem, "test", state=cfg.state)
    return DqnAgent(st.net, env.features, problem, cfg)


# -- checkpoints ------------------------------------------------------------------


def _policy(st: TrainState, cfg: DqnConfig, scenario: Scenario, distribution: bool = False) -> dict:
    return {
        "config": dataclasses.asdict(cfg),
        "scenario": scenario.name,
        # What the policy was trained on: loading it elsewhere is refused (`check_scenario`).
        "scenario_hash": fingerprint(scenario),
        "family_hash": fingerprint(scenario, with_seed=False),
        "distribution": distribution,
        "net": st.net.state_dict(),
        "episode": st.episode,
        "episode_rewards": st.episode_rewards,
    }


def check_scenario(ck: dict, scenario: Scenario, path: Path | str) -> None:
    """Refuse, with one line, a policy trained on another scenario than `scenario`
    (unless it was trained on a distribution of seeds covering it)."""
    if "scenario_hash" not in ck:
        raise InputError(
            str(path), "checkpoint", "records no scenario hash (written by an older srem); retrain it"
        )
    if ck["scenario_hash"] == fingerprint(scenario):
        return
    if ck.get("distribution") and ck.get("family_hash") == fingerprint(scenario, with_seed=False):
        return
    kind = "a distribution of scenarios like" if ck.get("distribution") else "scenario"
    raise InputError(
        str(path),
        "checkpoint",
        f"was trained on {kind} '{ck.get('scenario', '?')}' (hash {ck['scenario_hash']}) and does not fit "
        f"'{scenario.name}' (hash {fingerprint(scenario)}); train one with `srem train --scenario …` "
        "or pick another --agent",
    )


def save_policy(
    path: Path, st: TrainState, cfg: DqnConfig, scenario: Scenario, distribution: bool = False
) -> None:
    """The network and its config only (under a MB): what `srem run --agent srem` needs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(_policy(st, cfg, scenario, distribution), path)


def save(path: Path, st: TrainState, cfg: DqnConfig, scenario: Scenario) -> None:
    """Everything to resume bit-for-bit: weights, target, optimiser, replay, RNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    replay = ("obs", "next_obs", "action", "reward", "done", "next_mask", "n", "pos")
    torch.save(
        {
            **_policy(st, cfg, scenario),
            "target": st.target.state_dict(),
            "opt": st.opt.state_dict(),
            # Only the filled part of the buffer: a young run's checkpoint stays small.
            "replay": {k: getattr(st.replay, k)[: st.replay.n] for k in replay if k not in ("n", "pos")}
            | {"n": st.replay.n, "pos": st.replay.pos},
            "rng": st.rng.bit_generator.state,
            "step": st.step,
            "torch_rng": torch.get_rng_state(),
        },
        path,
    )


def load(path: Path, problem: Problem) -> tuple[TrainState, DqnConfig]:
    """A full checkpoint (resumable) or a policy file (weights only), for the
    scenario it was trained on (anything else is refused by `check_scenario`)."""
    ck = torch.load(path, weights_only=False)
    if not isinstance(ck, dict):  # a pickle, but not one srem wrote
        raise InputError(
            str(path), "checkpoint", f"is not a srem checkpoint (it holds a {type(ck).__name__})"
        )
    check_scenario(ck, problem.scenario, path)
    cfg = DqnConfig(**ck["config"])
    env = SremEnv(problem, "train", state=cfg.state)
    st = new_state(problem, cfg, 0, env)
    st.net.load_state_dict(ck["net"])
    st.episode, st.episode_rewards = ck["episode"], list(ck["episode_rewards"])
    if "target" not in ck:
        return st, cfg
    st.target.load_state_dict(ck["target"])
    st.opt.load_state_dict(ck["opt"])
    for k, v in ck["replay"].items():
        if isinstance(v, np.ndarray):
            getattr(st.replay, k)[: len(v)] = v
        else:
            setattr(st.replay, k, v)
    st.rng.bit_generator.state = ck["rng"]
    st.step = ck["step"]
    torch.set_rng_state(ck["torch_rng"])
    return st, cfg


def write_curve(path: Path, rewards: list[float]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"episode_rewards": rewards}) + "\n")
