"""How long the controller takes to apply a placement change over P4Runtime.

For the paper's fat-tree and k = 4, 8 fat-trees: one reference switch with its gRPC
server per switch (in this process, no data-plane ports), fabric.p4 and the underlay
installed, then a day's initial placement. Timed, in the same run:
- a no-op reconcile (the same placement again: every switch is read back, nothing
  written), the baseline;
- a full change to the greedy agent's placement of the same step (writes, batches).
Run: `python -m tests.benchmarks.bench_controller` (part of `make bench`).
"""

from __future__ import annotations

import dataclasses
import json
import time

from rich.console import Console
from rich.table import Table

from controller.dayplan import placement_state
from controller.fabric import Fabric, Pipeline
from controller.p4rt import P4InfoIndex
from controller.replay import plan_replay
from controller.underlay import fabric_entities
from p4target.compiler.driver import compile_p4
from p4target.runtime.server import serve
from p4target.switch.runner import Runner
from placement import scenario as sc
from placement.agents import make_agent
from placement.simulate import DayRun
from placement.workload import build_problem, build_topology
from topologies.addressing import plan

from .report import write_json


def scenarios() -> list[tuple[str, sc.Scenario]]:
    paper = sc.default()
    k4 = dataclasses.replace(paper, topology=dataclasses.replace(paper.topology, builder="fattree", k=4))
    return [
        ("paper (10 switches)", paper),
        ("k=4 (20 switches)", k4),
        ("k=8 (80 switches)", sc.load("fattree-k8")),
    ]


def measure(s: sc.Scenario, compiled) -> dict[str, float]:
    problem = build_problem(s)
    fab = plan(build_topology(s))
    day = problem.day("test", 0)
    flows = plan_replay(problem.sub.names, day.src, day.dst, day.rate, list(day.hours), fab).flows
    index = P4InfoIndex(compiled.p4info)
    run = DayRun(problem, day)
    before = run.placement.copy()
    after = make_agent("greedy", problem).decide(run)

    def desired(placement) -> dict:
        st = placement_state(problem.sub, problem.cat.inst_type, day, flows, fab, index, placement)
        return {n: fabric_entities(fab, index, n) + st.switches[n] for n in fab.switches}

    servers = []
    addresses = {}
    for name, sw in fab.switches.items():
        server, service, port = serve(Runner(sw.device_id), "127.0.0.1:0")
        servers.append((server, service))
        addresses[name] = (f"127.0.0.1:{port}", sw.device_id)
    fabric = Fabric(addresses, Pipeline(compiled.p4info, json.dumps(compiled.json).encode()))
    try:
        t0 = time.perf_counter()
        first = fabric.reconcile(desired(before))
        deploy = time.perf_counter() - t0
        t0 = time.perf_counter()
        noop = fabric.reconcile(desired(before))
        noop_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        change = fabric.reconcile(desired(after))
        change_s = time.perf_counter() - t0
    finally:
        fabric.close()
        for server, service in servers:
            service.stop()
            server.stop(None)
    assert noop.writes == 0
    moved = int((before != after).sum())
    return {
        "deploy_s": deploy,
        "deploy_writes": first.writes,
        "noop_s": noop_s,
        "change_s": change_s,
        "change_writes": change.writes,
        "change_batches": change.batches,
        "instances_moved": moved,
        "ratio": change_s / noop_s,
    }


def main() -> None:
    compiled = compile_p4("p4src/fabric.p4")
    rows = {name: measure(s, compiled) for name, s in scenarios()}
    t = Table(title="Placement change over P4Runtime (reference switches, loopback gRPC)")
    for h in ("fabric", "deploy (writes, s)", "no-op reconcile s", "full change (writes, batches, s)",
              "instances moved", "change / no-op"):  # fmt: skip
        t.add_column(h, justify="right")
    for name, r in rows.items():
        t.add_row(
            name,
            f"{r['deploy_writes']:,}, {r['deploy_s']:.2f}",
            f"{r['noop_s']:.3f}",
            f"{r['change_writes']:,}, {r['change_batches']}, {r['change_s']:.3f}",
            str(r["instances_moved"]),
            f"{r['ratio']:.2f}",
        )
    Console().print(t)
    write_json(rows, "results/bench/controller.json")


if __name__ == "__main__":
    main()
