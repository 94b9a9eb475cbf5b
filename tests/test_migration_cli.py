"""`srem migrate …` through typer's CliRunner on an app it registers into."""

from __future__ import annotations

import json
from pathlib import Path

import typer
import yaml
from typer.testing import CliRunner

from migration.agent import DEFAULT_MODEL
from migration.cli import register

FIX = Path(__file__).parent / "fixtures" / "migration"
runner = CliRunner()


def app() -> typer.Typer:
    a = typer.Typer()
    register(a)

    @a.command()
    def other() -> None:  # a second command keeps `migrate` a sub-command
        pass

    return a


def test_new_validate_plan_compare(tmp_path):
    f = tmp_path / "p.yaml"
    r = runner.invoke(app(), ["migrate", "new", str(f), "--scenario", "balance", "--instances", "6",
                              "--flows-per-instance", "5", "--seed", "2"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert yaml.safe_load(f.read_text())["scenario"] == "balance"
    r = runner.invoke(app(), ["migrate", "validate", str(f)])
    assert r.exit_code == 0 and "ok" in r.output
    r = runner.invoke(app(), ["migrate", "plan", str(FIX / "scale_out.yaml"), "--method", "ofm", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert sorted(m[0] for m in out["moves"]) == ["m2", "s1"] and out["outcome"]["added"] == 1
    r = runner.invoke(app(), ["migrate", "plan", str(FIX / "scale_out.yaml"), "--method", "optimal"])
    assert r.exit_code == 0 and "proven optimal" in r.output
    r = runner.invoke(app(), ["migrate", "compare", str(f), "--time-limit", "5"])
    assert r.exit_code == 0, r.output
    for m in ("deepmigration", "ofm", "size-greedy", "pairwise", "random", "optimal"):
        assert m in r.output


def test_bad_input_one_red_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("scenario: scale-up\ninstances: []\n")
    for args in (["migrate", "validate", str(bad)], ["migrate", "plan", str(bad)],
                 ["migrate", "plan", str(FIX / "scale_out.yaml"), "--method", "magic"],
                 ["migrate", "eval", "--instances", "1"], ["migrate", "new", str(FIX / "scale_out.yaml")],
                 ["migrate", "plan", str(FIX / "scale_out.yaml"), "--model", str(tmp_path / "none.pt")]):  # fmt: skip
        r = runner.invoke(app(), args)
        assert r.exit_code == 2, (args, r.output)
        lines = [x for x in r.output.splitlines() if x.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:"), r.output
        assert "Traceback" not in r.output


def test_shipped_policy_is_the_default(tmp_path):
    assert DEFAULT_MODEL.exists() and DEFAULT_MODEL.stat().st_size < 2_000_000
    import migration
    from migration import problems

    data = Path(migration.__file__).parent / "data"
    for name in ("scale_out", "scale_in", "balance"):
        p = problems.load(data / f"{name}.yaml")
        moves = migration.plan(p)
        assert moves and all(a != b for _, a, b in moves)
    r = runner.invoke(app(), ["migrate", "plan", str(FIX / "scale_out.yaml"), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["method"] == "deepmigration"


def test_eval_small(tmp_path):
    r = runner.invoke(app(), ["migrate", "eval", "--instances", "2", "--flows", "4", "--sizes", "6,12",
                              "--time-limit", "0.5", "--out", str(tmp_path)])  # fmt: skip
    assert r.exit_code == 0, r.output
    for name in ("results.md", "results.json", "fig4_scale_out.png", "fig5_scale_in.png", "fig6_balance.png",
                 "fig7_time.png"):  # fmt: skip
        assert (tmp_path / name).exists(), name
    s = json.loads((tmp_path / "results.json").read_text())["summary"]
    cfg = s["balance"]["6 instances"]
    assert set(cfg) >= {"deepmigration", "ofm", "size-greedy", "pairwise", "random", "optimal"}
    assert "Fig. 6" in (tmp_path / "results.md").read_text()
