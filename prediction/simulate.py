"""The SR-EM scenario under server failures: acceptance lost per failure policy and agent.

Time: the scenario's steps (2 h each in the paper's scenario) are cut into monitoring
intervals of `interval_s` (5 s, the data set's period), 1,440 per step. The placement
agent decides at each step's start, as in `srem run`; the failure policy acts at any
interval: when it avoids a server (seen failed, predicted to fail, or known to fail) it
moves that server's VNFs (prediction/policy.py), each move taking `move_intervals`. While a
server is failed, every request through an instance on it is lost; acceptance is the
share of requests served, averaged over the step's intervals. The step model
(placement/model/step.py) gives everything else: which requests are on time and admitted
for the placement in force, with the step's traffic. A move's reconfiguration delay (the
step model's) counts while the move is under way, `move_intervals` after the placement
changed, for the agent's moves as for the policy's; `srem run` counts it for the whole
2-h step, so the acceptance here without failures is a little higher than there.

The failures and the monitoring rows (prediction/failures.py) depend only on the day and
the seed: every agent and policy meets the same failures, and the proactive policies read
the same scores, those of the real predictor on the rows replayed for each server.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field

import numpy as np

from placement.agents import make_agent
from placement.model.simulate import DayRun
from placement.model.step import StepOutcome, evaluate
from placement.model.workload import Day, Problem

from .failures import FailureStats, RowLibrary, down_matrix, draw_schedule, window_scores
from .metrics import Failure
from .policy import Policy, avoided, evacuate, server_hosts, touching
from .sim_config import SimConfig

LEAD_WINDOW = 60  # a move counts as wasted when its server does not fail within this many intervals


@dataclass(frozen=True)
class World:
    """One day's failures and what the monitor shows, shared by every agent and policy."""

    day: int
    schedule: list[list[Failure]]  # per server
    down: np.ndarray  # [S, N] failed during interval k
    scores: np.ndarray  # [S, N] the predictor's score of the window ending at interval k
    horizon: int  # the predictor's horizon (the oracle moves this far ahead)


def step_intervals(problem: Problem, cfg: SimConfig) -> int:
    return max(1, round(problem.scenario.workload.interval_h * 3600.0 / cfg.interval_s))


def make_world(problem: Problem, cfg: SimConfig, day: int, library: RowLibrary | None, predictor) -> World:
    """Failures drawn for every server of the day, and the predictor's scores along them."""
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, day]))
    N = problem.day("test", day).n_steps * step_intervals(problem, cfg)
    w = draw_world(rng, problem.sub.n_servers, N, cfg, library, predictor, cfg.failures_per_server_day)
    return dataclasses.replace(w, day=day)


def draw_world(
    rng: np.random.Generator,
    n_servers: int,
    n_intervals: int,
    cfg: SimConfig,
    library: RowLibrary | None,
    predictor,
    failures_per_server: float,
    can_fail: np.ndarray | None = None,
) -> World:
    """A schedule of `failures_per_server` failures on average over n_intervals (only for the
    servers in `can_fail`, when given) and the predictor's score of every server's window."""
    stats = FailureStats(cfg.short, cfg.long, cfg.p_long)
    mean_len = (1 - cfg.p_long) * sum(cfg.short) / 2 + cfg.p_long * sum(cfg.long) / 2
    # Up times fill what the failures leave of the span; on a span shorter than the failures
    # (the fabric replay's), at least half of it, so that failures do not follow back to back.
    span = n_intervals / failures_per_server
    mean_up = max(span - mean_len, 0.5 * span)
    schedule = draw_schedule(rng, n_servers, n_intervals, mean_up, stats)
    if can_fail is not None:
        schedule = [fs if can_fail[s] else [] for s, fs in enumerate(schedule)]
    down = down_matrix(schedule, n_intervals)
    if predictor is None:  # no proactive policy asked for: no scores needed
        return World(-1, schedule, down, np.zeros((n_servers, n_intervals), np.float32), 12)
    w = predictor.window
    scores = np.stack(
        [
            window_scores(predictor.score_many, library.server_rows(rng, schedule[s], n_intervals, w), w, w)
            for s in range(n_servers)
        ]
    )
    return World(-1, schedule, down, scores, predictor.horizon)


