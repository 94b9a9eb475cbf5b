"""DeepMigration as the orchestration loop's planner (issue 18 part 5).

The analyzer's alerts say *when* (overload, underload, imbalance, with hysteresis);
DeepMigration (migration/, the shipped graph-network policy) says *which flows move where*.
Each period with a standing alert the planner:

1. reads every live instance's flows with their rates from its NF host (the `flows` op of
   the control socket: per-flow packets/s and bytes/s over the last one to two seconds);
2. builds a `migration.model.Problem` (`build_problem`, pure): the live instances as active
   instances, the free slots as spares (scale-out, up to max_instances), the flows;
3. runs the policy (`migration.agent.decide`: double GNN, translator); in scale-out, tops
   its plan up where it leaves a source above its limit (`translator.top_up`, counted and said);
4. turns its moves into the loop's actions (`to_actions`, pure): scale-out of each spare that
   receives flows, a move of **exact flows** per (source, destination), a scale-in per
   drained instance, checking again that no destination ends above its limit.

Units. The loop's thresholds are packets/s, so the problem's rates and capacities are
packets/s (the model only ever divides one by the other). The policy was trained with
Th_high at 0.55-0.6, so the capacity is set to put 98 % of the level at which an overload
alert *clears* (overload.pps × (1 − margin)) at Th_high = 0.6: a plan that fills a
destination up to Th_high leaves it below the overload threshold with margin, and an
overloaded source is emptied down to where its alert clears. Th_low is underload.pps (with margin) over the same
capacity. Load the instance carries outside its metered flows (packets of flows without
state) is subtracted from its capacity, so it counts against the limit without being
movable. A flow's state size is its record plus the packets a move holds (`HOLD_S` of its
traffic); queues are the packets held now; SLA from the orchestration YAML's planner.

Fallback: when no policy can be loaded, an NF host gives no per-flow data (an older host,
dead socket, no flow with state), the thresholds have no packets/s limit, or a failure-risk
alert stands (DeepMigration has no such scenario), the period is planned by the heuristic;
each action's reason starts with `heuristic (fallback: WHY)` and the reason is logged once.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from controller.orchestration.config import OrchestrationConfig
from controller.orchestration.move import Instance as Endpoint
from controller.orchestration.planner import Action, FlowTuple, Heuristic, Planner, View, flow_tuple
from nfs.control import ControlClient, ControlError
from nfs.stateful import HOLD_LIMIT

log = logging.getLogger("srem.orchestration")

TH_HIGH = 0.6  # where the overload alert's clear level sits in the problem (the policy's Th_high)
HEADROOM = 0.02  # ... less 2 %: the alert clears strictly below its level, and rates jitter
HOLD_S = 0.05  # traffic a move holds per flow (order-preserving, one flow: 62 ms in bench_move)
RECORD_BYTES = 160  # one flow's state record on the wire (JSON: 5-tuple + mapping)
FRAME_BYTES = 1500  # what one held packet may take in a destination's hold buffer
OMEGA = 5000.0  # per unit of utilisation over the limit: an overload the analyzer raised costs
# more than starting an instance (R = 200), which the paper's ω = 1000 does not make sure of
BANDWIDTH_MBPS = 100.0  # the controller relays state and held packets over control sockets
HISTORY = 10_000  # planned periods the planner remembers
UNMETERED = 0.1  # load outside the metered flows counts when above this share of the sample


class NoFlowData(Exception):
    """Per-flow data cannot be read: the reason the period falls back to the heuristic."""


@dataclass(frozen=True)
class FlowRate:
    flow: FlowTuple
    pps: float
    bps: float


def read_flows(inst: Endpoint, timeout_s: float = 2.0, limit: int = 10_000) -> list[FlowRate]:
    """The flows of one instance with their rates (the `flows` op), or NoFlowData."""
    try:
        c = ControlClient(inst.control, timeout_s)
        try:
            ans = c.call("flows", nf=inst.nf, limit=limit)
        finally:
            c.close()
    except (ConnectionError, ControlError, OSError, ValueError) as e:
        raise NoFlowData(f"no per-flow data from {inst.name}: {e}") from None
    return [FlowRate(flow_tuple(r["flow"]), float(r["pps"]), float(r["bps"])) for r in ans["flows"]]


def capacity_pps(config: OrchestrationConfig) -> float | None:
    """The problem's capacity: just under the overload alert's clear level sits at Th_high."""
    th = config.thresholds
    if th.overload_pps is None:
        return None
    return th.overload_pps * (1.0 - th.margin) * (1.0 - HEADROOM) / TH_HIGH


@dataclass(frozen=True)
class Built:
    """A problem and what its indices stand for."""

    problem: object  # migration.model.Problem
    names: list[str]  # instance index -> instance or slot name
    flows: list[FlowTuple]  # flow index -> 5-tuple
    limit: np.ndarray  # packets/s each instance may reach (Th_high × its capacity)


def build_problem(
    view: View,
    scenario: str,
    flows: Mapping[str, list[FlowRate]],
    sla_ms: float,
    servers: Mapping[str, str] | None = None,
) -> Built:
    """The migration problem of this period (pure: the view and the rates read)."""
    from migration.model import Costs, Flow, Instance, Network, Problem, Thresholds

    cfg, th = view.config, view.config.thresholds
    cap = capacity_pps(cfg)
    if cap is None:
        raise NoFlowData("the thresholds have no overload.pps to scale the problem by")
    servers = servers or {}
    live = sorted(n for n, s in view.samples.items() if s.alive)
    spares = view.free_slots[: max(0, cfg.max_instances - len(live))] if scenario == "scale-out" else []
    insts, rows, names = [], [], []
    for j, n in enumerate(live):
        s = view.samples[n]
        mine = flows.get(n, [])
        metered = sum(f.pps for f in mine)
        extra = s.pps - metered if s.pps - metered > UNMETERED * s.pps else 0.0
        c = max(cap - extra / TH_HIGH, 1e-3)  # unmovable load takes room, not a flow
        insts.append(Instance(n, servers.get(n, n), c, _buffer_mb(s.queue), s.queue / 8.0, 1e3 / cap))
        names.append(n)
        for f in mine:
            size = (RECORD_BYTES + f.bps * HOLD_S) / 1e6
            rows.append((f.flow, Flow(f"{n}/{len(rows)}", j, max(f.pps, 1e-6), size, sla_ms)))
    for n in spares:
        insts.append(Instance(n, servers.get(n, n), cap, _buffer_mb(0), 0.0, 1e3 / cap, active=False))
        names.append(n)
    low = (th.underload_pps or 0.0) / (1.0 - th.margin) / cap  # an alerted instance is a candidate
    p = Problem(scenario, tuple(insts), tuple(r[1] for r in rows), {}, Network(bandwidth_mbps=BANDWIDTH_MBPS),
                Costs(omega=OMEGA), Thresholds(TH_HIGH, min(low, TH_HIGH / 2)), name=f"period-{view.period}")  # fmt: skip
    return Built(p, names, [r[0] for r in rows], TH_HIGH * p.cap)


def _buffer_mb(queue: int) -> float:
    """A destination's room for moved flows' state and held packets: its hold buffer's."""
    return max(0, HOLD_LIMIT - queue) * FRAME_BYTES / 1e6


