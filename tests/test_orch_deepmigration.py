"""The orchestration loop with the DeepMigration planner on real packets (issue 18 part 5).

One srem switch process running fabric.p4 on veths, NAT instances as real `srem nf-host
--control` processes on server slots a and b, and UDP flows of unequal rates (one flow four
times, one twice the others': 240, 120 and 4 × 60 packets/s at 600 in all) on instance a.
The overload alert (400 packets/s) makes the planner read every flow's rate from the NF
hosts, run the policy, start b and move exact flows there; when the traffic drops to 20
packets/s the underloaded instance is drained and stopped. Nothing is lost or reordered
within a flow, and every flow keeps its mapping.

`python -m tests.test_orch_deepmigration` (root) runs the same loop and writes its decisions
and the per-instance load they led to into docs/migration/loop-run.md.
"""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path

import pytest

from controller.orchestration.analyzer import Analyzer
from controller.orchestration.config import parse
from controller.orchestration.deepmigration import DeepMigration
from controller.orchestration.executors import Executor, Pool, Slot
from controller.orchestration.loop import Loop
from controller.orchestration.monitor import Monitor
from tests.orch_fabric import NAT, POOL, SPI, SRV, Traffic, one_switch

CONFIG = {
    "period_s": 0.5,
    "planner": "deepmigration",
    "thresholds": {
        "overload": {"pps": 400, "cpu_pct": None, "queue": None},
        "underload": {"pps": 30},
        "imbalance": {"ratio": None},
        "hysteresis": {"raise_after": 2, "clear_after": 2, "margin": 0.1},
    },
    "elasticity": {"min_instances": 1, "max_instances": 2, "cooldown_periods": 2},
}
# Six UDP flows by source port; the sender takes turns over this list, so a port listed k
# times carries k/10 of the traffic.
PORTS = [3000] * 4 + [3001] * 2 + [3002, 3003, 3004, 3005]
WITHIN = 6  # periods from the overload alert to both instances under the threshold
HIGH, LOW = 12, 12  # periods at 600 packets/s, then at 20


def run_loop(tmp: Path, high: int = HIGH, low: int = LOW):
    """The loop over slots a, b with DeepMigration; returns (records, loop, planner, traffic, running)."""
    with one_switch(tmp, hosts=()) as (ns, _tmp, _c, _inst, steering):
        enter = ("ip", "netns", "exec", ns)
        slots = {n: Slot(n, enter, f"srv{n}", SRV[n], SPI[n], {**NAT, "ports": POOL[n]}, workdir=str(tmp))
                 for n in ("a", "b")}  # fmt: skip
        pool = Pool(slots)
        cfg = parse(CONFIG)
        log = io.StringIO()
        monitor = Monitor([pool.start("a")])
        planner = DeepMigration(cfg, monitor.instances)
        executor = Executor(pool, steering, cfg.guarantee)
        loop = Loop(cfg, monitor, Analyzer(cfg.thresholds), executor, planner=planner, log=log)
        try:
            with Traffic(ns, PORTS, rate=600) as tr:
                loop.run(periods=high)
                tr.rate = 20
                loop.run(periods=high + low)
            running = pool.running()
        finally:
            pool.close()
    return [json.loads(x) for x in log.getvalue().splitlines()], loop, planner, tr, running


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    return run_loop(tmp_path_factory.mktemp("dmloop"))


def test_deepmigration_brings_the_overloaded_instance_under_its_threshold_with_nothing_lost(ran):
    recs, loop, planner, tr, running = ran
    acts = [r for r in recs if r["type"] == "action"]
    assert all("error" not in a for a in acts), acts
    over = next(
        r for r in recs if r["type"] == "alert" and r["kind"] == "overload" and r["state"] == "raised"
    )
    first = [a for a in acts if a["period"] <= over["period"] + WITHIN]
    kinds = [(a["decision"]["kind"], a["decision"]["instance"], a["decision"]["to"]) for a in first]
    assert kinds[0] == ("scale-out", "b", "b") and kinds[1][:2] == ("move", "a"), kinds
    for a in first[1:]:  # exact flows, each moved as planned
        d = a["decision"]
        assert d["reason"].startswith("deepmigration scale-out"), d
        assert d["flows"] and a["outcome"]["move"]["flows"] == len(d["flows"]), a
    under = [r for r in loop.load if over["period"] < r["period"] <= over["period"] + WITHIN and r.get("b")]
    assert any(r["a"] < 400 and r["b"] < 400 for r in under), loop.load
    dm = [h for h in planner.history if h["planner"] == "deepmigration"]
    assert dm and dm[0]["scenario"] == "scale-out" and dm[0]["flows"] == 6, planner.history
    # Later, at 20 packets/s: one instance drained (exact flows) and stopped.
    ins = [a for a in acts if a["decision"]["kind"] == "scale-in"]
    assert len(ins) == 1 and running == [ins[0]["decision"]["to"]], (ins, running)
    assert ins[0]["decision"]["reason"].startswith("deepmigration scale-in")
    # Nothing lost, nothing reordered within a flow, one mapping per flow throughout.
    assert sorted(g[2] for g in tr.got) == list(range(tr.sent)), (tr.sent, len(tr.got))
    for port in sorted(set(PORTS)):
        mine = [g for g in tr.got if PORTS[g[3]] == port]
        assert [g[2] for g in mine] == sorted(g[2] for g in mine), port
        assert len({g[1] for g in mine}) == 1, (port, {g[1] for g in mine})
    s = loop.summary()
    assert s["moves_rolled_back"] == 0 and s["hold_overflow"] == 0 and s["late"] == 0, s


