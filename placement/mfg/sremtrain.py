"""Mean-field actor-critic on SR-EM training days (issue 20, part 5), one file, top to bottom.

The same algorithm as `train.py` (the paper's Algorithm 1: shared actor and critic for all
players, advantage actor-critic with GAE) on the SR-EM game of `sremgame.py`. Per episode:
a training scenario and one of its *training* days; at every step of the day the instances
make `rounds` simultaneous moves sampled from the policy, starting from the placement in
force (filtered: static and dynamic), each player paid its marginal part of the round's step
reward (`marginal_payoffs`);
the best placement visited is applied (what `MfgAgent` does) and the day moves on. One
update per day.

Training scenarios are drawn from the paper's ranges with seeds 3000+ on the paper's tree
and on k=4 fat-trees (the graph policy trains on 1000+, evaluations use 7, 11-13, 31+):
never an evaluation scenario, never a test day.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical
from torch.utils.tensorboard import SummaryWriter
from tqdm import trange

from placement.mfg.sremgame import FEATURES, admit, masked, observe, save, step_reward, step_state
from placement.mfg.train import MeanFieldActorCritic
from placement.model import scenario as sc
from placement.model.constraints import feasible_hosts
from placement.model.simulate import DayRun
from placement.model.workload import build_problem


@dataclass
class SremTrainConfig:
    episodes: int = 600  # training days
    rounds: int = 4  # moves per step
    seed: int = 0
    lr: float = 1e-3
    gamma: float = 0.9
    gae_lambda: float = 0.9
    entropy: float = 0.01
    value_coef: float = 0.5
    refused: float = 0.05  # payoff lost by a player whose move a host refused
    hidden: int = 64
    paper_seeds: tuple[int, ...] = (3000, 3001, 3002, 3003, 3004, 3005)
    fattree_seeds: tuple[int, ...] = (3000, 3001)  # k=4
    checkpoint_every: int = 100


def training_scenarios(cfg: SremTrainConfig) -> list[sc.Scenario]:
    base = sc.default()
    out = [dataclasses.replace(base, seed=s, name=f"paper-seed{s}") for s in cfg.paper_seeds]
    topo = dataclasses.replace(base.topology, builder="fattree", k=4)
    out += [
        dataclasses.replace(base, topology=topo, seed=s, name=f"fattree-k4-seed{s}")
        for s in cfg.fattree_seeds
    ]
    return out


def marginal_payoffs(run: DayRun, before: np.ndarray, x: np.ndarray, r: float) -> np.ndarray:
    """Each player's payoff for a round: what its own move added to the shared payoff,
    the payoff where they stand minus the payoff had it alone stayed put (0 for one that
    stayed). With the shared reward alone, a good move among bad ones earned no credit and
    the policy did worse than an untrained one on validation days; the marginal
    contribution tells each player its own part. Where staying
    would not fit (another took its room), it is paid the round's whole change."""
    base = step_reward(run, before)
    out = np.zeros(len(x))
    for i in np.flatnonzero(x != before):
        alone = x.copy()
        alone[i] = before[i]
        if feasible_hosts(run.problem.sub, run.problem.cat, x)[i, before[i]]:
            out[i] = r - step_reward(run, alone)
        else:
            out[i] = r - base
    return out


def _checkpoint(path: Path, net, opt, cfg, episode: int, history: dict, rng) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"config": asdict(cfg), "episode": episode, "model": net.state_dict(),
                "optimizer": opt.state_dict(), "history": history,
                "numpy_rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state()}, tmp)  # fmt: skip
    tmp.replace(path)  # never a half-written checkpoint


