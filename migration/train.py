"""Train DeepMigration with REINFORCE (the paper's Algorithm 1), top to bottom.

Each iteration draws one starting state (a random scenario and size) and runs a batch of
`episodes` episodes from it, each `length` decisions long: decide (double GNN, sampled
action), apply the moves, let traffic drift one interval (`workload.next_state`), decide
again. All episodes of a batch share the starting state and the drift, so they differ
only by the policy's draws, and the per-step baseline b_t = mean_i R_t^i (Algorithm 1,
line 7) compares like with like. The update is (advantages divided by the batch's std)

    Δθ = Σ_t Σ_i ∇ log μ_θ(s_t^i, a_t^i) (R_t^i − b_t),   R_t^i = Σ_{t' ≥ t} r_{t'}^i

with Adam, the learning rate falling linearly from 5e-3 to 1e-3 (the paper's), and the
episode length growing by `length_step` per iteration up to `max_length` (line 12).
The reward r is what the plan saved against doing nothing, in units of R.

Seeded and reproducible (one torch generator, one numpy generator), TensorBoard logs,
a checkpoint every `checkpoint_every` iterations and at the end, `resume=True` goes on
from the last checkpoint.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from migration import workload
from migration.agent import decide, log_prob, reward
from migration.gnn import MigrationGN
from migration.outcome import assignment


@dataclass
class Config:
    seed: int = 0
    iterations: int = 300
    episodes: int = 8  # N, episodes per batch
    init_length: float = 1.0  # l_init
    length_step: float = 0.02  # ε
    max_length: int = 4
    lr_start: float = 5e-3
    lr_end: float = 1e-3
    hidden: int = 32
    rounds: int = 3
    min_instances: int = 8
    max_instances: int = 30
    min_flows: int = 10  # flows per instance, drawn per starting state
    max_flows: int = 40
    max_over: float = 0.25  # scale-out: overloaded instances Th_high + 3 points .. + max_over
    omega: float = 1000.0  # ω of the starting states (the loop's problems charge overload more)
    init: str = ""  # start from this policy's weights (fine-tuning), not from scratch
    checkpoint_every: int = 50


def starting_state(rng: np.random.Generator, cfg: Config):
    """A random scenario, size and trigger level, as the evaluation draws them (other seeds)."""
    scenario = rng.choice(["scale-out", "scale-in", "balance"])
    n = int(rng.integers(cfg.min_instances, cfg.max_instances + 1))
    seed = int(rng.integers(1 << 30))
    fpi = int(rng.integers(cfg.min_flows, cfg.max_flows + 1))
    if scenario == "scale-out":
        p = workload.scale_out(n, int(rng.integers(1, max(2, int(0.8 * n)))), float(rng.choice([0.55, 0.6])),
                               fpi, seed, over=(0.03, cfg.max_over))  # fmt: skip
    elif scenario == "scale-in":
        p = workload.scale_in(n, int(rng.integers(1, max(2, n // 3))), float(rng.choice([0.1, 0.15])),
                              fpi, seed)  # fmt: skip
    else:
        p = workload.balance(n, fpi, seed)
    if cfg.omega != p.costs.omega:
        p = replace(p, costs=replace(p.costs, omega=cfg.omega))
    return p


def train(
    cfg: Config, out: Path, resume: bool = False, progress: bool = True, until: int | None = None
) -> MigrationGN:
    """Run iterations up to `until` (default: all of `cfg.iterations`); `resume` goes on from the checkpoint."""
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "checkpoint.pt"
    torch.manual_seed(cfg.seed)
    model = MigrationGN(cfg.hidden, cfg.rounds)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr_start)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    start = 0
    if cfg.init and not (resume and ckpt.exists()):  # fine-tuning: the given policy's weights
        model.load_state_dict(torch.load(cfg.init, map_location="cpu", weights_only=False)["model"])
    if resume and ckpt.exists():
        ck = torch.load(ckpt, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        rng.bit_generator.state = ck["rng"]
        gen.set_state(ck["gen"])
        start = ck["iteration"]
    writer = SummaryWriter(str(out / "tb"))
    stop = min(cfg.iterations, until or cfg.iterations)
    bar = tqdm(range(start, stop), initial=start, total=cfg.iterations, disable=not progress,
               desc="DeepMigration")  # fmt: skip
    for it in bar:
        t0 = time.perf_counter()
        frac = it / max(1, cfg.iterations - 1)
        for g in opt.param_groups:
            g["lr"] = cfg.lr_start + (cfg.lr_end - cfg.lr_start) * frac
        length = int(min(cfg.max_length, cfg.init_length + cfg.length_step * it))

        # --- run N episodes of `length` decisions from one starting state (Algorithm 1, line 3)
        first = starting_state(rng, cfg)
        drift_seed = int(rng.integers(1 << 30))
        samples = [[None] * length for _ in range(cfg.episodes)]
        rewards = np.zeros((cfg.episodes, length))
        for i in range(cfg.episodes):
            p = first
            drift = np.random.default_rng(drift_seed)
            for t in range(length):
                s = decide(model, p, gen)
                samples[i][t] = s
                rewards[i, t] = reward(p, s.cost)
                p = workload.next_state(p, assignment(p, s.moves), drift)

        # --- returns-to-go, per-step baseline, policy gradient (lines 4–12)
        returns = np.flip(np.cumsum(np.flip(rewards, 1), 1), 1).copy()
        baseline = returns.mean(axis=0, keepdims=True)
        adv = returns - baseline
        # scale-in saves whole instances, balance a few points of load: normalising the batch's
        # advantages keeps one scenario's reward scale from drowning the others' gradients
        adv = adv / (adv.std() + 1e-8)
        opt.zero_grad()
        loss = torch.zeros(())
        for i in range(cfg.episodes):
            for t in range(length):
                if adv[i, t] != 0.0:
                    loss = loss - log_prob(model, samples[i][t]) * float(adv[i, t])
        loss = loss / (cfg.episodes * length)
        if loss.requires_grad:
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()

        writer.add_scalar("reward/mean_per_step", rewards.mean(), it)
        writer.add_scalar("train/loss", float(loss.detach()), it)
        writer.add_scalar("train/episode_length", length, it)
        writer.add_scalar("train/lr", opt.param_groups[0]["lr"], it)
        writer.add_scalar("train/std_edge", float(model.log_std[0].exp()), it)
        writer.add_scalar("time/iteration_s", time.perf_counter() - t0, it)
        bar.set_postfix(r=f"{rewards.mean():.2f}", l=length, sc=first.scenario[:5])
        if (it + 1) % cfg.checkpoint_every == 0 or it + 1 == stop:
            save(model, cfg, ckpt, opt=opt, rng=rng, gen=gen, iteration=it + 1)
    writer.close()
    save(model, cfg, out / "deepmigration.pt")
    return model


def save(model: MigrationGN, cfg: Config, path: Path, **state) -> None:
    ck = {
        "model": model.state_dict(),
        "arch": {"hidden": cfg.hidden, "rounds": cfg.rounds},
        "config": asdict(cfg),
    }
    if state:
        ck.update(opt=state["opt"].state_dict(), rng=state["rng"].bit_generator.state, gen=state["gen"].get_state(),
                  iteration=state["iteration"])  # fmt: skip
    torch.save(ck, path)
