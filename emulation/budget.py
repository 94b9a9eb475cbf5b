"""How far a switch target carries the emulated day: `srem run --emulate` at several packet
budgets on each target, summarised as one table (docs/bmv2.md's figures).

    python -m emulation.budget --targets srem,simple_switch_grpc --budgets 300,600 --out docs/bmv2

Each run is a separate `srem run --emulate` (root, Mininet), one after the other; the table
(`budget.md`, and `budget.json` with every run's steps) says per target and budget the
packets sent and lost over the day, the worst step's loss, p50/p99 latency and the READs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from controller.fabric.hosts import SREM


def summary(rows: list[dict]) -> dict:
    """A day's figures from `srem run --emulate`'s results.json steps."""
    sent = sum(r["sent"] for r in rows)
    lost = sum(r["lost"] for r in rows)
    last = rows[-1]["rdma"] if rows else {}
    p50 = [r["latency_p50_us"] for r in rows if r["delivered"]]
    p99 = [r["latency_p99_us"] for r in rows if r["delivered"]]
    return {
        "sent": sent,
        "lost": lost,
        "worst_step_loss": max((r["lost"] / r["sent"] for r in rows if r["sent"]), default=0.0),
        "p50_ms": (min(p50) / 1e3, max(p50) / 1e3) if p50 else None,
        "p99_ms": (min(p99) / 1e3, max(p99) / 1e3) if p99 else None,
        "reads": int(last.get("read", 0)),
        "answered": int(last.get("resp_ok", 0)),
        "fallbacks": int(last.get("fallback", 0)),
        "apply_s": (min(r["apply_s"] for r in rows), max(r["apply_s"] for r in rows)) if rows else None,
    }


def table(results: dict[tuple[str, float], dict]) -> str:
    lines = [
        "| target | packets/s (busiest step) | sent | lost | worst step | p50 ms | worst-chain p99 ms | READs (answered, fallbacks) | apply s |",
        "| --- | ---: | ---: | ---: | ---: | --- | --- | --- | --- |",
    ]  # fmt: skip
    for (target, pps), s in sorted(results.items()):
        p50 = "{:.1f}–{:.1f}".format(*s["p50_ms"]) if s["p50_ms"] else "–"
        p99 = "{:.0f}–{:.0f}".format(*s["p99_ms"]) if s["p99_ms"] else "–"
        ap = "{:.1f}–{:.1f}".format(*s["apply_s"]) if s["apply_s"] else "–"
        lines.append(
            f"| {target} | {pps:g} | {s['sent']:,} | {s['lost']:,} | {100 * s['worst_step_loss']:.1f} % | {p50} | "
            f"{p99} | {s['reads']} ({s['answered']}, {s['fallbacks']}) | {ap} |"
        )
    return "\n".join(lines) + "\n"


def main(
    targets: Annotated[str, typer.Option(help="Comma-separated targets.")] = "srem,simple_switch_grpc",
    budgets: Annotated[str, typer.Option(help="Comma-separated packet budgets (packets/s).")] = "300,600",
    seconds_per_step: Annotated[float, typer.Option(help="Seconds each 2-h step is played.")] = 4.0,
    out: Annotated[Path, typer.Option(help="budget.md and budget.json go here.")] = Path("docs/bmv2"),
    runs_dir: Annotated[Path, typer.Option(help="Every run's results, plots and logs.")] = Path(
        "results/budget"
    ),
) -> None:
    results: dict[tuple[str, float], dict] = {}
    runs: dict[str, list] = {}
    for target in targets.split(","):
        for pps in (float(b) for b in budgets.split(",")):
            run_dir = runs_dir / f"{target}-{pps:g}"
            t0 = time.monotonic()
            p = subprocess.run(
                [*SREM, "run", "--emulate", "--target", target, "--pps-budget", f"{pps:g}",
                 "--seconds-per-step", f"{seconds_per_step:g}", "--out", str(run_dir)],
                capture_output=True, text=True,
            )  # fmt: skip
            if p.returncode != 0:
                print(f"{target} at {pps:g}/s: {p.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
                continue
            rows = json.loads((run_dir / "results.json").read_text())["steps"]
            results[(target, pps)] = summary(rows)
            runs[f"{target}-{pps:g}"] = rows
            print(
                f"{target} at {pps:g}/s: lost {results[(target, pps)]['lost']} ({time.monotonic() - t0:.0f} s)"
            )
    out.mkdir(parents=True, exist_ok=True)
    (out / "budget.md").write_text(table(results))
    (out / "budget.json").write_text(
        json.dumps({"summary": {f"{t}-{p:g}": s for (t, p), s in results.items()}}, indent=1)
    )
    print(table(results))


if __name__ == "__main__":
    typer.run(main)
