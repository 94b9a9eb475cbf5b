"""The emulated day's orchestration, summed up: every alert and action of the loop (from
its JSON lines), per interval what it did and what the service's flows saw, and over the
day the packets lost or reordered and the translated sources each flow showed (one per
flow: the NAT's state survived every move). Written into results.json, printed as tables,
and as `orchestration.md` + `timeline.png` beside `day.png`.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from controller.orchestration.loop import timeline_plot
from controller.orchestration.service import Service


def events(log: Path) -> list[dict]:
    """Every alert and action of the log, compact: when, what, on which instance, outcome."""
    out = []
    for line in log.read_text().splitlines():
        r = json.loads(line)
        if r["type"] == "alert":
            out.append({"period": r["period"], "type": "alert", "kind": r["kind"], "instance": r["instance"],
                        "state": r["state"], "value": round(r.get("value", 0), 1)})  # fmt: skip
        elif r["type"] == "action":
            d, o = r["decision"], r.get("outcome") or {}
            mv = o.get("move") or {}
            out.append({"period": r["period"], "type": "action", "kind": d["kind"], "instance": d["instance"],
                        "to": d.get("to", ""), "reason": d.get("reason", ""), "ok": "error" not in r,
                        "error": r.get("error", ""), "flows": mv.get("flows", 0),
                        "held": mv.get("held_src", 0) + mv.get("held_dst", 0),
                        "duration_ms": round(r.get("duration_s", 0) * 1000, 1)})  # fmt: skip
    return out


def day_summary(rows: list[dict], svc: Service, log: Path, thresholds: Any = None) -> dict:
    ivs = [r["orchestration"] for r in rows if r.get("orchestration")]
    sources: dict[str, set[str]] = {}
    for iv in ivs:
        for k, srcs in iv["service"]["sources"].items():
            sources.setdefault(str(k), set()).update(srcs)
    ev = events(log) if log.exists() else []
    raised = Counter(e["kind"] for e in ev if e["type"] == "alert" and e["state"] == "raised")
    acts = Counter(f"{e['kind']}{'' if e['ok'] else ' (failed)'}" for e in ev if e["type"] == "action")
    total = lambda k: sum(iv[k] for iv in ivs)
    served = lambda k: sum(iv["service"][k] for iv in ivs)
    return {
        "service": {
            "nf": svc.nf,
            "src": svc.src,
            "dst": svc.dst,
            "slots": list(svc.slots),
            "flows": svc.traffic.flows,
        },
        "alerts_raised": dict(sorted(raised.items())),
        "actions": dict(sorted(acts.items())),
        "moves": total("moves"),
        "moves_rolled_back": total("moves_rolled_back"),
        "flows_moved": total("flows_moved"),
        "packets_held": total("packets_held"),
        "hold_overflow": total("hold_overflow"),
        "late": total("late"),
        "sent": served("sent"),
        "delivered": served("delivered"),
        "lost": served("lost"),
        "reordered": served("reordered"),
        # Lost packets by when they were sent: in a move's window, the boundary's, neither.
        "lost_by": {
            k: sum(iv["service"]["lost_by"][k] for iv in ivs)
            for k in ("during_moves", "during_boundary", "elsewhere")
        },
        "duplicates": served("duplicates"),
        # A snat rewrites the source: one (address, port) per flow all day is its state kept.
        "sources_per_flow": {k: sorted(v) for k, v in sorted(sources.items(), key=lambda kv: int(kv[0]))},
        "flows_one_source": sum(len(v) == 1 for v in sources.values()),
        "events": ev,
        "load": [row for iv in ivs for row in iv["load"]],
        "boundaries": [{"period": iv["periods"][1], "step": iv["step"], "hour": iv["hour"]} for iv in ivs],
        "thresholds": {
            "overload_pps": getattr(thresholds, "overload_pps", None),
            "underload_pps": getattr(thresholds, "underload_pps", None),
        },
    }


def _kinds(records: dict, prefix: str) -> str:
    return ", ".join(f"{k.split(':', 1)[1]} {n}" for k, n in records.items() if k.startswith(prefix)) or "-"


COLUMNS = ("hour", "offered pps", "alerts raised", "actions", "moves", "flows moved", "held", "instances after",
           "sent", "delivered", "lost (moves/boundary/other)", "reordered", "sources/flow")  # fmt: skip


def _raised(events: list[dict], periods: list[int]) -> str:
    """Alerts raised in an interval's periods, by kind (cleared ones are in the event list)."""
    c = Counter(e["kind"] for e in events
                if e["type"] == "alert" and e["state"] == "raised" and periods[0] <= e["period"] <= periods[1])  # fmt: skip
    return ", ".join(f"{k} {n}" for k, n in sorted(c.items())) or "-"


def _lost(sv: dict) -> str:
    by = sv["lost_by"]
    return f"{sv['lost']} ({by['during_moves']}/{by['during_boundary']}/{by['elsewhere']})"


