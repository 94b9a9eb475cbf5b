"""How long the controller takes to apply a placement change over P4Runtime.

For the paper's fat-tree and k = 4, 8 fat-trees: one reference switch with its gRPC
server per switch (in this process, no data-plane ports), fabric.p4 and the underlay
installed, then a day's initial placement. Timed, in the same run:
- a no-op reconcile (the same placement again: every switch is read back, nothing
  written), the baseline; also with the switches read one after another
  (`Fabric.read_workers = 1`), against the concurrent reads the controller uses;
- a full change to the greedy agent's placement of the same step (writes, batches).
Run: `python -m tests.benchmarks.bench_controller` (part of `make bench`).
"""

from __future__ import annotations

import dataclasses
import json
import socket
import subprocess
import sys
import time

from rich.console import Console
from rich.table import Table

from controller.fabric.hosts import SREM as CLI
from controller.fabric.switches import Fabric, Pipeline
from controller.program.dayplan import placement_state
from controller.program.flows import plan_replay
from controller.program.underlay import fabric_entities
from emulation.mininet import free_ports
from p4rt.schema import P4InfoIndex
from p4target.compiler.driver import compile_p4
from p4target.runtime.server import serve
from p4target.switch.runner import Runner
from placement.agents import make_agent
from placement.model import scenario as sc
from placement.model.simulate import DayRun
from placement.model.workload import build_problem, build_topology
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


def measure(s: sc.Scenario, compiled, repeats: int = 3) -> dict[str, float]:
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
        # Reads one by one and all at once, alternated, the best of `repeats` each (a
        # shared machine's load comes and goes).
        noops: dict[int, list[float]] = {1: [], fabric.read_workers: []}
        for _ in range(repeats):
            for workers in noops:
                fabric.read_workers = workers
                t0 = time.perf_counter()
                noop = fabric.reconcile(desired(before))
                noops[workers].append(time.perf_counter() - t0)
                assert noop.writes == 0
        noop_seq_s, noop_s = min(noops[1]), min(noops[max(noops)])
        t0 = time.perf_counter()
        change = fabric.reconcile(desired(after))
        change_s = time.perf_counter() - t0
    finally:
        fabric.close()
        for server, service in servers:
            service.stop()
            server.stop(None)
    moved = int((before != after).sum())
    return {
        "deploy_s": deploy,
        "deploy_writes": first.writes,
        "noop_s": noop_s,
        "noop_sequential_s": noop_seq_s,
        "read_speedup": noop_seq_s / noop_s,
        "change_s": change_s,
        "change_writes": change.writes,
        "change_batches": change.batches,
        "instances_moved": moved,
        "ratio": change_s / noop_s,
    }


def switch_processes(fab) -> tuple[dict[str, tuple[str, int]], list[subprocess.Popen]]:
    """One `srem switch` process per switch (no data-plane port), as a deployed fabric has."""
    ports = free_ports(len(fab.switches))
    procs, addresses = [], {}
    for (name, sw), port in zip(sorted(fab.switches.items()), ports, strict=True):
        argv = [*CLI, "switch", "--device-id", str(sw.device_id), "--grpc-server-addr", f"127.0.0.1:{port}",
                "--log-level", "warning"]  # fmt: skip
        procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        addresses[name] = (f"127.0.0.1:{port}", sw.device_id)
    deadline = time.monotonic() + 300
    for addr, _ in addresses.values():
        port = int(addr.rsplit(":", 1)[1])
        while True:
            with socket.socket() as sk:
                if sk.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"switch on {addr} did not start")
            time.sleep(0.2)
    return addresses, procs


def measure_reads(s: sc.Scenario, compiled, repeats: int = 3) -> dict[str, float]:
    """No-op reconciles against switch processes: switches read one after another
    (`read_workers = 1`) against all at once, alternated, best of `repeats` each."""
    problem = build_problem(s)
    fab = plan(build_topology(s))
    day = problem.day("test", 0)
    flows = plan_replay(problem.sub.names, day.src, day.dst, day.rate, list(day.hours), fab).flows
    index = P4InfoIndex(compiled.p4info)
    st = placement_state(problem.sub, problem.cat.inst_type, day, flows, fab, index, day.initial)
    desired = {n: fabric_entities(fab, index, n) + st.switches[n] for n in fab.switches}
    addresses, procs = switch_processes(fab)
    fabric = Fabric(addresses, Pipeline(compiled.p4info, json.dumps(compiled.json).encode()))
    times: dict[int, list[float]] = {1: [], fabric.read_workers: []}
    try:
        fabric.reconcile(desired)
        for _ in range(repeats):
            for workers in times:
                fabric.read_workers = workers
                t0 = time.perf_counter()
                rep = fabric.reconcile(desired)
                times[workers].append(time.perf_counter() - t0)
                assert rep.writes == 0
    finally:
        fabric.close()
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
    seq, par = min(times[1]), min(times[max(times)])
    return {"switches": len(fab.switches), "sequential_s": seq, "concurrent_s": par, "speedup": seq / par}


def main() -> None:
    compiled = compile_p4("p4src/fabric.p4")
    # `python -m tests.benchmarks.bench_controller 2` measures only the first two fabrics.
    n = int(sys.argv[1]) if len(sys.argv) > 1 else None
    # k=8: a no-op reconcile is half a minute here, so two of each.
    rows = {name: measure(s, compiled, 3 if i < 2 else 2) for i, (name, s) in enumerate(scenarios()[:n])}
    t = Table(title="Placement change over P4Runtime (reference switches, loopback gRPC)")
    for h in ("fabric", "deploy (writes, s)", "no-op reconcile s", "no-op, reads one by one s",
              "full change (writes, batches, s)", "instances moved", "change / no-op"):  # fmt: skip
        t.add_column(h, justify="right")
    for name, r in rows.items():
        t.add_row(
            name,
            f"{r['deploy_writes']:,}, {r['deploy_s']:.2f}",
            f"{r['noop_s']:.3f}",
            f"{r['noop_sequential_s']:.3f} ({r['read_speedup']:.2f}x)",
            f"{r['change_writes']:,}, {r['change_batches']}, {r['change_s']:.3f}",
            str(r["instances_moved"]),
            f"{r['ratio']:.2f}",
        )
    Console().print(t)
    # What srem control meets: every switch its own process. k=8 (80 processes) is left
    # out: starting them takes minutes on two cores.
    reads = {name: measure_reads(s, compiled) for name, s in scenarios()[:2]}
    t = Table(title="No-op reconcile against one switch process per switch: reads one by one vs concurrent")
    for h in ("fabric", "switches read one by one s", "concurrently s", "speed-up"):
        t.add_column(h, justify="right")
    for name, r in reads.items():
        t.add_row(name, f"{r['sequential_s']:.3f}", f"{r['concurrent_s']:.3f}", f"{r['speedup']:.2f}x")
    Console().print(t)
    write_json({**rows, "switch processes": reads}, "results/bench/controller.json")


if __name__ == "__main__":
    main()
