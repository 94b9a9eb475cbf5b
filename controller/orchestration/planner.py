"""The planner: standing alerts and the latest samples in, actions out.

`Planner` is the interface the loop calls between placement intervals; the flow-migration
planner of the DeepMigration issue (migration.plan) plugs in by implementing it, and the
failure-risk hook (prediction.score) feeds the analyzer's failure-risk alerts that any
planner reads. The interval placement itself stays with the placement agent (srem control).

`Heuristic` is the simple planner shipped now. Per NF, in this order, one action per
instance per period, and none on an instance within `cooldown_periods` of its last action:

1. down: nothing to move (its state died with it); reported.
2. failure-risk: evacuate: move every flow off the instance (the move guarantee of the
   YAML: loss-free / order-preserving) to the instance **predicted** safest
   (`prediction.hook.choose_destination` over the analyzer's latest risk score of every
   instance, `View.risk`): never one predicted to fail (score >= the failure_risk threshold,
   or a failure-risk alert standing) nor one not scored yet (its state is unknown), the
   lowest score first, then the least loaded; with none of those under half the overload
   pps, scale out. The instance keeps running without flows; one with no flow is left be.
3. overload: move half the instance's flows to the least-loaded live instance whose pps
   is under half the overload threshold and that is not predicted to fail; when there is none, scale out (start an instance
   on a free slot, up to max_instances) and move half there.
4. imbalance: move from the busiest to the idlest instance the share of flows that evens
   their pps, (hi − lo) / 2hi (not when the idlest is predicted to fail).
5. underload: with more than min_instances running, scale in: move every flow of the
   instance to the least-loaded other one not predicted to fail, then stop it.

Without a risk hook `View.risk` is empty, no failure-risk alert is ever raised, and the
other rules choose among all live instances, as before.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Protocol

from controller.orchestration.config import OrchestrationConfig
from controller.orchestration.monitor import Sample
from nfs.flows import FilterError, Flow
from prediction.hook import choose_destination

FlowTuple = tuple[str, str, int, int, int]  # an inside flow: (src, dst, proto, sport, dport)


@dataclass(frozen=True)
class Action:
    kind: str  # move | scale-out | scale-in
    instance: str  # move: the source; scale-out: the slot to start; scale-in: the instance to stop
    to: str = ""  # move, scale-out: where the flows go (for scale-out: the new instance)
    share: float = 0.0  # fraction of the instance's flows to move
    reason: str = ""
    # move: exactly these flows (a planner that chose them, DeepMigration); empty: `share` of
    # the instance's flows. scale-in: the flows the plan sends to `to` (the drain moves every
    # flow still there, so one that began after the plan is not stranded).
    flows: tuple[FlowTuple, ...] = ()

    def to_dict(self) -> dict:
        return asdict(self)

    def flow_dicts(self) -> list[dict]:
        """The exact flows as the southbound interface names them."""
        return [dict(zip(("src", "dst", "proto", "sport", "dport"), f, strict=True)) for f in self.flows]


def flow_tuple(d: dict) -> FlowTuple:
    """A flow of the southbound interface ({src, dst, proto, sport, dport}) as a tuple."""
    return (str(d["src"]), str(d["dst"]), int(d["proto"]), int(d["sport"]), int(d["dport"]))


@dataclass
class View:
    """What the planner sees: the standing alerts, each live instance's last sample,
    the free slots an instance can be started on."""

    period: int
    alerts: set[tuple[str, str]]  # (kind, instance)
    samples: dict[str, Sample]
    free_slots: list[str]
    config: OrchestrationConfig
    last_action: dict[str, int] = field(default_factory=dict)  # instance -> period
    # The predicted state: instance -> the risk hook's latest score (None: its window is not
    # full yet); empty without a hook (analyzer.Analyzer.scores).
    risk: dict[str, float | None] = field(default_factory=dict)

    def at_risk(self, name: str) -> bool:
        """Predicted to fail: its latest score at or over the threshold, or its alert standing
        (hysteresis: a score just under the threshold does not clear it)."""
        r = self.risk.get(name)
        return ("failure-risk", name) in self.alerts or (r is not None and r >= self.config.thresholds.risk)


class Planner(Protocol):
    def plan(self, view: View) -> list[Action]: ...


class Heuristic:
    def plan(self, view: View) -> list[Action]:
        cfg, th = view.config, view.config.thresholds
        live = {n: s for n, s in view.samples.items() if s.alive}
        cool = lambda n: view.period - view.last_action.get(n, -(10**9)) <= cfg.cooldown_periods
        busy: set[str] = set()  # instances an action of this period already touches
        free = list(view.free_slots)
        out: list[Action] = []
        limit = th.overload_pps or float("inf")

        def target(exclude: str, room: float) -> str | None:
            cands = [s for n, s in live.items()
                     if n != exclude and n not in busy and s.pps < room and not view.at_risk(n)]  # fmt: skip
            return min(cands, key=lambda s: (s.pps, s.instance)).instance if cands else None

        def safest(src: str, room: float) -> str | None:
            """The failing instance's destination from the predicted state of the others."""
            risk = {n: (None if view.at_risk(n) else view.risk.get(n)) for n in live if n not in busy}
            risk[src] = None
            pps = {n: s.pps for n, s in live.items()}
            return choose_destination(risk, pps, src, th.risk, room)

        def scale_out(src: str, share: float, reason: str) -> None:
            if free and len(live) + len([a for a in out if a.kind == "scale-out"]) < cfg.max_instances:
                slot = free.pop(0)
                out.append(Action("scale-out", slot, slot, 0.0, reason))
                out.append(Action("move", src, slot, share, reason))
                busy.update((src, slot))
            else:
                out.append(Action("none", src, "", 0.0, f"{reason}; no free slot or at max_instances"))

        for kind, inst in sorted(view.alerts):
            if kind == "down":
                out.append(Action("none", inst, "", 0.0, "down: its state is gone, nothing to move"))
        for kind in ("failure-risk", "overload"):
            for k, inst in sorted(view.alerts):
                if k != kind or inst not in live or inst in busy or cool(inst):
                    continue
                why = f"{kind} on {inst}"
                if kind == "failure-risk":
                    if live[inst].flows == 0 and live[inst].pps == 0:
                        out.append(Action("none", inst, "", 0.0, f"{why}: no flow to move"))
                        continue
                    share, dst = 1.0, safest(inst, limit * 0.5)
                    if dst is not None:
                        why += f"; {dst} predicted {view.risk[dst]:.2f}"
                else:
                    share, dst = 0.5, target(inst, limit * 0.5)
                if dst is None:
                    scale_out(inst, share, why)
                else:
                    out.append(Action("move", inst, dst, share, why))
                    busy.update((inst, dst))
        if ("imbalance", "*") in view.alerts and len(live) >= 2:
            hi = max(live.values(), key=lambda s: (s.pps, s.instance))
            lo = min(live.values(), key=lambda s: (s.pps, s.instance))
            ok = not ({hi.instance, lo.instance} & busy) and not view.at_risk(lo.instance)
            if ok and not cool(hi.instance) and hi.pps > 0:
                share = (hi.pps - lo.pps) / (2 * hi.pps)
                out.append(Action("move", hi.instance, lo.instance, round(share, 3), "imbalance"))
                busy.update((hi.instance, lo.instance))
        for k, inst in sorted(view.alerts):
            if k != "underload" or inst not in live or inst in busy or cool(inst):
                continue
            if len(live) - len([a for a in out if a.kind == "scale-in"]) <= cfg.min_instances:
                continue
            dst = target(inst, limit * 0.8)
            if dst is not None:
                out.append(Action("scale-in", inst, dst, 1.0, f"underload on {inst}"))
                busy.update((inst, dst))
        return out


