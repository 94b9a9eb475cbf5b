"""Benchmark output: a rich table of rates with their ratio to the run's baseline, and JSON."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table


def report(title: str, rows: dict[str, float], baseline: str, unit: str, out: str) -> None:
    base = rows[baseline]
    t = Table(title=title)
    for h in ("what", unit, f"ratio to {baseline}"):
        t.add_column(h, justify="right")
    for name, r in rows.items():
        t.add_row(name, f"{r:,.0f}", f"{r / base:.2f}")
    Console().print(t)
    write_json(rows, out)


def write_json(rows: dict, out: str) -> None:
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=2) + "\n")