def train(cfg: SremTrainConfig, out: Path, resume: bool = False, progress: bool = True) -> Path:
    """Train, checkpointing to OUT/checkpoint.pt; writes OUT/policy.pt (what `--agent mfg
    --model` takes). Bit-for-bit reproducible for a seed on the CPU, also across --resume."""
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "checkpoint.pt"
    torch.set_num_threads(1)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    net = MeanFieldActorCritic(len(FEATURES), cfg.hidden)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    history: dict = {"episode": [], "day_reward": []}
    start = 0
    if resume and ckpt.exists():
        ck = torch.load(ckpt, map_location="cpu", weights_only=False)
        net.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        history, start = ck["history"], ck["episode"]
        rng.bit_generator.state = ck["numpy_rng"]
        torch.set_rng_state(ck["torch_rng"])
    problems = [build_problem(s) for s in training_scenarios(cfg)]
    writer = SummaryWriter(str(out / "tb"))
    t0 = time.perf_counter()
    bar = trange(
        start, cfg.episodes, desc="mfg on SR-EM", disable=not progress, initial=start, total=cfg.episodes
    )
    for ep in bar:
        # a training scenario and one of its training days (test days are never seen)
        problem = problems[int(rng.integers(len(problems)))]
        run = DayRun(problem, problem.day("train", int(rng.integers(problem.n_days("train")))))
        obs_b, allow_b, act_b, rew_b, last_b, day_reward = [], [], [], [], [], 0.0
        while not run.done:
            st = step_state(run)
            x = run.placement.copy()
            best_x, best_r = x.copy(), step_reward(run, x)
            step_obs, step_allow, step_act, step_rew = [], [], [], []
            for _ in range(cfg.rounds):
                o = observe(run, st, x)
                allowed = st.static & feasible_hosts(problem.sub, problem.cat, x)
                with torch.no_grad():
                    a = Categorical(logits=masked(net.logits(torch.as_tensor(o)), allowed)).sample()
                before = x
                x, refused = admit(run, x, a.numpy(), rng.permutation(len(x)))
                r = step_reward(run, x)
                if r > best_r:
                    best_x, best_r = x.copy(), r
                pay = marginal_payoffs(run, before, x, r)
                step_obs.append(o)
                step_allow.append(allowed)
                step_act.append(a)
                step_rew.append(torch.as_tensor(pay - cfg.refused * refused, dtype=torch.float32))
            obs_b.append(step_obs)
            allow_b.append(step_allow)
            act_b.append(step_act)
            rew_b.append(step_rew)
            last_b.append(observe(run, st, x))
            day_reward += run.apply(best_x).reward
        # advantage actor-critic over every step's rounds (each step its own short episode)
        o_all = torch.as_tensor(np.stack([o for s in obs_b for o in s]))  # (S*R, I, H, F)
        n_s, n_r, n_i = len(obs_b), cfg.rounds, o_all.shape[1]
        values = net.value(o_all.flatten(0, 1)).view(n_s, n_r, n_i)
        with torch.no_grad():
            nxt = net.value(torch.as_tensor(np.stack(last_b)).flatten(0, 1)).view(n_s, n_i)
            adv = torch.zeros(n_s, n_r, n_i)
            for s in range(n_s):
                gae = torch.zeros(n_i)
                for t in reversed(range(n_r)):
                    nv = nxt[s] if t == n_r - 1 else values[s, t + 1]
                    delta = rew_b[s][t] + cfg.gamma * nv - values[s, t]
                    gae = delta + cfg.gamma * cfg.gae_lambda * gae
                    adv[s, t] = gae
            ret = adv + values
        allowed = torch.as_tensor(np.stack([m for s in allow_b for m in s])).flatten(0, 1)
        logits = net.logits(o_all.flatten(0, 1)).masked_fill(~allowed, -float("inf"))
        dist = Categorical(logits=logits)
        logp = dist.log_prob(torch.stack([a for s in act_b for a in s]).flatten())
        a_norm = adv.flatten()
        a_norm = (a_norm - a_norm.mean()) / (a_norm.std() + 1e-8)
        pg_loss = -(logp * a_norm).mean()
        v_loss = ((values.flatten() - ret.flatten()) ** 2).mean()
        # entropy over allowed hosts only (masked logits give 0 * -inf otherwise)
        p = dist.probs
        ent = -(p * torch.where(allowed, dist.logits, torch.zeros_like(p))).sum(1).mean()
        loss = pg_loss + cfg.value_coef * v_loss - cfg.entropy * ent
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 0.5)
        opt.step()
        history["episode"].append(ep)
        history["day_reward"].append(day_reward)
        writer.add_scalar("episode/day_reward", day_reward, ep)
        writer.add_scalar("loss/policy", pg_loss.item(), ep)
        writer.add_scalar("loss/value", v_loss.item(), ep)
        writer.add_scalar("policy/entropy", ent.item(), ep)
        if ep % 20 == 0:
            recent = history["day_reward"][-50:]
            bar.set_postfix(day_reward=f"{np.mean(recent):.3f}")
        if (ep + 1) % cfg.checkpoint_every == 0 or ep + 1 == cfg.episodes:
            _checkpoint(ckpt, net, opt, cfg, ep + 1, history, rng)
    writer.add_scalar("time/seconds", time.perf_counter() - t0, cfg.episodes)
    writer.close()
    meta = {"episodes": cfg.episodes, "seed": cfg.seed,
            "trained_on": [s.name for s in training_scenarios(cfg)], "split": "train"}  # fmt: skip
    save(out / "policy.pt", net, cfg.hidden, meta)
    return out / "policy.pt"
