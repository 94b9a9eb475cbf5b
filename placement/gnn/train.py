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
   Optionally (`value_loss`) every state is also labelled with the teacher's value of
   each allowed host of each instance, that instance alone moved there from the
   teacher's answer (`value_labels`), and the loss weighs a mistake by what it costs
   (`instance_loss`); `batch` states per update (default 1).

Seeded and reproducible on one thread; checkpoints every iteration (`last.pt` +
the collected states) and resumes from them; TensorBoard logs in OUT/tb. An
iteration's days can roll out on Ray (`workers`, or a cluster `address`): the driver
draws every day's scenario, day and per-step coins from the one random stream first,
so a Ray run collects exactly the states and labels a serial run does.
"""

from __future__ import annotations

import dataclasses
import math
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
    scenarios: int = 32  # size of the training distribution
    # TEA's calibration (EM cheap but slow) in the mix: without it the policy's ranking
    # misled on TEA-like substrates (docs/agent21.md, item 6).
    kinds: tuple[str, ...] = ("fattree-k2", "paper", "fattree-k4", "tea")  # also: fattree-kK
    loads: tuple[float, ...] = (0.6, 1.0, 1.4)  # factors on the working-hours rates
    # Who labels: "mpc", or "mpc-oracle" (mpc that sees the day's true future rates:
    # privileged, possible only here because training days are generated).
    teacher: str = "mpc"
    # Value-aware imitation (docs/agent21.md, "Value-aware imitation"): "none" (plain
    # cross-entropy on the teacher's host), "regret" (cross-entropy + value_weight x the
    # expected regret under the policy's softmax, regret in the teacher's value per step
    # counted), or "soft" (cross-entropy against softmax(Q / value_tau), Q per step counted).
    value_loss: str = "none"
    value_weight: float = 10.0  # regrets per step are ~0.01-0.3: x10 is cross-entropy's size
    value_tau: float = 0.02
    batch: int = 1  # states per gradient step


# The distribution the first policy trained on (24 scenarios, no TEA): the validation sets
# of docs/agent21.md and the fine-tuning of docs/gnn.md are drawn from it.
FIRST_DISTRIBUTION = TrainConfig(scenarios=24, kinds=("fattree-k2", "paper", "fattree-k4"))


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
    if name == "mpc-forecast":  # the default agent: mpc with the forecast fitted on training days
        from placement.mpc.forecast import ForecastMpcAgent
        from placement.mpc.forecast import load as load_forecast

        return ForecastMpcAgent(forecast=load_forecast(), horizon=0)
    raise ValueError(f"unknown teacher {name!r}; known: mpc, mpc-forecast, mpc-oracle")


VALUE_LOSSES = ("none", "regret", "soft")


@dataclass
class Sample:
    state: Encoded
    target: torch.Tensor  # [I] the teacher's host per instance
    allowed: torch.Tensor  # [I, H] bool: hosts the filters allow
    # [I, H] float64, only with value labels: the teacher's value of the teacher's answer
    # with instance i alone moved to host h; -inf where that overflows storage or h is not
    # allowed. (A default: samples pickled before it existed load with None.)
    q: torch.Tensor | None = None
    steps: int = 1  # steps the value counts (this one and the remaining ones): its scale


def value_labels(run: DayRun, teacher: MpcAgent, want: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """[I, H]: for each instance i and allowed host h, `teacher.values` of `want` with
    column i set to h (one batch per instance); -inf elsewhere and where storage overflows."""
    q = np.full(allowed.shape, -np.inf)
    for i in range(len(want)):
        hosts = np.flatnonzero(allowed[i])
        if len(hosts):
            batch = np.repeat(np.asarray(want, dtype=np.int64)[None, :], len(hosts), axis=0)
            batch[:, i] = hosts
            q[i, hosts] = teacher.values(run, batch)
    return q


def label(run: DayRun, teacher: MpcAgent, values: bool = False) -> tuple[Sample, np.ndarray]:
    sub, cat = run.problem.sub, run.problem.cat
    want = teacher.decide(run)
    allowed = feasible_hosts(sub, cat, run.placement) | feasible_hosts(sub, cat, want)
    allowed &= cat.static_mask[cat.inst_type]
    s = Sample(encode(run), torch.as_tensor(want), torch.as_tensor(allowed))
    if values:
        s.q = torch.as_tensor(value_labels(run, teacher, want, allowed))
        s.steps = run.day.n_steps - run.t
    return s, want


@dataclass(frozen=True)
class Draw:
    """One day of an iteration, drawn by the driver: the scenario, the train day, and one
    coin per step (the teacher acts where coin < beta)."""

    problem: int
    day: int
    coins: tuple[float, ...]


def draw_days(n: int, problems: list[Problem], np_rng: np.random.Generator) -> list[Draw]:
    """n days in the order a serial rollout used to draw them from np_rng (same stream)."""
    out = []
    for _ in range(n):
        p = int(np_rng.integers(len(problems)))
        d = int(np_rng.integers(problems[p].n_days("train")))
        steps = problems[p].day("train", d).n_steps
        out.append(Draw(p, d, tuple(float(np_rng.random()) for _ in range(steps))))
    return out


def roll_out(problem: Problem, draw: Draw, policy: GnnPolicy, teacher: MpcAgent, beta: float,
             values: bool = False) -> list[Sample]:  # fmt: skip
    """Play one training day, every visited state labelled by the teacher."""
    agent = GnnAgent(policy)
    run = DayRun(problem, problem.day("train", draw.day))
    out = []
    for coin in draw.coins:
        s, want = label(run, teacher, values)
        out.append(s)
        run.apply(want if coin < beta else agent.decide(run))
    return out


def _roll_out_remote(problems: list[Problem], draw: Draw, state: dict, net: dict, training: bool,
                     teacher: str, beta: float, values: bool = False) -> list[Sample]:  # fmt: skip
    """roll_out in a Ray worker: the policy rebuilt from its weights, in the driver's mode."""
    torch.set_num_threads(1)
    policy = GnnPolicy(GnnConfig(**net))
    policy.load_state_dict(state)
    policy.train(training)
    return roll_out(problems[draw.problem], draw, policy, make_teacher(teacher), beta, values)


