"""Value-aware imitation: the teacher's value labels and the losses that use them."""

from __future__ import annotations

import dataclasses
import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from placement.gnn.policy import GnnConfig, GnnPolicy, masked_logits
from placement.gnn.train import (
    Sample,
    TrainConfig,
    fit,
    instance_loss,
    label,
    mean_regret,
    regrets,
    train,
)
from placement.model.simulate import DayRun
from placement.mpc.agent import MpcAgent

torch.set_num_threads(1)


def states(problem, teacher: MpcAgent, days: int = 1, every: int = 3) -> list[tuple[Sample, DayRun]]:
    """Value-labelled states of test days, the teacher acting; with a copy of each run."""
    import copy

    out = []
    for d in range(days):
        run = DayRun(problem, problem.day("test", d))
        while not run.done:
            s, want = label(run, teacher, values=True)
            if run.t % every == 0:
                out.append((s, copy.deepcopy(run)))
            run.apply(want)
    return out


@pytest.fixture(scope="module")
def labelled(tiny):
    # sweeps=50: mpc's search always ends where no single move improves (a local optimum).
    return states(tiny, MpcAgent(sweeps=50))


def test_value_labels_are_what_mpc_values_gives(labelled) -> None:
    teacher = MpcAgent()
    checked = 0
    for s, run in labelled[:3]:
        want = s.target.numpy()
        for i in range(len(want)):
            hosts = np.flatnonzero(s.allowed[i].numpy())
            batch = np.repeat(want[None, :], len(hosts), axis=0)
            batch[:, i] = hosts
            expect = teacher.values(run, batch)
            assert np.array_equal(s.q[i, hosts].numpy(), expect)
            checked += len(hosts)
        assert torch.isneginf(s.q[~s.allowed]).all()
        assert s.steps == run.day.n_steps - run.t
    assert checked > 0


def test_the_teachers_host_has_its_rows_best_value_at_a_local_optimum(labelled) -> None:
    assert labelled
    for s, _ in labelled:
        best = s.q.max(1).values
        at = s.q.gather(1, s.target[:, None]).squeeze(1)
        assert torch.isfinite(at).all()
        assert (at >= best - 1e-9).all(), (best - at).max()
        r = regrets(s)
        assert (r >= 0).all() and (r.gather(1, s.target[:, None]) <= 1e-9).all()
    # And the labels are not flat: some moves cost something.
    assert any((regrets(s) > 1e-6).any() for s, _ in labelled)


@pytest.mark.parametrize("kind", ["regret", "soft"])
def test_masked_hosts_get_no_gradient_under_the_value_losses(labelled, kind) -> None:
    torch.manual_seed(0)
    pol = GnnPolicy(GnnConfig(hidden=16, layers=2))
    s = next(s for s, _ in labelled if (s.allowed.sum(1) > 1).any())
    static = torch.isfinite(pol(s.state))
    assert (static & ~s.allowed).any(), "the case must have hosts the dynamic filter removes"
    logits = pol(s.state)
    logits.retain_grad()
    loss = instance_loss(masked_logits(logits, s.allowed), s, kind, weight=1.0, tau=0.01).mean()
    assert torch.isfinite(loss)
    loss.backward()
    assert (logits.grad[~s.allowed] == 0).all()
    assert (logits.grad[s.allowed] != 0).any()


def test_the_regret_term_weighs_costly_mistakes_more(labelled) -> None:
    """Same wrong probability mass, on a costly host or on a near-tie: the regret loss
    tells them apart, cross-entropy does not."""
    s = next(
        s for s, _ in labelled if ((regrets(s) > 1e-6).sum(1) >= 1).any() and (s.allowed.sum(1) >= 2).any()
    )
    r = regrets(s)
    i = int(torch.argmax(r.max(1).values))
    costly = int(torch.argmax(r[i]))
    base = masked_logits(torch.zeros(s.allowed.shape, dtype=torch.float64), s.allowed)
    on_costly = base.clone()
    on_costly[i, costly] = 3.0
    ce = instance_loss(on_costly, s, "none")[i]
    reg = instance_loss(on_costly, s, "regret")[i]
    assert reg > ce
    assert torch.allclose(instance_loss(base, s, "regret", weight=1.0) - instance_loss(base, s, "none"),
                          (torch.softmax(base, 1) * r).sum(1))  # fmt: skip


def test_old_samples_without_value_labels_still_load() -> None:
    """A Sample pickled before the field existed (no `q`, no `steps` in its dict)."""
    s = Sample(
        state=None, target=torch.zeros(1, dtype=torch.long), allowed=torch.ones(1, 2, dtype=torch.bool)
    )
    del s.__dict__["q"], s.__dict__["steps"]
    back = pickle.loads(pickle.dumps(s))
    assert back.q is None and back.steps == 1


def test_training_with_the_value_loss_is_seeded_and_reproducible(tmp_path: Path) -> None:
    cfg = TrainConfig(
        iterations=1,
        days_per_iteration=1,
        epochs=1,
        max_updates=12,
        scenarios=1,
        value_loss="regret",
        batch=2,
    )
    net = GnnConfig(hidden=8, layers=1)
    a = train(cfg, tmp_path / "a", net=net)
    b = train(cfg, tmp_path / "b", net=net)
    for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y)
    data = pickle.loads((tmp_path / "a" / "data.pkl").read_bytes())
    assert data and all(s.q is not None for s in data)
    # It trains differently from plain cross-entropy on the same states.
    c = train(dataclasses.replace(cfg, value_loss="none"), tmp_path / "c", net=net)
    assert not all(
        torch.equal(x, y) for x, y in zip(a.state_dict().values(), c.state_dict().values(), strict=True)
    )
    assert mean_regret(a, data) >= 0


def test_fit_with_the_regret_loss_lowers_the_policys_regret(labelled) -> None:
    torch.manual_seed(1)
    pol = GnnPolicy(GnnConfig(hidden=16, layers=2))
    data = [s for s, _ in labelled]
    before = mean_regret(pol, data)
    cfg = TrainConfig(value_loss="regret", value_weight=10.0)
    fit(pol, torch.optim.Adam(pol.parameters(), lr=3e-3), data, 200, random.Random(0), cfg)
    assert mean_regret(pol, data) <= before


def test_train_command_refuses_bad_value_options(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from placement.gnn.cli import register

    app = typer.Typer()
    register(app)
    for args, name in ((["--value-loss", "mse"], "--value-loss"), (["--value-tau", "0"], "--value-tau"),
                       (["--batch", "0"], "--batch")):  # fmt: skip
        r = CliRunner().invoke(app, ["gnn", "train", "--out", str(tmp_path), *args])
        assert r.exit_code == 2 and name in r.output, r.output
