"""The orchestration loop: every period, monitor → analyzer → planner → executors, and
every alert, plan and action written as one JSON line:

    {"t": 1765..., "period": 3, "type": "alert",  "kind": "overload", "instance": "a", ...}
    {"t": ..., "period": 3, "type": "plan",   "inputs": {alerts, samples}, "decision": [actions]}
    {"t": ..., "period": 3, "type": "action", "decision": {...}, "outcome": {...} | "error": "...",
     "duration_s": 0.031}

`summary()` counts them for results.json; `interval()` closes one placement interval (the
loop runs between the placement agent's boundaries) and gives what happened in it.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from controller.orchestration.analyzer import Analyzer
from controller.orchestration.config import OrchestrationConfig
from controller.orchestration.executors import ExecError, Executor
from controller.orchestration.monitor import Monitor
from controller.orchestration.planner import Heuristic, Planner, View


@dataclass
class Loop:
    config: OrchestrationConfig
    monitor: Monitor
    analyzer: Analyzer
    executor: Executor
    planner: Planner = field(default_factory=Heuristic)
    log: IO[str] | None = None
    period: int = 0
    last_action: dict[str, int] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)
    load: list[dict] = field(default_factory=list)  # per period: instance -> pps (the timeline)
    boundaries: list[dict] = field(default_factory=list)  # per interval: its first period, step, hour
    # The counts, the number of moves and of load rows at the last boundary.
    _mark: tuple[Counter, int, int] = field(default_factory=lambda: (Counter(), 0, 0))
    _resumed: bool = False

    def __post_init__(self) -> None:
        # The risk hook resamples the analyzer's window to its model's spacing: it needs the period.
        if self.analyzer.period_s is None:
            self.analyzer.period_s = self.config.period_s

    def write(self, rec: dict) -> None:
        rec = {"t": round(time.time(), 3), "period": self.period, **rec}
        dec = rec.get("decision")
        kind = rec.get("kind") or (dec.get("kind") if isinstance(dec, dict) else "")
        self.counts[f"{rec['type']}:{kind}" if kind else rec["type"]] += 1
        if self.log is not None:
            self.log.write(json.dumps(rec, separators=(",", ":"), default=str) + "\n")
            self.log.flush()

    def step(self) -> None:
        self.period += 1
        samples = self.monitor.poll()
        self.load.append({"period": self.period, **{s.instance: round(s.pps, 1) for s in samples}})
        for a in self.analyzer.update(samples):
            self.write({"type": "alert", **a.to_dict()})
        live = {s.instance: s for s in samples}
        view = View(self.period, self.analyzer.standing(), live, self.executor.pool.free(), self.config,
                    dict(self.last_action), dict(self.analyzer.scores))  # fmt: skip
        try:
            actions = list(self.planner.plan(view))
        except ValueError as e:  # a plugged-in planner's answer that cannot be executed
            self.write({"type": "plan", "inputs": {"alerts": sorted(view.alerts)}, "error": str(e)})
            return
        if not actions:
            return
        self.write({"type": "plan", "inputs": {"alerts": sorted(view.alerts),
                    "samples": {n: s.to_dict() for n, s in live.items()}},
                    "decision": [a.to_dict() for a in actions]})  # fmt: skip
        failed: set[str] = set()
        for act in actions:
            t0 = time.monotonic()
            rec = {"type": "action", "decision": act.to_dict()}
            if act.instance in failed:  # the scale-out this move needed did not happen
                self.write(
                    {**rec, "error": "skipped: an earlier action of this plan failed", "duration_s": 0}
                )
                continue
            try:
                out = self.executor.execute(act)
                rec["outcome"] = out
                if act.kind == "scale-out":
                    self.monitor.add(self.executor.pool.slots[act.instance].instance())
                if act.kind == "scale-in":
                    self.monitor.remove(act.instance)
                    self.analyzer.forget(act.instance)
            except ExecError as e:
                rec["error"] = str(e)
                failed.update((act.instance, act.to))
                for prior in actions:  # a failed move after a scale-out: stop the new instance
                    if prior.kind == "scale-out" and prior.instance == act.to and act.kind == "move":
                        self.executor.rollback(prior)
                        self.monitor.remove(prior.instance)
                        rec["rolled_back"] = f"scale-out of {prior.instance}"
            rec["duration_s"] = round(time.monotonic() - t0, 6)
            for n in (act.instance, act.to):
                if n:
                    self.last_action[n] = self.period
            self.write(rec)

    def resume(self) -> None:
        """Before periods that follow a pause (a placement boundary): one sample per
        instance resets the monitor's counters, so the first period's rates are not
        averaged over the pause."""
        self.monitor.poll()
        self._resumed = True

    def run(
        self,
        periods: int | None = None,
        stop: threading.Event | None = None,
        lock: threading.Lock | None = None,
    ) -> None:
        """Periods until `periods` in all or `stop`; each under `lock` (the controller's:
        a placement step and a period never write to the switches at once)."""
        stop = stop or threading.Event()
        nxt = time.monotonic()
        if self._resumed:
            self._resumed = False
            # After a pause the monitor was reset (resume): the first period is a whole one,
            # not the few milliseconds since, whose rate would be noise.
            nxt += self.config.period_s
            stop.wait(self.config.period_s)
        while not stop.is_set() and (periods is None or self.period < periods):
            with lock or contextlib.nullcontext():
                self.step()
            # A period that ran long (an instance starting) is not caught up with back-to-back
            # samples: the next one is a full period later.
            nxt = max(nxt + self.config.period_s, time.monotonic() + self.config.period_s / 2)
            stop.wait(max(0.0, nxt - time.monotonic()))

    def interval(self, step: int, hour: int) -> dict:
        """What the loop did since the previous boundary (alerts, plans, actions by kind;
        moves and their packets), and a boundary record in the log; the next interval
        starts here."""
        counts, first, first_load = self._mark
        moves = self.executor.moves[first:]
        out = {
            "step": step,
            "hour": hour,
            "periods": [self.boundaries[-1]["period"] + 1 if self.boundaries else 1, self.period],
            "records": {
                k: n - counts.get(k, 0) for k, n in sorted(self.counts.items()) if n - counts.get(k, 0)
            },
            "moves": len(moves),
            "moves_rolled_back": sum(m.rolled_back for m in moves),
            "flows_moved": sum(m.flows for m in moves if m.ok),
            "packets_held": sum(m.held_src + m.held_dst for m in moves),
            "hold_overflow": sum(m.overflow for m in moves),
            "late": sum(m.late for m in moves),
            "move_ms": [round(m.duration_s * 1000, 1) for m in moves],
            # When each move ran and which flows (source ports) it moved.
            "move_windows": [
                [round(m.started, 3), round(m.started + m.duration_s, 3), m.sports] for m in moves
            ],
            "instances": self.executor.pool.running(),
            "load": self.load[first_load:],
        }
        self._mark = (Counter(self.counts), len(self.executor.moves), len(self.load))
        self.boundaries.append({"period": self.period, "step": step, "hour": hour})
        self.write({"type": "interval", "step": step, "hour": hour, "outcome": {k: out[k] for k in
                    ("records", "moves", "flows_moved", "packets_held", "instances")}})  # fmt: skip
        return out

    def summary(self) -> dict:
        moves = self.executor.moves
        return {
            "periods": self.period,
            "records": dict(sorted(self.counts.items())),
            "moves": len(moves),
            "moves_rolled_back": sum(m.rolled_back for m in moves),
            "flows_moved": sum(m.flows for m in moves if m.ok),
            "packets_held": sum(m.held_src + m.held_dst for m in moves),
            "hold_overflow": sum(m.overflow for m in moves),
            "late": sum(m.late for m in moves),
            "load": self.load,
            "boundaries": self.boundaries,
        }


def timeline_plot(summary: dict, log: Path, out: Path, title: str = "") -> None:
    """Per-instance load per period with the alerts and actions marked (beside day.png);
    dotted lines at the placement boundaries that end each interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.5))
    names = sorted({k for row in summary["load"] for k in row if k != "period"})
    for n in names:
        ax.plot(
            [r["period"] for r in summary["load"]], [r.get(n, float("nan")) for r in summary["load"]], label=n
        )
    start = 0.5
    for b in summary.get("boundaries", []):
        # Each interval's step (hour) is written at its start; the dotted line ends it.
        ax.axvline(b["period"] + 0.5, color="grey", linestyle=":", linewidth=0.8)
        ax.annotate(f"{b['hour']:02d}:00", (start, 1), xycoords=("data", "axes fraction"),
                    fontsize=7, ha="left", va="top", color="grey")  # fmt: skip
        start = b["period"] + 0.5
    for key, style in (("overload_pps", "--"), ("underload_pps", ":")):
        v = summary.get("thresholds", {}).get(key)
        if v is not None:
            ax.axhline(v, color="tab:red", linestyle=style, linewidth=0.7, alpha=0.6)
            ax.annotate(key.split("_")[0], (1, v), xycoords=("axes fraction", "data"), fontsize=6,
                        ha="right", va="bottom", color="tab:red")  # fmt: skip
    marks = {"alert": ("|", "tab:red"), "action": ("v", "k")}
    for line in log.read_text().splitlines():
        rec = json.loads(line)
        if rec["type"] in marks:
            m, c = marks[rec["type"]]
            ax.plot([rec["period"]], [0], marker=m, color=c, markersize=10, linestyle="")
            label = rec.get("kind") if rec["type"] == "alert" else rec["decision"]["kind"]
            if rec["type"] == "alert" and rec.get("state") == "cleared":
                continue  # the marker says it; a label would crowd the raised ones
            if rec["type"] == "alert":
                label = f"{label} {rec.get('instance', '')}"
            elif "error" in rec:
                label = f"{label} failed"
            ax.annotate(f"{label}", (rec["period"], 0), rotation=90, fontsize=6, va="bottom")
    ax.set_xlabel("monitoring period")
    ax.set_ylabel("packets/s per instance")
    ax.legend(fontsize=7, loc="center left")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
