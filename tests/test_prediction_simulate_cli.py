"""`srem predict simulate` through typer's runner: the page, plot and JSON, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import typer
from typer.testing import CliRunner

from prediction.cli import register

FIXTURE = Path(__file__).parent / "fixtures" / "prediction" / "slice.tsv"
TINY = """
agents: [greedy]
policies: [none, reactive, proactive-0.5, oracle]
days: 2
interval_s: 60          # 120 intervals per 2-h step: a day in a fraction of a second
short: [3, 8]
long: [40, 160]
failures_per_server_day: 3
detect_intervals: 1
move_intervals: 1
"""


@pytest.fixture
def app() -> typer.Typer:
    torch.set_num_threads(1)
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """srem"""

    register(app)
    return app


def test_simulate_writes_table_plot_and_json(app, tmp_path):
    cfg = tmp_path / "sim.yaml"
    cfg.write_text(TINY)
    out = tmp_path / "out"
    r = CliRunner().invoke(
        app, ["predict", "simulate", "--config", str(cfg), "--data", str(FIXTURE), "--out", str(out)]
    )
    assert r.exit_code == 0, r.output
    page = (out / "simulate.md").read_text()
    for policy in ("none", "reactive", "proactive-0.5", "oracle"):
        assert f"| greedy | {policy} |" in page
    assert "{" not in page.split("## Results")[0]  # every field of the template filled
    assert (out / "simulate.png").stat().st_size > 1000
    res = json.loads((out / "simulate.json").read_text())
    assert len(res["days"]) == 2 * 4 and len(res["no_failure"]) == 2
    assert {c["policy"] for c in res["cells"]} == {"none", "reactive", "proactive-0.5", "oracle"}


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("policies: [none, sometimes]", "policies: unknown policy 'sometimes'"),
        ("agents: [nobody]", "agents: unknown agent 'nobody'"),
        ("days: 0", "days: is 0, must be >= 1"),
        ("short: [10, 5]", "short: is [10, 5]"),
        ("colour: blue", "colour: unknown key"),
        ("model: nothing", "model: 'nothing'"),
        ("days: [", "line"),
    ],
)
def test_bad_run_file_is_one_line(app, tmp_path, text, needle):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text + "\n")
    r = CliRunner().invoke(app, ["predict", "simulate", "--config", str(cfg), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert len(lines) == 1 and needle in lines[0], r.output
    assert not (tmp_path / "o").exists()  # nothing half-written