def to_actions(b: Built, moves: list, view: View, scenario: str) -> list[Action]:
    """The plan's moves as the loop's actions (pure). Moves out of an instance within its
    cooldown, and drains the alerts did not ask for (or below min_instances), are dropped;
    a destination that would end above its limit loses moves until it fits."""
    p, cfg = b.problem, view.config
    cool = lambda n: view.period - view.last_action.get(n, -(10**9)) <= cfg.cooldown_periods
    keep = [m for m in moves if not cool(b.names[m.src])]
    if scenario == "scale-in":
        asked = [n for k, n in sorted(view.alerts) if k == "underload"]
        live = sum(1 for s in view.samples.values() if s.alive)
        drained = []
        for i in sorted({m.src for m in keep}, key=lambda i: p.load[i]):
            everyone = set(np.flatnonzero(p.src == i).tolist())
            gone = {m.flow for m in keep if m.src == i}
            if b.names[i] in asked and gone == everyone and live - len(drained) > cfg.min_instances:
                drained.append(i)
        keep = [m for m in keep if m.src in drained]
    load = _after(p, keep)
    for j in np.flatnonzero(load > b.limit + 1e-6):  # never above a destination's limit
        for m in sorted((m for m in keep if m.dst == j), key=lambda m: -p.rate[m.flow]):
            if load[j] <= b.limit[j] + 1e-6:
                break
            keep.remove(m)
            load = _after(p, keep)
    if scenario == "scale-in":  # a drain that lost a move above is no drain: keep none of it
        keep = [m for m in keep if load[m.src] <= 1e-9]
        load = _after(p, keep)
    why = _summary(b, load, scenario)
    out: list[Action] = []
    for j in sorted({m.dst for m in keep if not p.active[m.dst]}):
        out.append(Action("scale-out", b.names[j], b.names[j], 0.0, why))
    groups: dict[tuple[int, int], list] = {}
    for m in keep:
        groups.setdefault((m.src, m.dst), []).append(m)
    per_src = {i: int((p.src == i).sum()) for i in {m.src for m in keep}}
    # scale-in: the drained instance's biggest group is the scale-in itself (it moves what is
    # left and stops the instance), so it comes after the instance's other moves
    final = {i: max((g for g in groups if g[0] == i), key=lambda g: (len(groups[g]), -g[1]))
             for i in per_src} if scenario == "scale-in" else {}  # fmt: skip
    for (i, j), ms in sorted(groups.items(), key=lambda kv: (final.get(kv[0][0]) == kv[0], kv[0])):
        fl = tuple(b.flows[m.flow] for m in ms)
        if final.get(i) == (i, j):
            out.append(Action("scale-in", b.names[i], b.names[j], 1.0, why, fl))
        else:
            out.append(
                Action("move", b.names[i], b.names[j], round(len(ms) / max(per_src[i], 1), 3), why, fl)
            )
    return out