def roll_out_all(problems: list[Problem], draws: list[Draw], policy: GnnPolicy, teacher: str, beta: float,
                 workers: int = 1, address: str | None = None, shared=None,
                 values: bool = False) -> list[Sample]:  # fmt: skip
    """Every drawn day, in draw order: here, or on Ray (`shared`: the problems already put)."""
    if workers <= 1 and address is None:
        t = make_teacher(teacher)
        return [s for d in draws for s in roll_out(problems[d.problem], d, policy, t, beta, values)]
    from placement.evaluation.parallel import ray_session

    ray = ray_session(workers, address)
    task = ray.remote(num_cpus=1)(_roll_out_remote)
    shared = shared if shared is not None else ray.put(problems)
    state = ray.put({k: v.detach().clone() for k, v in policy.state_dict().items()})
    refs = [task.remote(shared, d, state, asdict(policy.cfg), policy.training, teacher, beta, values)
            for d in draws]  # fmt: skip
    return [s for r in ray.get(refs) for s in r]


def regrets(s: Sample) -> torch.Tensor:
    """[I, H] float64: per step counted, how much less the teacher's value is at each
    allowed host than at the row's best (>= 0); a host whose move overflows storage costs
    its row's largest finite regret; 0 where not allowed (masked anyway)."""
    assert s.q is not None
    q = s.q.masked_fill(~s.allowed, -math.inf)
    best = q.max(1, keepdim=True).values
    finite = torch.isfinite(q)
    r = torch.where(finite, best - q, torch.zeros_like(q))
    worst = r.max(1, keepdim=True).values
    r = torch.where(s.allowed & ~finite, worst.expand_as(r), r)
    r = torch.where(torch.isfinite(best), r, torch.zeros_like(r))  # a row with no finite value: no signal
    return r / s.steps


def instance_loss(logits: torch.Tensor, s: Sample, kind: str = "none", weight: float = 10.0,
                  tau: float = 0.02) -> torch.Tensor:  # fmt: skip
    """[I] loss per instance from masked logits [I, H] (masked hosts -inf: no gradient).
    "none": cross-entropy on the teacher's host; "regret": that + weight x the expected
    regret under the policy's softmax; "soft": cross-entropy against softmax(-regret / tau).
    A sample without value labels falls back to "none"."""
    logp = torch.log_softmax(logits, dim=1)
    ce = -logp.gather(1, s.target[:, None]).squeeze(1)
    if kind == "none" or s.q is None:
        return ce
    r = regrets(s).to(logp.dtype)
    p = logp.exp()  # 0 where masked
    if kind == "regret":
        return ce + weight * (p * r).sum(1)
    if kind == "soft":
        target = torch.softmax((-r / tau).masked_fill(~s.allowed, -math.inf), dim=1)
        return -(target * logp.masked_fill(~s.allowed, 0.0)).sum(1)
    raise ValueError(f"unknown value loss {kind!r}; known: {', '.join(VALUE_LOSSES)}")