def table(recs: list[dict], loop: Loop, planner: DeepMigration) -> str:
    """The plans, their actions, and the measured load in the periods around each."""
    plans = [h for h in planner.history if h["planner"] == "deepmigration"]
    acts = [r for r in recs if r["type"] == "action"]
    lines = ["| period | scenario | planned load, pps | decision | flows moved (sport) | measured load after, pps "
             "(next 4 periods) | decision ms |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for h in plans:
        mine = [a for a in acts if a["period"] == h["period"]]
        if not mine:
            continue
        reason = mine[0]["decision"]["reason"].split(": pps ")[1]
        dec = "; ".join(f"{a['decision']['kind']} {a['decision']['instance']}"
                        + (f"→{a['decision']['to']}" if a["decision"]["kind"] != "scale-out" else "") for a in mine)  # fmt: skip
        moved = "; ".join(
            ", ".join(str(f[3]) for f in a["decision"]["flows"]) for a in mine if a["decision"]["flows"]
        )
        after = [r for r in loop.load if h["period"] < r["period"] <= h["period"] + 4]
        meas = " / ".join(", ".join(f"{k} {v:.0f}" for k, v in r.items() if k != "period") for r in after)
        lines.append(f"| {h['period']} | {h['scenario']} | {reason} | {dec} | {moved} | {meas} | {h['ms']} |")
    return "\n".join(lines)


def main(out: Path = Path("docs/migration/loop-run.md")) -> None:
    import os
    import tempfile

    import torch

    torch.set_num_threads(1)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dmloop-") as d:
        recs, loop, planner, tr, running = run_loop(Path(d))
    lost = tr.sent - len({g[2] for g in tr.got})
    reordered = sum(
        1
        for port in set(PORTS)
        for a, b in zip(
            [g for g in tr.got if PORTS[g[3]] == port],
            [g for g in tr.got if PORTS[g[3]] == port][1:],
            strict=False,
        )
        if b[2] < a[2]
    )
    mappings = {port: len({g[1] for g in tr.got if PORTS[g[3]] == port}) for port in set(PORTS)}
    s = loop.summary()
    body = (
        "# DeepMigration in the orchestration loop: one run\n\n"
        f"`python -m tests.test_orch_deepmigration` (root): {time.monotonic() - t0:.0f} s, load average "
        f"{os.getloadavg()[0]:.1f} at the end. Six UDP flows through a NAT instance on slot a "
        "(240, 120 and 4 × 60 packets/s by source port 3000, 3001, 3002–3005) for "
        f"{HIGH} periods of 0.5 s, then 20 packets/s for {LOW}; overload at 400 packets/s (clears "
        "below 360; the planner fills instances up to 353), underload at 30; order-preserving moves.\n\n"
        + table(recs, loop, planner)
        + f"\n\nPackets sent {tr.sent}, lost {lost}, reordered within a flow {reordered}; mappings per flow "
        f"{sorted(mappings.values())}; moves {s['moves']} ({s['flows_moved']} flows, {s['packets_held']} packets "
        f"held, overflow {s['hold_overflow']}, late {s['late']}, rolled back {s['moves_rolled_back']}); "
        f"instances left running: {', '.join(running)}.\n\nPer-period load (pps): "
        + "; ".join(
            f"{r['period']}: " + ", ".join(f"{k} {v:.0f}" for k, v in r.items() if k != "period")
            for r in loop.load
        )
        + "\n"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body)
    print(body)


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:2]))
