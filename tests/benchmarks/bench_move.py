"""How long a move of flows with their state takes, and how many packets it holds, against
the number of flows moved (1, 100, 1,000, 10,000), for loss-free and order-preserving
moves between two server instances of the stateful NAT, as ratios to a plain re-route of
as many flows without state (the same P4Runtime steering writes, nothing else) in the
same run.

The fabric is tests/orch_fabric.py's: one srem switch process (fabric.p4) on veths of a
namespace, two `srem nf-host --control` processes. One live flow at 600 packets/s is
among the moved flows, so that moves hold packets; the other flows' state is put at the
source beforehand. Moves alternate direction (A→B, B→A). The live flow's packets are
checked at the end: lost, duplicated and reordered counts.

Run (root): `python -m tests.benchmarks.bench_move [--repeats 3] [--sizes 1,100,1000,10000]`.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from controller.orchestration.move import move, wire_flows
from nfs.control import ControlClient
from p4rt.errors import P4RuntimeError
from tests.orch_fabric import Traffic, one_switch

from .report import write_json

LIVE_SPORT = 5000


def synthetic(n: int) -> list[dict]:
    """n flows' NAT state, not carrying traffic (ports outside both instances' pools)."""
    return [
        {"flow": {"src": f"10.0.1.{2 + k // 20000}", "dst": "10.0.2.2", "proto": 17, "sport": 10000 + k % 20000,
                  "dport": 9001}, "nat": {"src": "198.51.100.1", "sport": 20000 + k}}
        for k in range(n)
    ]  # fmt: skip


def mean_se(xs: list[float]) -> tuple[float, float]:
    m = statistics.fmean(xs)
    return m, (statistics.stdev(xs) / len(xs) ** 0.5 if len(xs) > 1 else 0.0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sizes", default="1,100,1000,10000")
    ap.add_argument("--out", default="results/bench/move.json")
    ap.add_argument("--table", nargs="*", help="Only print the markdown table of these JSON results.")
    args = ap.parse_args()
    if args.table:
        import json

        rows = {k: v for f in args.table for k, v in json.loads(Path(f).read_text())["rows"].items()}
        print(markdown(rows))
        return
    if os.geteuid() != 0 or shutil.which("ip") is None:
        print("bench_move: skipped (it builds veths in a network namespace: needs root and iproute2)")
        return
    sizes = [int(x) for x in args.sizes.split(",")]
    console = Console()
    rows: dict[str, dict] = {}
    windows: list[tuple[str, int, int]] = []  # (row, first and last live sequence number sent during it)
    t_start = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, one_switch(Path(tmp)) as (ns, _t, _c, inst, steering):

        def call(name: str, op: str, **args) -> dict:  # a connection per call: the host closes idle ones
            c = ControlClient(inst[name].control, 120.0)
            try:
                return c.call(op, **args)
            finally:
                c.close()

        with Traffic(ns, [LIVE_SPORT], rate=600) as tr:
            time.sleep(1.0)  # the live flow's mapping is made at A
            where = "a"
            for n in sizes:
                extra = synthetic(n - 1)
                if extra:
                    call(where, "put", nf=7, records=extra)
                wire = wire_flows("snat", synthetic(n))  # as many entries as the move writes (2 per flow)
                base, dur, held, late = [], {"loss-free": [], "order-preserving": []}, {}, {}
                rolled: dict[str, int] = {}
                refused = ""
                for _ in range(args.repeats):
                    # the baseline: the same number of steering entries written, no state, no holds
                    there = inst["b" if where == "a" else "a"]
                    t0, k0 = time.perf_counter(), tr.sent
                    snap = steering.snapshot(wire)
                    try:
                        steering.steer(wire, there.spi)
                        base.append(time.perf_counter() - t0)
                    except P4RuntimeError as e:  # more entries than the classifier holds
                        base.append(time.perf_counter() - t0)
                        refused = str(e).split("; ")[0]
                    steering.restore(snap)
                    windows.append((f"{n} re-route", k0, tr.sent))
                    for g in ("loss-free", "order-preserving"):
                        src, dst = inst[where], inst["b" if where == "a" else "a"]
                        k0 = tr.sent
                        r = move({"src": "10.0.1.0/24"}, src, dst, g, steering, timeout_s=120.0)
                        windows.append((f"{n} {g}", k0, tr.sent))
                        assert r.flows == n, (r.flows, n)
                        dur[g].append(r.duration_s)
                        held.setdefault(g, []).append(r.held_src + r.held_dst)
                        late.setdefault(g, []).append(r.late + r.overflow)
                        if r.ok:
                            where = "b" if where == "a" else "a"
                        else:  # rolled back: the flows stay where they were
                            refused = refused or r.error
                            rolled[g] = rolled.get(g, 0) + 1
                bm, bse = mean_se(base)
                rows[f"{n} re-route"] = {"flows": n, "ms": bm * 1e3, "se_ms": bse * 1e3, "ratio": 1.0}
                if refused:
                    rows[f"{n} re-route"]["refused"] = refused
                for g in dur:
                    m, se = mean_se(dur[g])
                    rows[f"{n} {g}"] = {"flows": n, "ms": m * 1e3, "se_ms": se * 1e3, "ratio": m / bm,
                                        "held": statistics.fmean(held[g]), "late_or_overflow": sum(late[g]),
                                        "rolled_back": rolled.get(g, 0)}  # fmt: skip
                console.print(f"{n} flows done ({time.monotonic() - t_start:.0f} s)")
                if extra:
                    call(where, "forget", nf=7, flows=[r["flow"] for r in extra])
                steering.unsteer(wire)
    seqs = [g[2] for g in tr.got]
    lost = tr.sent - len(set(seqs))
    dup = len(seqs) - len(set(seqs))
    reordered = sum(1 for x, y in itertools.pairwise(seqs) if y < x)
    mappings = len({g[1] for g in tr.got})
    # Which step each lost or reordered live packet belongs to: the last one that began before it was sent.
    missing = set(range(tr.sent)) - set(seqs)
    late_k = {y for x, y in itertools.pairwise(seqs) if y < x}
    for name, _k0, _k1 in windows:
        rows[name].setdefault("live_lost", 0)
        rows[name].setdefault("live_reordered", 0)
    starts = sorted((k0, name) for name, k0, _k1 in windows)
    for key, ks in (("live_lost", missing), ("live_reordered", late_k)):
        for k in ks:
            owner = [name for k0, name in starts if k0 <= k]
            if owner:
                rows[owner[-1]][key] += 1
    console = Console(width=140)
    t = Table(title=f"Moves of NAT flows between two server instances ({args.repeats} repeats, mean ± SE)")
    for h in (
        "flows",
        "what",
        "ms",
        "ratio to re-route",
        "packets held",
        "late+overflow",
        "live lost",
        "reordered",
    ):
        t.add_column(h, justify="right")
    for name, r in rows.items():
        t.add_row(str(r["flows"]), name.split(" ", 1)[1], f"{r['ms']:.1f} ± {r['se_ms']:.1f}", f"{r['ratio']:.1f}",
                  f"{r['held']:.1f}" if "held" in r else "", str(r.get("late_or_overflow", "")),
                  str(r.get("rolled_back", "")),
                  str(r.get("live_lost", 0)), str(r.get("live_reordered", 0)))  # fmt: skip
    console.print(t)
    for name, r in rows.items():
        if r.get("refused"):
            console.print(f"{name}: {r['refused']}")
    live = {"sent": tr.sent, "lost": lost, "duplicated": dup, "reordered": reordered, "mappings": mappings}
    console.print(
        f"live flow at 600 packets/s through every move: {live}; {time.monotonic() - t_start:.0f} s"
    )
    write_json({"rows": rows, "live_flow": live, "seconds": round(time.monotonic() - t_start)}, args.out)
    print(markdown(rows))


def markdown(rows: dict[str, dict]) -> str:
    """The table of docs/orchestration.md (python -m tests.benchmarks.bench_move --table FILE...)."""
    out = [
        "| flows | what | ms (mean ± SE) | ratio to re-route | packets held | late + overflow | rolled back "
        "| live lost | live reordered |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for k, r in rows.items():
        held = f"{r['held']:,.0f}" if "held" in r else ""
        out.append(
            f"| {r['flows']:,} | {k.split(' ', 1)[1]} | {r['ms']:,.0f} ± {r['se_ms']:,.0f} | {r['ratio']:.1f} | {held} "
            f"| {r.get('late_or_overflow', '')} | {r.get('rolled_back', '')} | {r.get('live_lost', 0):,} "
            f"| {r.get('live_reordered', 0):,} |"
        )
    return "\n".join(out)


if __name__ == "__main__":
    main()