def loss_and_agreement(policy: GnnPolicy, s: Sample, kind: str = "none", weight: float = 10.0,
                       tau: float = 0.02) -> tuple[torch.Tensor, float]:  # fmt: skip
    logits = masked_logits(policy(s.state), s.allowed)
    agree = float((logits.argmax(1) == s.target).float().mean())
    return instance_loss(logits, s, kind, weight, tau).mean(), agree


def agreement(policy: GnnPolicy, samples: list[Sample]) -> float:
    """Share of (state, instance) where the policy's best allowed host is the teacher's."""
    with torch.no_grad():
        return float(np.mean([loss_and_agreement(policy, s)[1] for s in samples])) if samples else 0.0


def mean_regret(policy: GnnPolicy, samples: list[Sample]) -> float:
    """Mean over (state, instance) of the regret per step of the policy's best allowed host
    (the teacher's value, that instance alone moved); nan without value labels."""
    out = []
    with torch.no_grad():
        for s in samples:
            if s.q is not None:
                pick = masked_logits(policy(s.state), s.allowed).argmax(1)
                out.extend(regrets(s).gather(1, pick[:, None]).squeeze(1).tolist())
    return float(np.mean(out)) if out else math.nan


def fit(policy: GnnPolicy, opt: torch.optim.Optimizer, data: list[Sample], updates: int, rng: random.Random,
        cfg: TrainConfig | None = None):  # fmt: skip
    """`updates` gradient steps, each on `cfg.batch` states drawn from `data` (with replacement)."""
    cfg = cfg or TrainConfig()
    policy.train()
    losses, agrees = [], []
    for _ in range(updates):
        if cfg.batch == 1:  # one draw per step, as the shipped policy was trained
            loss, agree = loss_and_agreement(policy, data[rng.randrange(len(data))], cfg.value_loss,
                                             cfg.value_weight, cfg.value_tau)  # fmt: skip
        else:
            got = [loss_and_agreement(policy, data[rng.randrange(len(data))], cfg.value_loss, cfg.value_weight,
                                      cfg.value_tau) for _ in range(cfg.batch)]  # fmt: skip
            loss, agree = torch.stack([x for x, _ in got]).mean(), float(np.mean([a for _, a in got]))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 5.0)
        opt.step()
        losses.append(loss.item())
        agrees.append(agree)
    policy.eval()
    return float(np.mean(losses)), float(np.mean(agrees))


def train(cfg: TrainConfig, out: Path, resume: bool = False, net: GnnConfig | None = None,
          problems: list[Problem] | None = None, workers: int = 1, address: str | None = None) -> GnnPolicy:  # fmt: skip
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
    make_teacher(cfg.teacher)  # an unknown teacher is refused before anything runs
    if cfg.value_loss not in VALUE_LOSSES:
        raise ValueError(f"unknown value loss {cfg.value_loss!r}; known: {', '.join(VALUE_LOSSES)}")
    values = cfg.value_loss != "none"
    shared = None
    if workers > 1 or address is not None:
        from placement.evaluation.parallel import ray_session

        shared = ray_session(workers, address).put(problems)
    writer = SummaryWriter(str(out / "tb"))
    bar = tqdm(
        range(start, cfg.iterations), desc="dagger", initial=start, total=cfg.iterations, mininterval=2.0
    )
    for it in bar:
        beta = cfg.beta_decay**it
        t0 = time.perf_counter()
        draws = draw_days(cfg.days_per_iteration, problems, np_rng)
        fresh = roll_out_all(problems, draws, policy, cfg.teacher, beta, workers, address, shared, values)
        # Agreement on the new states before learning from them: how the policy does
        # where it now leads itself (the DAgger measure of progress).
        held = agreement(policy, fresh)
        logs = {"regret_new_states": mean_regret(policy, fresh)} if values else {}
        data.extend(fresh)
        loss, agree = fit(policy, opt, data, min(cfg.epochs * len(data), cfg.max_updates), rng, cfg)
        logs |= {"loss": loss, "agreement_train": agree, "agreement_new_states": held, "beta": beta,
                 "states": len(data), "seconds": time.perf_counter() - t0}  # fmt: skip
        for k, v in logs.items():
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
