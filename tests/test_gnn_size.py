"""`srem gnn train --hidden/--layers/--heads`: the policy's size from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import typer
from typer.testing import CliRunner

from placement.gnn.cli import register
from placement.gnn.policy import GnnConfig, load
from placement.gnn.train import TrainConfig, train

torch.set_num_threads(1)

# One day of one k=2 scenario and a handful of updates: seconds.
TINY = ["--iterations", "1", "--days", "1", "--epochs", "1", "--scenarios", "1", "--max-updates", "5"]


@pytest.fixture
def app() -> typer.Typer:
    a = typer.Typer()
    register(a)
    return a


def test_a_policy_of_another_size_trains_saves_and_loads(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "p"
    r = CliRunner().invoke(app, ["gnn", "train", "--out", str(out), *TINY, "--hidden", "8", "--layers", "1",
                                 "--heads", "3"])  # fmt: skip
    assert r.exit_code == 0, r.output
    pol = load(out / "policy.pt")
    assert pol.cfg == GnnConfig(hidden=8, layers=1, heads=3)
    assert pol.convs[0].heads == 3 and pol.score[0].out_features == 8
    r = CliRunner().invoke(app, ["gnn", "check", str(out / "policy.pt")])
    assert r.exit_code == 0 and "1 GATv2 layers of 8 (3 heads)" in r.output, r.output
    # --resume keeps the checkpoint's size; asking for another one is refused in one line.
    r = CliRunner().invoke(app, ["gnn", "train", "--out", str(out), *TINY, "--resume", "--hidden", "16"])
    assert r.exit_code == 2 and "--hidden" in r.output and "hidden = 8" in r.output, r.output
    assert r.output.strip().count("\n") == 0


def test_the_default_size_trains_as_before(app: typer.Typer, tmp_path: Path) -> None:
    """No size option: GnnConfig's defaults, the same weights as `train` without a net."""
    r = CliRunner().invoke(app, ["gnn", "train", "--out", str(tmp_path / "cli"), *TINY])
    assert r.exit_code == 0, r.output
    cfg = TrainConfig(iterations=1, days_per_iteration=1, epochs=1, scenarios=1, max_updates=5)
    ref = train(cfg, tmp_path / "ref")
    got = load(tmp_path / "cli" / "policy.pt")
    assert got.cfg == GnnConfig() == GnnConfig(hidden=64, layers=3, heads=2)
    for x, y in zip(ref.state_dict().values(), got.state_dict().values(), strict=True):
        assert torch.equal(x, y)


@pytest.mark.parametrize(
    "args", [["--hidden", "0"], ["--layers", "0"], ["--heads", "-1"], ["--hidden", "5000"], ["--layers", "x"]]
)
def test_bad_sizes_are_one_line_errors(app: typer.Typer, tmp_path: Path, args: list[str]) -> None:
    r = CliRunner().invoke(app, ["gnn", "train", "--out", str(tmp_path), *args])
    assert r.exit_code == 2 and args[0] in r.output, r.output
    assert not (tmp_path / "policy.pt").exists()
