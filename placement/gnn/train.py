"""Imitation of `mpc`, DAgger-style, on a distribution of training scenarios.

Read top to bottom:
1. the scenario distribution: seeds of the paper's ranges at several load levels,
   and k=2 / k=4 fat-trees, all with seeds >= 1000 (the evaluation uses 7, 11-13)
   and only their *train* days;
2. every iteration rolls out whole days, acting with the teacher (probability
   beta, 1 at the first iteration, halved after each) or with the policy, and
   labels every visited state with the teacher's decision: the policy learns to
   act in the states its own mistakes lead to, not only the teacher's;
3. after each iteration, cross-entropy on states drawn from everything collected
   (`epochs` passes, at most `max_updates` states):
   per instance, a softmax over the hosts both filters allow (statically and by
   storage, at the current or the teacher's placement); masked hosts are -inf and
   get no gradient.

Seeded and reproducible on one thread; checkpoints every iteration (`last.pt` +
the collected states) and resumes from them; TensorBoard logs in OUT/tb.
"""

from __future__ import annotations

import dataclasses
import pickle
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from placement.gnn.graph import Encoded, encode
from placement.gnn.policy import GnnAgent, GnnConfig, GnnPolicy, masked_logits, save
from placement.model import scenario as sc
from placement.model.constraints import feasible_hosts
from placement.model.simulate import DayRun
from placement.model.workload import Problem, build_problem
from placement.mpc.agent import MpcAgent
from placement.mpc.oracle import OracleMpcAgent

FIRST_TRAIN_SEED = 1000  # evaluation scenarios use seeds below this


@dataclass(frozen=True)
class TrainConfig:
    iterations: int = 20
    days_per_iteration: int = 8
    epochs: int = 3
    max_updates: int = 600  # per iteration at most, drawn from everything collected: time stays linear
    lr: float = 2e-3
    seed: int = 0
    beta_decay: float = 0.5  # teacher's share of the acting, per iteration
    scenarios: int = 24  # size of the training distribution
    kinds: tuple[str, ...] = ("fattree-k2", "paper", "fattree-k4")  # also: "tea", fattree-kK
    loads: tuple[float, ...] = (0.6, 1.0, 1.4)  # factors on the working-hours rates
    # Who labels: "mpc", or "mpc-oracle" (mpc that sees the day's true future rates:
    # privileged, possible only here because training days are generated).
    teacher: str = "mpc"


