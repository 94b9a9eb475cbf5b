"""`srem mfg` through typer's CliRunner on an app it registers into."""

from __future__ import annotations

import json
from pathlib import Path

import typer
import yaml
from typer.testing import CliRunner

from placement.mfg.cli import register

TINY = Path(__file__).parent / "fixtures" / "mfg" / "tiny.yaml"


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(lambda: None)  # a second command, so `mfg` stays a sub-app as in srem
    register(app)
    return app


def test_scenario_new_validate_show(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        _app(), ["mfg", "scenario", "new", str(tmp_path / "m.yaml"), "--nodes", "10", "--seed", "3"]
    )
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(_app(), ["mfg", "scenario", "validate", str(tmp_path / "m.yaml")])
    assert r.exit_code == 0 and "10 nodes" in r.output
    r = CliRunner().invoke(_app(), ["mfg", "scenario", "show"])
    assert r.exit_code == 0 and "SFC-3" in r.output


def test_bad_scenario_is_one_red_line(tmp_path: Path) -> None:
    d = yaml.safe_load(TINY.read_text())
    d["nodes"][1]["tx"] = "fast"
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(d))
    r = CliRunner().invoke(_app(), ["mfg", "scenario", "validate", str(f)])
    assert r.exit_code == 2
    assert r.output.strip().count("\n") == 0 and "nodes[1].tx: must be a number" in r.output
    r = CliRunner().invoke(_app(), ["mfg", "place", "--method", "magic"])
    assert r.exit_code == 2 and "--method" in r.output


def test_place_optimum_and_agent() -> None:
    r = CliRunner().invoke(_app(), ["mfg", "place", "--scenario", str(TINY), "--method", "optimum"])
    assert r.exit_code == 0, r.output
    assert "proven optimal" in r.output
    r = CliRunner().invoke(_app(), ["mfg", "place", "--method", "mfg-ac", "--seed", "4"])
    assert r.exit_code == 0, r.output
    assert "fits" in r.output and "SFC-3" in r.output


def test_eval_quick_writes_tables_and_figures(tmp_path: Path) -> None:
    out = tmp_path / "docs"
    r = CliRunner().invoke(
        _app(),
        [
            "mfg",
            "eval",
            "--quick",
            "--seeds",
            "2",
            "--out",
            str(out),
            "--scales",
            "paper",
            "--milp-time-limit",
            "1",
        ],
    )
    assert r.exit_code == 0, r.output
    for f in ("results.md", "results.json", "fig4_delay_vs_size.png", "fig3_reward.png", "decision_time.png"):
        assert (out / f).stat().st_size > 0
    res = json.loads((out / "results.json").read_text())
    paper = res["gap"]["paper"]["table"]
    assert set(paper) == {"mfg-ac", "ga", "greedy", "random", "optimum"}
    assert paper["optimum"]["proven"] == 2
    assert all(paper[m]["gap"][0] >= -1e-9 for m in paper)  # nobody beats the proven optimum


def test_train_command(tmp_path: Path) -> None:
    r = CliRunner().invoke(_app(), ["mfg", "train", "--out", str(tmp_path), "--episodes", "4"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "checkpoint.pt").exists() and (tmp_path / "tb").is_dir()
    r = CliRunner().invoke(_app(), ["mfg", "train", "--out", str(tmp_path), "--episodes", "0"])
    assert r.exit_code == 2 and "--episodes" in r.output
    r = CliRunner().invoke(_app(), ["mfg", "place", "--model", str(tmp_path / "nope.pt")])
    assert r.exit_code == 2 and "does not exist" in r.output