@dataclass
class PolicyDay:
    agent: str
    policy: str
    day: int
    ar: float  # the day's acceptance, averaged over intervals
    down_lost: float  # share of requests the placement would serve, dropped by a failed server
    ar_steps: list[float]
    migrations: int  # VNF moves the failure policy made
    wasted: int  # of them, off a server that did not fail within LEAD_WINDOW intervals
    early: int  # of them, done before the failure that followed
    failures_hit: int  # failures of a server that held an instance when it failed
    per_interval: list[float] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("per_interval")
        return d


def _agent(name: str, problem: Problem, day: int):
    a = make_agent(name, problem, seed=day)
    if hasattr(a, "start_day"):
        a.start_day("test", day)
    return a


def knowledge(
    policy: Policy, world: World, cfg: SimConfig, k: int, step_end: int
) -> tuple[np.ndarray, np.ndarray]:
    """(avoided servers, failure risk per server) as the policy knows them at interval k:
    failures seen after detect_intervals down, the predictor's score of the previous interval,
    and for the oracle the schedule itself."""
    S, d = world.down.shape[0], cfg.detect_intervals
    seen = world.down[:, k - d : k].all(axis=1) if k >= d else np.zeros(S, dtype=bool)
    risk = world.scores[:, k - 1] if k >= 1 and policy.uses_predictor else np.zeros(S, dtype=np.float32)
    soon = world.down[:, k : k + cfg.move_intervals + world.horizon].any(axis=1)
    av = avoided(policy, seen, risk, soon)
    if policy.kind == "oracle":  # it knows how much of the rest of the step each server will be down
        risk = world.down[:, k:step_end].mean(axis=1).astype(np.float32)
    return av, risk


class _Outcomes:
    """The step model's outcome per (placement, placement moved from), within one step."""

    def __init__(self, problem: Problem, day: Day, t: int, arc_util: np.ndarray) -> None:
        self.args, self.cache = (problem, day, t), {}
        self.arc_util = arc_util

    def __call__(self, p: np.ndarray, before: np.ndarray) -> StepOutcome:
        key = p.tobytes() + before.tobytes()
        if key not in self.cache:
            self.cache[key] = evaluate(*self.args, p, before, self.arc_util)
        return self.cache[key]


def run_policy_day(
    problem: Problem, day: Day, agent_name: str, policy: Policy, world: World, cfg: SimConfig
) -> PolicyDay:
    """One day of one agent under one failure policy (see the module's note)."""
    agent = _agent(agent_name, problem, day.index)
    L, N = step_intervals(problem, cfg), world.down.shape[1]
    run = DayRun(problem, day)
    P = run.placement.copy()
    pending: dict[int, tuple[int, int]] = {}  # instance -> (destination host, interval it lands)
    stuck: set[tuple[int, bytes]] = set()  # (instance, avoided set) with no destination: not retried
    moves_at: list[tuple[int, int]] = []  # (interval, source server) of every policy move
    acc = np.zeros(N)
    cut = np.zeros(N)  # requests the placement serves but a failed server drops
    failed_hit = 0
    for t in range(day.n_steps):
        prev, end = run.placement.copy(), (t + 1) * L
        outcome = _Outcomes(problem, day, t, run.arc_util)
        target = np.asarray(agent.decide(run), dtype=np.int64)
        pending = {i: v for i, v in pending.items() if target[i] == P[i]}  # the agent left them: moves go on
        av, risk = knowledge(policy, world, cfg, t * L, end)
        avh, riskh = server_hosts(problem, av), server_hosts(problem, risk, 0.0)
        # The agent does not know of failures: its moves onto an avoided server are redirected
        # (no extra move: the instance was moving anyway).
        redirect = np.flatnonzero((target != P) & avh[target])
        if len(redirect):
            target, _ = evacuate(problem, day, t, target, None, run.arc_util, avh, riskh, only=redirect)
        # A move's reconfiguration delay counts while it is under way: for move_intervals after
        # the placement changed, the step is evaluated as a move from the one before.
        before, changed = prev, t * L
        P = target
        for k in range(t * L, end):
            landing = [i for i, (_, at) in pending.items() if at <= k]
            if landing:
                before, changed = P.copy(), k
                for i in landing:
                    P[i] = pending.pop(i)[0]
            av, risk = knowledge(policy, world, cfg, k, end)
            if av.any():
                avh = server_hosts(problem, av)
                key = avh.tobytes()
                todo = [
                    i for i in np.flatnonzero(avh[P]).tolist() if i not in pending and (i, key) not in stuck
                ]
                if todo:
                    future = P.copy()  # where every instance will be once the moves under way land
                    for i, (dst, _) in pending.items():
                        future[i] = dst
                    riskh = server_hosts(problem, risk, 0.0)
                    _, moves = evacuate(
                        problem, day, t, future, None, run.arc_util, avh, riskh, only=np.array(todo)
                    )
                    moved = {m.instance for m in moves}
                    stuck.update((i, key) for i in todo if i not in moved)
                    for m in moves:
                        pending[m.instance] = (m.dst, k + cfg.move_intervals)
                        moves_at.append((k, m.src))  # servers are hosts 0..S-1
            downh = server_hosts(problem, world.down[:, k])
            if k > 0:
                failed_hit += int((downh[P] & ~server_hosts(problem, world.down[:, k - 1])[P]).any())
            o = outcome(P, before if k - changed < cfg.move_intervals else P)
            hit = touching(day, P, downh)
            acc[k] = float((o.accepted & ~hit).mean())
            cut[k] = float((o.accepted & hit).mean())
        o = outcome(P, P)
        run.placement, run.arc_util, run.last, run.t = P.copy(), o.arc_load / problem.sub.arc_bw, o, run.t + 1
    wasted, early, _ = classify_moves(moves_at, world, cfg.move_intervals)
    steps = acc.reshape(day.n_steps, L).mean(axis=1)
    return PolicyDay(
        agent_name, policy.name, day.index, float(acc.mean()), float(cut.mean()), [float(x) for x in steps], len(moves_at),
        wasted, early, failed_hit, per_interval=acc.tolist(),
    )  # fmt: skip