def propose(model, b: Built, view: View, scenario: str) -> tuple[list[Action], int]:
    """The policy's decision on the built problem as the loop's actions, and how many flows
    `translator.top_up` added (scale-out)."""
    from migration.agent import decide
    from migration.translator import top_up

    moves = decide(model, b.problem).moves
    extra = 0
    if scenario == "scale-out":  # the policy may fall a little short: a source left overloaded would re-alert
        moves, extra = top_up(b.problem, moves)
    acts = to_actions(b, moves, view, scenario)
    if extra:
        acts = [
            replace(a, reason=a.reason.replace(": pps", f" (+{extra} flows topped up): pps", 1)) for a in acts
        ]
    return acts, extra


def _after(p, keep: list) -> np.ndarray:
    """Each instance's load once the kept moves are made."""
    load = p.load.copy()
    for m in keep:
        load[m.src] -= p.rate[m.flow]
        load[m.dst] += p.rate[m.flow]
    return load


def _summary(b: Built, after: np.ndarray, scenario: str) -> str:
    """The reason every action of the plan carries: the planned load per instance."""
    p = b.problem
    parts = [f"{n} {p.load[k]:.0f}->{max(after[k], 0.0):.0f}" for k, n in enumerate(b.names)
             if p.active[k] or after[k] > 0]  # fmt: skip
    return f"deepmigration {scenario}: pps {', '.join(parts)} (limit {b.limit.max():.0f})"


