"""RL fine-tuning of the imitated policy: self-critical REINFORCE on whole days.

Read top to bottom:
1. draw a training scenario and one of its train days (the same distribution as
   the imitation, seeds >= 1000);
2. play the day twice from the same start: once sampling every instance's host
   from the policy's softmax (over the hosts the dynamic filter leaves, instance
   after instance), once taking the argmax (what the agent does when deployed);
3. the sampled day's advantage is its day reward minus the argmax day's: raise the
   log-probability of the sampled choices when they beat the deployed policy,
   lower it when they do not (no critic to fit; the baseline is the policy itself);
4. checkpoint every `checkpoint_every` days; the policy written is the one with the
   best mean day reward on validation days (test days of training scenarios).
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from placement.gnn.graph import encode
from placement.gnn.policy import GnnAgent, GnnPolicy, save
from placement.gnn.train import FIRST_DISTRIBUTION, training_scenarios
from placement.model.constraints import feasible_hosts
from placement.model.simulate import DayRun, run_day
from placement.model.workload import build_problem


@dataclass(frozen=True)
class FinetuneConfig:
    days: int = 600
    lr: float = 1e-4
    seed: int = 0
    checkpoint_every: int = 100
    validation_days: int = 2  # test days of every training scenario


def sampled_day(policy: GnnPolicy, run: DayRun, gen: torch.Generator) -> tuple[float, torch.Tensor]:
    """Play the day sampling hosts; the day reward and the summed log-probability."""
    sub, cat = run.problem.sub, run.problem.cat
    total, logp = 0.0, torch.zeros(())
    while not run.done:
        logits = policy(encode(run))
        out = run.placement.copy()
        for i in np.argsort(-run.demand(), kind="stable"):
            ok = torch.as_tensor(feasible_hosts(sub, cat, out)[i])
            lp = torch.log_softmax(logits[i].masked_fill(~ok, -torch.inf), 0)
            h = int(torch.multinomial(lp.exp().detach(), 1, generator=gen))
            logp = logp + lp[h]
            out[i] = h
        total += run.apply(out).reward
    return total, logp


def validate(policy: GnnPolicy, problems, days: int) -> float:
    agent = GnnAgent(policy)
    return float(np.mean([sum(r.reward for r in run_day(p, p.day("test", d), agent))
                          for p in problems for d in range(days)]))  # fmt: skip


def finetune(policy: GnnPolicy, cfg: FinetuneConfig, out: Path, problems: list | None = None) -> GnnPolicy:
    torch.set_num_threads(1)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    out.mkdir(parents=True, exist_ok=True)
    if problems is None:
        problems = [build_problem(s) for s in training_scenarios(FIRST_DISTRIBUTION)]
    opt = torch.optim.Adam(policy.parameters(), lr=cfg.lr)
    writer = SummaryWriter(str(out / "tb"))
    best = validate(policy, problems, cfg.validation_days)
    save(policy, out / "policy.pt", {"finetune": asdict(cfg), "days": 0, "validation": best})
    writer.add_scalar("finetune/validation", best, 0)
    bar = tqdm(range(1, cfg.days + 1), desc="finetune", mininterval=2.0)
    adv_hist: list[float] = []
    for k in bar:
        t0 = time.perf_counter()
        p = problems[rng.randrange(len(problems))]
        day = p.day("train", rng.randrange(p.n_days("train")))
        with torch.no_grad():
            base = sum(r.reward for r in run_day(p, day, GnnAgent(policy)))
        policy.train()
        got, logp = sampled_day(policy, DayRun(p, day), gen)
        adv = got - base
        loss = -adv * logp
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        opt.step()
        policy.eval()
        adv_hist.append(adv)
        writer.add_scalar("finetune/advantage", adv, k)
        writer.add_scalar("finetune/seconds", time.perf_counter() - t0, k)
        bar.set_postfix(adv=f"{np.mean(adv_hist[-50:]):+.3f}")
        if k % cfg.checkpoint_every == 0:
            v = validate(policy, problems, cfg.validation_days)
            writer.add_scalar("finetune/validation", v, k)
            torch.save(
                {"policy": policy.state_dict(), "optimizer": opt.state_dict(), "days": k}, out / "last.pt"
            )
            if v > best:
                best = v
                save(policy, out / "policy.pt", {"finetune": asdict(cfg), "days": k, "validation": v})
            bar.write(f"day {k}: validation {v:.4f} (best {best:.4f})")
    writer.close()
    return policy