def reference_day(problem: Problem, day: Day, agent_name: str, cfg: SimConfig, world: World) -> PolicyDay:
    """The same day with no failure: what the failures cost is measured against it."""
    calm = World(
        world.day, [[] for _ in world.schedule], np.zeros_like(world.down), world.scores, world.horizon
    )
    return run_policy_day(problem, day, agent_name, Policy("no failure", "none"), calm, cfg)


def classify_moves(
    moves_at: list[tuple[int, int]], world: World, move_intervals: int
) -> tuple[int, int, int]:
    """(wasted, early, for short failures) among policy moves (interval, source server): wasted
    when the server did not fail within LEAD_WINDOW intervals; early when the move landed
    before the failure that followed; for a short failure when that failure lasted at most
    100 intervals (the data set's short ones: a move may cost more than waiting)."""
    wasted = early = short = 0
    for k, s in moves_at:
        if world.down[s, k]:
            continue  # moved off a failed server: neither early nor wasted
        ahead = world.down[s, k : k + LEAD_WINDOW]
        if not ahead.any():
            wasted += 1
            continue
        start = k + int(np.argmax(ahead))
        early += int(start - k >= move_intervals)
        f = next((f for f in world.schedule[s] if f.start <= start < f.stop), None)
        short += int(f is not None and f.stop - f.start <= 100)
    return wasted, early, short


def slot_placements(
    problem: Problem,
    day: Day,
    t: int,
    start: np.ndarray,
    world: World,
    policy: Policy,
    cfg: SimConfig,
    per_slot: int,
) -> tuple[list[np.ndarray], list[tuple[int, int]]]:
    """The placement in force in each slot of `per_slot` intervals when the policy acts only at
    slot starts (the fabric's controller period), from `start`; and its moves (interval, server)."""
    n_slots = world.down.shape[1] // per_slot
    P, out, moves_at = start.copy(), [], []
    zero = np.zeros(problem.sub.n_arcs)
    for slot in range(n_slots):
        k = slot * per_slot
        av, risk = knowledge(policy, world, cfg, k, n_slots * per_slot)
        if av.any():
            avh = server_hosts(problem, av)
            P, moves = evacuate(problem, day, t, P, None, zero, avh, server_hosts(problem, risk, 0.0))
            moves_at += [(k, m.src) for m in moves]
        out.append(P.copy())
    return out, moves_at