def problem_of(view: View) -> dict:
    """The planner's inputs as plain data, the contract for a planner written as a function
    (the DeepMigration issue's `migration.plan(problem)`):

        {"period": 12,
         "alerts": [["overload", "a"], ...],              # standing (kind, instance)
         "instances": {"a": {<monitor.Sample fields>}, ...},  # live instances' last samples
         "free_slots": ["c"],
         "config": {"overload_pps": 400.0, ..., "min_instances": 1, "max_instances": 4, "period_s": 1.0},
         "last_action": {"a": 9},
         "risk": {"a": 0.91, "b": 0.12, "c": None}}       # the predicted state (View.risk)

    and it returns a list of {"kind": move|scale-out|scale-in|none, "instance", "to",
    "share", "reason", "flows"?} (planner.Action's fields; `flows`, a list of exact 5-tuples
    as {src, dst, proto, sport, dport} or [src, dst, proto, sport, dport], replaces the share)."""
    th = view.config.thresholds
    cfg = {**{k: getattr(th, k) for k in th.__dataclass_fields__},
           "min_instances": view.config.min_instances, "max_instances": view.config.max_instances,
           "cooldown_periods": view.config.cooldown_periods, "period_s": view.config.period_s}  # fmt: skip
    return {
        "period": view.period,
        "alerts": sorted([list(a) for a in view.alerts]),
        "instances": {n: s.to_dict() for n, s in view.samples.items() if s.alive},
        "free_slots": list(view.free_slots),
        "config": cfg,
        "last_action": dict(view.last_action),
        "risk": {n: r for n, r in view.risk.items() if n in view.samples and view.samples[n].alive},
    }


class FunctionPlanner:
    """A planner from a function `plan(problem) -> [action dicts]` (see problem_of). Its
    answer is checked: an action naming an unknown kind or instance is refused in one line
    (ValueError), before anything is executed."""

    def __init__(self, fn) -> None:
        self.fn = fn

    def plan(self, view: View) -> list[Action]:
        known = set(view.samples) | set(view.free_slots)
        out = []
        for k, a in enumerate(self.fn(problem_of(view)) or []):
            if not isinstance(a, dict) or a.get("kind") not in ("move", "scale-out", "scale-in", "none"):
                raise ValueError(f"planner action {k}: kind must be move, scale-out, scale-in or none: {a!r}")
            inst, to = str(a.get("instance", "")), str(a.get("to", ""))
            if inst not in known or (to and to not in known):
                raise ValueError(f"planner action {k}: names an instance or slot that does not exist: {a!r}")
            share = a.get("share", 0.0)
            if not isinstance(share, (int, float)) or not 0 <= share <= 1:
                raise ValueError(f"planner action {k}: share must be in [0, 1]: {a!r}")
            flows = a.get("flows") or []
            if not isinstance(flows, list):
                raise ValueError(f"planner action {k}: flows must be a list of 5-tuples: {a!r}")
            try:
                exact = tuple(flow_tuple(Flow.parse(_as_flow(f), f"planner action {k}: flows[{j}]").to_dict())
                              for j, f in enumerate(flows))  # fmt: skip
            except FilterError as e:
                raise ValueError(str(e)) from None
            out.append(Action(a["kind"], inst, to, float(share), str(a.get("reason", "planner")), exact))
        return out


def _as_flow(f: object) -> object:
    """[src, dst, proto, sport, dport] as a mapping; anything else is left for Flow.parse to name."""
    if isinstance(f, (list, tuple)) and len(f) == 5:
        return dict(zip(("src", "dst", "proto", "sport", "dport"), f, strict=True))
    return f