def interval_rows(rows: list[dict], events: list[dict]) -> list[list[str]]:
    out = []
    for r in rows:
        iv = r.get("orchestration")
        if not iv:
            continue
        sv = iv["service"]
        out.append([
            f"{r['hour']:02d}:00", f"{sv['pps']:.0f}", _raised(events, iv["periods"]),
            _kinds(iv["records"], "action:"), str(iv["moves"]), str(iv["flows_moved"]), str(iv["packets_held"]),
            ", ".join(iv["instances"]), str(sv["sent"]), str(sv["delivered"]), _lost(sv),
            str(sv["reordered"]), str(max((len(s) for s in sv["sources"].values()), default=0)),
        ])  # fmt: skip
    return out


def table(title: str, rows: list[dict], summary: dict) -> Table:
    t = Table(
        title=f"{title}: the orchestration loop between the boundaries (service {summary['service']['nf']['kind']})"
    )
    for h in COLUMNS:
        t.add_column(h, justify="left" if h in ("alerts raised", "actions", "instances after") else "right")
    for row in interval_rows(rows, summary["events"]):
        t.add_row(*row)
    t.caption = (
        f"day: {summary['sent']} sent, {summary['delivered']} delivered, {summary['lost']} lost "
        f"({summary['lost_by']['during_moves']} sent during a move, {summary['lost_by']['during_boundary']} during a "
        f"boundary's reconfiguration, {summary['lost_by']['elsewhere']} otherwise), "
        f"{summary['reordered']} reordered; {summary['moves']} moves ({summary['moves_rolled_back']} rolled back), "
        f"{summary['flows_moved']} flows moved, {summary['packets_held']} packets held, overflow "
        f"{summary['hold_overflow']}, late {summary['late']}; flows with one translated source all day: "
        f"{summary['flows_one_source']}/{len(summary['sources_per_flow'])}"
    )
    return t


def markdown(title: str, rows: list[dict], summary: dict) -> str:
    lines = [f"# {title}", "", "Per interval (the loop's periods between two placement boundaries):", ""]
    lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join(" --- " for _ in COLUMNS) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in interval_rows(rows, summary["events"])]
    lines += ["", table(title, rows, summary).caption or "", "", "Every alert and action:", "",
              "| period | type | kind | instance | state / to | outcome |", "| ---: | --- | --- | --- | --- | --- |"]  # fmt: skip
    for e in summary["events"]:
        if e["type"] == "alert":
            lines.append(
                f"| {e['period']} | alert | {e['kind']} | {e['instance']} | {e['state']} | {e['value']} |"
            )
        else:
            out = (f"{e['flows']} flows, {e['held']} held, {e['duration_ms']} ms" if e["ok"]
                   else f"failed: {e['error']}")  # fmt: skip
            lines.append(f"| {e['period']} | action | {e['kind']} | {e['instance']} | {e['to']} | {out} |")
    return "\n".join(lines) + "\n"


def write_outputs(rows: list[dict], summary: dict, log: Path, out: Path, title: str) -> list[Path]:
    """timeline.png, orchestration.md and a copy of the JSON lines, beside day.png."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if log.exists():
        shutil.copyfile(log, out / "orchestration.jsonl")
        timeline_plot(
            summary, log, out / "timeline.png", f"{title}: orchestrated {summary['service']['nf']['kind']}"
        )
        written += [out / "orchestration.jsonl", out / "timeline.png"]
    (out / "orchestration.md").write_text(markdown(title, rows, summary))
    return [*written, out / "orchestration.md"]


DATA = Path(__file__).parent / "data" / "orchday.yaml"
SHIPPED = ("day.png", "emulation.png", "timeline.png", "orchestration.md", "results.json")


def main(
    orchestration: Annotated[Path, typer.Option(help="The orchestration YAML.")] = DATA,
    seconds_per_step: Annotated[float, typer.Option(help="Seconds each step's loop window lasts.")] = 12.0,
    out: Annotated[Path, typer.Option(help="The figures and the table go here.")] = Path(
        "docs/orchestration"
    ),
    run_dir: Annotated[Path, typer.Option(help="The whole run (logs included).")] = Path("results/orchday"),
) -> None:
    """The emulated paper day with the loop and the YAML's injected overloads (root,
    Mininet): srem run --emulate --orchestration, then its figures and table into `out`,
    with the run's wall time and the load average beside it (the machine is shared)."""
    import os
    import subprocess
    import time

    from controller.fabric.hosts import SREM

    load0, t0 = os.getloadavg(), time.monotonic()
    p = subprocess.run(
        [*SREM, "run", "--emulate", "--orchestration", str(orchestration), "--seconds-per-step",
         f"{seconds_per_step:g}", "--out", str(run_dir)],
        text=True,
    )  # fmt: skip
    if p.returncode != 0:
        raise SystemExit(p.returncode)
    took, load1 = time.monotonic() - t0, os.getloadavg()
    out.mkdir(parents=True, exist_ok=True)
    for name in SHIPPED:
        shutil.copyfile(run_dir / name, out / name)
    note = (f"\nMade by `python -m emulation.orchreport` in {took:.0f} s (load average {load0[0]:.1f} at the start, "
            f"{load1[0]:.1f} at the end, {os.cpu_count()} cores).\n")  # fmt: skip
    with (out / "orchestration.md").open("a") as f:
        f.write(note)
    print(note.strip())


if __name__ == "__main__":
    typer.run(main)
