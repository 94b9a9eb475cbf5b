"""`srem predict` through typer's runner on an app it registers into: runs, files, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import typer
from typer.testing import CliRunner

from prediction.cli import register

FIXTURE = Path(__file__).parent / "fixtures" / "prediction" / "slice.tsv"
# Two small protocols and a tiny network, so that a whole evaluation takes seconds.
TINY_RUN = """
protocols:
  authors: {window: 30}
  honest: {window: 30, horizon: 6}
seeds: [0, 1]
lead_window: 30
bootstrap: 50
lstm: {hidden: 8, layers: 1, dropout: 0.0, epochs: 1, batch_size: 64}
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


def invoke(app, *args: str):
    return CliRunner().invoke(app, ["predict", *args])


def one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def test_validate(app):
    r = invoke(app, "validate", "--data", str(FIXTURE))
    assert r.exit_code == 0, r.output
    assert "2400 records" in r.output and "failures of" in r.output


def test_errors_are_one_red_line(app, tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text(FIXTURE.read_text().split("\n", 5)[4] + "\n30\t2021-06-05 11:00:00\t1\t2\n")
    assert "bad.tsv: line 2: expected 7 tab-separated columns, found 4" in one_error_line(
        invoke(app, "validate", "--data", str(bad))
    )
    assert "no such file" in one_error_line(invoke(app, "eval", "--data", str(tmp_path / "none.tsv")))
    assert "--seeds" in one_error_line(invoke(app, "eval", "--data", str(FIXTURE), "--seeds", "a,b"))
    assert "--epochs" in one_error_line(invoke(app, "train", "--data", str(FIXTURE), "--epochs", "0"))
    assert "--protocol: later: unknown" in one_error_line(
        invoke(app, "train", "--data", str(FIXTURE), "--protocol", "later")
    )
    cfg = tmp_path / "run.yaml"
    cfg.write_text("protocols: {honest: {horizon: -1}}\n")
    assert "protocols.honest.horizon: is -1" in one_error_line(invoke(app, "eval", "--config", str(cfg)))
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    assert "empty.tsv: line 1: the file is empty" in one_error_line(
        invoke(app, "train", "--data", str(empty))
    )


def test_train_writes_a_model_and_prints_its_figures(app, tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(TINY_RUN)
    out = tmp_path / "run"
    r = invoke(app, "train", "--data", str(FIXTURE), "--config", str(cfg), "--out", str(out))
    assert r.exit_code == 0, r.output
    assert (out / "model.pt").exists() and (out / "checkpoint.pt").exists()
    assert "honest: window 30" in r.output and "lstm" in r.output and "PR-AUC" in r.output
    saved = tmp_path / "ship" / "m.pt"
    r = invoke(app, "train", "--data", str(FIXTURE), "--config", str(cfg), "--out", str(out), "--resume")
    assert r.exit_code == 0, r.output
    r = invoke(
        app, "train", "--data", str(FIXTURE), "--config", str(cfg), "--out", str(out), "--save", str(saved)
    )
    assert r.exit_code == 0 and saved.exists()


def test_eval_writes_tables_plot_and_page(app, tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(TINY_RUN)
    out, doc = tmp_path / "docs" / "prediction", tmp_path / "docs" / "prediction.md"
    r = invoke(
        app, "eval", "--data", str(FIXTURE), "--config", str(cfg), "--out", str(out), "--doc", str(doc),
        "--runs", str(tmp_path / "runs"),
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    for name in ("pr_curves.png", "results.json", "authors.md", "honest.md"):
        assert (out / name).exists(), name
    page = doc.read_text()
    assert "![PR curves](prediction/pr_curves.png)" in page
    for method in ("lstm", "indications", "logistic", "gbt"):
        assert f"| {method} | 0.5 |" in page and f"| {method} | 0.9 |" in page
    data = json.loads((out / "results.json").read_text())
    runs = data["protocols"]["honest"]["runs"]
    assert {(x["method"], x["seed"]) for x in runs} == {
        (m, s) for m in ("lstm", "indications", "logistic", "gbt") for s in (0, 1)
    }
    # the LSTM checkpoints are kept per protocol and seed, and reused by a second run
    assert (tmp_path / "runs" / "honest-s1" / "model.pt").exists()