@dataclass
class DeepMigration:
    """The Planner: DeepMigration on per-flow rates, the heuristic where it cannot run.

    `instances` maps a live instance's name to its endpoint (the monitor's `instances`,
    kept current by the loop); `servers` names the server of each instance or slot (hop
    latency by locality; default: each on its own)."""

    config: OrchestrationConfig
    instances: Mapping[str, Endpoint]
    servers: Mapping[str, str] = field(default_factory=dict)
    fallback: Planner = field(default_factory=Heuristic)
    # per planned period (the last HISTORY): scenario, loads, moves, ms; a long loop stays bounded
    history: deque = field(default_factory=lambda: deque(maxlen=HISTORY))
    _model: object = None
    _broken: str = ""
    _said: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        from migration.agent import LOOP_MODEL, load_model

        path = Path(self.config.planner.model or LOOP_MODEL)
        try:
            self._model = load_model(path)
        except Exception as e:  # a missing or foreign file: one line, then the heuristic
            self._broken = (
                f"no DeepMigration policy ({path}: {str(e).splitlines()[0] if str(e) else type(e).__name__})"
            )

    def _fallback(self, view: View, why: str) -> list[Action]:
        if why not in self._said:
            self._said.add(why)
            log.warning("orchestration planner: heuristic instead of DeepMigration: %s", why)
        acts = self.fallback.plan(view)
        self.history.append({"period": view.period, "planner": "heuristic", "why": why, "actions": len(acts)})
        return [replace(a, reason=f"heuristic (fallback: {why}): {a.reason}") for a in acts]

    def plan(self, view: View) -> list[Action]:
        live = {n for n, s in view.samples.items() if s.alive}
        standing = {(k, n) for k, n in view.alerts if n in live or n == "*"}
        notes = [Action("none", n, "", 0.0, "down: its state is gone, nothing to move")
                 for k, n in sorted(view.alerts) if k == "down"]  # fmt: skip
        scenario = _scenario(standing, view, len(live))
        if scenario is None:
            return notes
        if self._broken:
            return self._fallback(view, self._broken)
        if any(k == "failure-risk" for k, _ in standing):
            return self._fallback(view, "failure-risk: DeepMigration has no scenario for it")
        t0 = time.perf_counter()
        try:
            rates = {}
            for n in sorted(live):
                if n not in self.instances:
                    raise NoFlowData(f"no per-flow data from {n}: no control socket known")
                rates[n] = read_flows(self.instances[n])
            if not any(rates.values()):
                raise NoFlowData("no instance reports a flow with state")
            b = build_problem(view, scenario, rates, self.config.planner.sla_ms, self.servers)
        except NoFlowData as e:
            return self._fallback(view, str(e))
        acts, extra = propose(self._model, b, view, scenario)
        p = b.problem
        self.history.append({
            "period": view.period, "planner": "deepmigration", "scenario": scenario,
            "load": {n: round(float(p.load[k]), 1) for k, n in enumerate(b.names)},
            "limit": round(float(b.limit.max()), 1), "flows": len(b.flows), "moves": sum(len(a.flows) for a in acts),
            "topped_up": extra,
            "ms": round((time.perf_counter() - t0) * 1e3, 1)})  # fmt: skip
        return notes + acts


def _scenario(standing: set[tuple[str, str]], view: View, live: int) -> str | None:
    """Which of DeepMigration's scenarios the standing alerts call for (overload first)."""
    kinds = {k for k, _ in standing}
    cool = lambda n: view.period - view.last_action.get(n, -(10**9)) <= view.config.cooldown_periods
    if any(k in ("overload", "failure-risk") and not cool(n) for k, n in standing):
        return "scale-out"
    if any(k == "underload" and not cool(n) for k, n in standing) and live > view.config.min_instances:
        return "scale-in"
    if "imbalance" in kinds and live >= 2:
        return "balance"
    return None


def planner_for(config: OrchestrationConfig, instances: Mapping[str, Endpoint], **kw) -> Planner:
    """The planner the orchestration YAML names (`planner:`), for the loop to use."""
    if config.planner.kind == "heuristic":
        return Heuristic()
    return DeepMigration(config, instances, **kw)
