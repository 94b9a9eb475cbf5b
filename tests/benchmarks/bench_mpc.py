"""`python -m tests.benchmarks.bench_mpc`: the step-model search, serial against batched
(issue 21), for `mpc`, `mpc-forecast` and `gnn-refine` on the paper's tree, a k=4 and a
k=8 fat-tree, one thread, as ratios in the same run.

Every agent decides the same steps of test day 0 (the run follows `mpc`'s placements).
At each step each agent first decides once untimed (so that both searches find the
substrate's paths already enumerated), then serially (`batched=False`, the search as
it was) and batched, timed; the two answers must be equal (the `same` column). Each
timing is the least of `BENCH_MPC_REPEAT` (default 2; 1 on k=8) runs of the same
decision (the machine is shared: the least is the one least preempted), and the table
gives the median over the steps. `BENCH_MPC_STEPS` sets the steps per scenario (default:
the whole day, 2 on k=8), `BENCH_MPC_K8=0` leaves k=8 out (its serial `mpc-forecast` takes
~10-15 s a step).
The load average is printed beside every table: the machine is shared.

`python -m tests.benchmarks.bench_mpc profile` prints instead where the time of one
decision goes (cProfile, the functions of most own time), serial and batched, per
agent and scenario (`docs/agent21/profile.md`).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import cProfile
import dataclasses
import io
import json
import pstats
import sys
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from placement.agents import agent_or_error
from placement.model.simulate import DayRun
from placement.model.workload import build_problem
from tests.benchmarks.bench_agents import scenarios

AGENTS = ("mpc", "mpc-forecast", "gnn-refine")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def profile(steps: int = 2, top: int = 8) -> None:
    """Where `steps` decisions of each agent spend their time, serial and batched."""
    torch.set_num_threads(1)
    for label, s in scenarios().items():
        problem = build_problem(s)
        run = DayRun(problem, problem.day("test", 0))
        for n in AGENTS:
            fast = agent_or_error(n, problem, 0, 30.0)
            fast.decide(run)  # warm: paths enumerated
            for agent in (dataclasses.replace(fast, batched=False), fast):
                pr = cProfile.Profile()
                t0 = time.perf_counter()
                pr.enable()
                for _ in range(steps):
                    agent.decide(run)
                pr.disable()
                ms = 1000 * (time.perf_counter() - t0) / steps
                out = io.StringIO()
                pstats.Stats(pr, stream=out).sort_stats("tottime").print_stats(top)
                text = out.getvalue().splitlines()
                body = [
                    ln for ln in text[next(j for j, ln in enumerate(text) if "ncalls" in ln) :] if ln.strip()
                ]
                mode = "batched" if agent.batched else "serial"
                print(f"\n### {label}, {n}, {mode}: {ms:.0f} ms a decision (profiled), load {load()}\n")
                print("```\n" + "\n".join(ln.replace("/work/main/.venv/lib/python3.11/site-packages/", "")
                      for ln in body) + "\n```")  # fmt: skip


def main() -> None:
    if sys.argv[1:] == ["profile"]:
        return profile()
    torch.set_num_threads(1)
    console = Console()
    out: dict = {}
    for label, s in scenarios().items():
        if label == "fattree-k8" and os.environ.get("BENCH_MPC_K8", "1") == "0":
            continue
        problem = build_problem(s)
        run = DayRun(problem, problem.day("test", 0))
        k8 = label == "fattree-k8"
        steps = int(os.environ.get("BENCH_MPC_STEPS", "2" if k8 else "99"))
        repeat = int(os.environ.get("BENCH_MPC_REPEAT", "1" if k8 else "2"))
        fast = {n: agent_or_error(n, problem, 0, 30.0) for n in AGENTS}
        slow = {n: dataclasses.replace(a, batched=False) for n, a in fast.items()}
        times = {n: {"serial": [], "batched": []} for n in AGENTS}
        same = dict.fromkeys(AGENTS, True)
        before = load()
        for _ in range(min(steps, run.day.n_steps)):
            for n in AGENTS:
                fast[n].decide(run)  # warm: paths enumerated
                best = {"serial": np.inf, "batched": np.inf}
                for _ in range(repeat):
                    for mode, agent in (("serial", slow[n]), ("batched", fast[n])):
                        t0 = time.perf_counter()
                        got = agent.decide(run)
                        best[mode] = min(best[mode], time.perf_counter() - t0)
                        if mode == "serial":
                            a = got
                        else:
                            same[n] &= bool(np.array_equal(a, got))
                for mode, secs in best.items():
                    times[n][mode].append(secs)
            run.apply(fast["mpc"].decide(run))
        t = Table(
            title=f"{label}: {problem.sub.n_hosts} hosts, {problem.cat.n_instances} instances, "
            f"{problem.day('test', 0).n_chains} chains; decision ms, median of {len(times['mpc']['serial'])} "
            f"steps, least of {repeat} runs each (load average {before} -> {load()})"
        )
        for h in ("agent", "serial ms", "batched ms", "speed-up", "same decisions"):
            t.add_column(h, justify="right")
        rows = {}
        for n in AGENTS:
            ser, bat = (float(np.median(times[n][k])) for k in ("serial", "batched"))
            rows[n] = {
                "serial_ms": 1000 * ser,
                "batched_ms": 1000 * bat,
                "speedup": ser / bat,
                "same": same[n],
            }
            t.add_row(
                n, f"{1000 * ser:.1f}", f"{1000 * bat:.1f}", f"{ser / bat:.2f}×", "yes" if same[n] else "NO"
            )
        console.print(t)
        out[label] = {"load_average": [before, load()], "agents": rows}
    path = Path("results/bench/mpc.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2))
    md = Path(os.environ.get("BENCH_MPC_MD", "results/bench/mpc.md"))
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text(markdown(out))
    console.print(f"wrote {path} and {md}")


def markdown(out: dict) -> str:
    lines = [
        "| scenario | agent | serial ms | batched ms | speed-up | same decisions | load average (1, 5, 15 min) |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, res in out.items():
        for n, r in res["agents"].items():
            lines.append(
                f"| {label} | {n} | {r['serial_ms']:.1f} | {r['batched_ms']:.1f} | {r['speedup']:.2f}× | "
                f"{'yes' if r['same'] else 'NO'} | {res['load_average'][0]} → {res['load_average'][1]} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