def training_scenarios(cfg: TrainConfig) -> list[sc.Scenario]:
    """The training distribution, fixed by the config (never an evaluation seed)."""
    out = []
    for j in range(cfg.scenarios):
        kind, load = cfg.kinds[j % len(cfg.kinds)], cfg.loads[(j // len(cfg.kinds)) % len(cfg.loads)]
        seed = FIRST_TRAIN_SEED + j
        # "tea": the bundled TEA calibration (EM cheap but slow) redrawn with a training seed.
        base = sc.load("tea") if kind == "tea" else sc.default()
        topo = base.topology
        if kind.startswith("fattree-k"):
            topo = dataclasses.replace(topo, builder="fattree", k=int(kind[len("fattree-k") :]))
        w = base.workload
        lo, hi = w.working.rate_mbps
        work = dataclasses.replace(w.working, rate_mbps=(lo * load, hi * load))
        wl = dataclasses.replace(w, working=work)
        out.append(
            dataclasses.replace(
                base, name=f"{kind}-x{load}-seed{seed}", seed=seed, topology=topo, workload=wl
            )
        )
    return out


def make_teacher(name: str) -> MpcAgent:
    if name == "mpc":
        return MpcAgent()
    if name == "mpc-oracle":
        return OracleMpcAgent()
    raise ValueError(f"unknown teacher {name!r}; known: mpc, mpc-oracle")


@dataclass
class Sample:
    state: Encoded
    target: torch.Tensor  # [I] the teacher's host per instance
    allowed: torch.Tensor  # [I, H] bool: hosts the filters allow


def label(run: DayRun, teacher: MpcAgent) -> tuple[Sample, np.ndarray]:
    sub, cat = run.problem.sub, run.problem.cat
    want = teacher.decide(run)
    allowed = feasible_hosts(sub, cat, run.placement) | feasible_hosts(sub, cat, want)
    allowed &= cat.static_mask[cat.inst_type]
    s = Sample(encode(run), torch.as_tensor(want), torch.as_tensor(allowed))
    return s, want


def loss_and_agreement(policy: GnnPolicy, s: Sample) -> tuple[torch.Tensor, float]:
    logits = masked_logits(policy(s.state), s.allowed)
    logp = torch.log_softmax(logits, dim=1)
    picked = logp.gather(1, s.target[:, None]).squeeze(1)
    agree = float((logits.argmax(1) == s.target).float().mean())
    return -picked.mean(), agree


def agreement(policy: GnnPolicy, samples: list[Sample]) -> float:
    """Share of (state, instance) where the policy's best allowed host is the teacher's."""
    with torch.no_grad():
        return float(np.mean([loss_and_agreement(policy, s)[1] for s in samples])) if samples else 0.0


def fit(policy: GnnPolicy, opt: torch.optim.Optimizer, data: list[Sample], updates: int, rng: random.Random):
    policy.train()
    losses, agrees = [], []
    for _ in range(updates):
        loss, agree = loss_and_agreement(policy, data[rng.randrange(len(data))])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 5.0)
        opt.step()
        losses.append(loss.item())
        agrees.append(agree)
    policy.eval()
    return float(np.mean(losses)), float(np.mean(agrees))


def train(cfg: TrainConfig, out: Path, resume: bool = False, net: GnnConfig | None = None,
          problems: list[Problem] | None = None) -> GnnPolicy:  # fmt: skip
    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    np_rng = np.random.default_rng(cfg.seed)
    policy = GnnPolicy(net or GnnConfig())
    opt = torch.optim.Adam(policy.parameters(), lr=cfg.lr)
    data: list[Sample] = []
    start = 0
    if resume and (out / "last.pt").exists():
        ck = torch.load(out / "last.pt", weights_only=False)
        policy = GnnPolicy(GnnConfig(**ck["net"]))
        policy.load_state_dict(ck["policy"])
        opt = torch.optim.Adam(policy.parameters(), lr=cfg.lr)
        opt.load_state_dict(ck["optimizer"])
        start, data = ck["iteration"], pickle.loads((out / "data.pkl").read_bytes())
        torch.set_rng_state(ck["torch_rng"])
        rng.setstate(ck["rng"])
        np_rng.bit_generator.state = ck["np_rng"]
    problems = problems if problems is not None else [build_problem(s) for s in training_scenarios(cfg)]
    teacher = make_teacher(cfg.teacher)
    agent = GnnAgent(policy)
    writer = SummaryWriter(str(out / "tb"))
    bar = tqdm(
        range(start, cfg.iterations), desc="dagger", initial=start, total=cfg.iterations, mininterval=2.0
    )
    for it in bar:
        beta = cfg.beta_decay**it
        t0 = time.perf_counter()
        fresh: list[Sample] = []
        for _ in range(cfg.days_per_iteration):
            problem = problems[int(np_rng.integers(len(problems)))]
            run = DayRun(problem, problem.day("train", int(np_rng.integers(problem.n_days("train")))))
            while not run.done:
                s, want = label(run, teacher)
                fresh.append(s)
                run.apply(want if np_rng.random() < beta else agent.decide(run))
        # Agreement on the new states before learning from them: how the policy does
        # where it now leads itself (the DAgger measure of progress).
        held = agreement(policy, fresh)
        data.extend(fresh)
        loss, agree = fit(policy, opt, data, min(cfg.epochs * len(data), cfg.max_updates), rng)
        for k, v in {"loss": loss, "agreement_train": agree, "agreement_new_states": held, "beta": beta,
                     "states": len(data), "seconds": time.perf_counter() - t0}.items():  # fmt: skip
            writer.add_scalar(f"dagger/{k}", v, it + 1)
        bar.set_postfix(loss=f"{loss:.3f}", agree=f"{agree:.2f}", new=f"{held:.2f}", states=len(data))
        ck = {"policy": policy.state_dict(), "optimizer": opt.state_dict(), "iteration": it + 1,
              "net": asdict(policy.cfg), "train": asdict(cfg), "torch_rng": torch.get_rng_state(),
              "rng": rng.getstate(), "np_rng": np_rng.bit_generator.state}  # fmt: skip
        (out / "data.pkl").write_bytes(pickle.dumps(data))
        torch.save(ck, out / "last.pt")
        save(policy, out / "policy.pt", {"train": asdict(cfg), "iterations": it + 1, "states": len(data)})
    writer.close()
    return policy
