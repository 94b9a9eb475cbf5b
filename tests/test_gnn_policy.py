"""The GNN policy: its filters, imitation of mpc, other substrates, bad policy files."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from placement.agents import DEFAULT_MODELS, agent_or_error
from placement.gnn.cli import register
from placement.gnn.graph import encode
from placement.gnn.policy import GnnAgent, GnnConfig, GnnPolicy, choose, load, masked_logits, save
from placement.gnn.train import TrainConfig, agreement, fit, label, make_teacher, train
from placement.model import scenario as sc
from placement.model.constraints import storage_violations
from placement.model.simulate import DayRun, run_day
from placement.model.workload import build_problem
from tests.conftest import fattree
from topologies import InputError

SHIPPED = DEFAULT_MODELS["gnn"]
torch.set_num_threads(1)  # the CI machine is shared; and results stay reproducible


@pytest.fixture(scope="module")
def policy():
    torch.manual_seed(0)
    return GnnPolicy(GnnConfig(hidden=16, layers=2))


def test_static_filter_scores_only_possible_hosts(tiny, policy) -> None:
    run = DayRun(tiny, tiny.day("test", 0))
    logits = policy(encode(run))
    static = torch.as_tensor(tiny.cat.static_mask[tiny.cat.inst_type])
    assert (~static).any(), "the case must have statically impossible hosts"
    assert torch.isneginf(logits[~static]).all()
    assert torch.isfinite(logits[static]).all()


def test_masked_host_gets_no_gradient_and_is_never_chosen(tiny, policy) -> None:
    run = DayRun(tiny, tiny.day("test", 0))
    allowed = torch.as_tensor(run.mask())
    static = torch.as_tensor(tiny.cat.static_mask[tiny.cat.inst_type])
    assert (static & ~allowed).any(), "the case must have hosts the dynamic filter removes"
    logits = policy(encode(run))
    logits.retain_grad()
    target = torch.as_tensor(run.placement)  # always allowed: an instance fits where it is
    logp = torch.log_softmax(masked_logits(logits, allowed), dim=1)
    (-logp.gather(1, target[:, None]).mean()).backward()
    assert (logits.grad[~allowed] == 0).all()
    assert (logits.grad[allowed] != 0).any()
    # A filtered host with the highest raw score is still never chosen: statically
    # impossible hosts never; storage-full ones not by the first instance to choose
    # (later ones may take room the earlier ones freed), and storage always holds.
    raw = np.random.default_rng(0).normal(size=tuple(allowed.shape))
    raw[~allowed.numpy()] = 1e6
    first = int(np.flatnonzero((static & ~allowed).any(1).numpy())[0])
    order = np.r_[first, np.delete(np.arange(tiny.cat.n_instances), first)]
    out = choose(raw, run, order)
    assert allowed[first, out[first]]
    assert all(static[i, h] for i, h in enumerate(out))
    assert not storage_violations(tiny.sub, tiny.cat, out)


def test_agent_days_respect_storage_on_every_step(tiny, policy) -> None:
    for d in range(2):
        recs = run_day(tiny, tiny.day("test", d), GnnAgent(policy))
        assert all(r.feasible for r in recs)


@pytest.mark.parametrize("teacher", ["mpc", "mpc-forecast", "mpc-oracle"])
def test_imitation_reproduces_the_teacher_on_its_training_states(tiny, teacher) -> None:
    # Tiny case: 2 days of a k=2 fat-tree, every state labelled by the teacher (mpc, or
    # the privileged oracle); the policy learns them to at least 90 % agreement.
    torch.manual_seed(1)
    pol = GnnPolicy(GnnConfig(hidden=32, layers=2))
    labeller, data = make_teacher(teacher), []
    for d in range(2):
        run = DayRun(tiny, tiny.day("train", d))
        while not run.done:
            s, want = label(run, labeller)
            data.append(s)
            run.apply(want)
    before = agreement(pol, data)
    fit(pol, torch.optim.Adam(pol.parameters(), lr=3e-3), data, 600, random.Random(0))
    after = agreement(pol, data)
    assert after >= 0.9 and after > before, (before, after)


def test_training_is_seeded_resumes_and_writes_a_loadable_policy(tmp_path: Path) -> None:
    cfg = TrainConfig(iterations=1, days_per_iteration=1, epochs=1, max_updates=20, scenarios=1)
    net = GnnConfig(hidden=8, layers=1)
    a = train(cfg, tmp_path / "a", net=net)
    b = train(cfg, tmp_path / "b", net=net)
    for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y)
    c = train(dataclasses.replace(cfg, iterations=2), tmp_path / "a", resume=True, net=net)
    assert torch.load(tmp_path / "a" / "last.pt", weights_only=False)["iteration"] == 2
    assert (tmp_path / "a" / "tb").is_dir()
    assert not all(
        torch.equal(x, y) for x, y in zip(a.state_dict().values(), c.state_dict().values(), strict=True)
    )
    load(tmp_path / "a" / "policy.pt")


def test_finetune_keeps_the_best_policy_on_validation(tmp_path: Path, tiny, policy) -> None:
    from placement.gnn.finetune import FinetuneConfig, finetune, validate

    p0 = copy.deepcopy(policy)
    start = validate(p0, [tiny], 1)
    cfg = FinetuneConfig(days=4, checkpoint_every=2, validation_days=1, lr=1e-2)
    tuned = finetune(p0, cfg, tmp_path, problems=[tiny])
    assert not all(torch.equal(a, b) for a, b in zip(policy.state_dict().values(), tuned.state_dict().values(),
                                                     strict=True))  # fmt: skip
    assert (tmp_path / "last.pt").exists() and (tmp_path / "tb").is_dir()
    # The file kept is the best on validation, the starting policy included.
    assert validate(load(tmp_path / "policy.pt"), [tiny], 1) >= start - 1e-9


@pytest.mark.skipif(not SHIPPED.exists(), reason="no shipped policy yet")
def test_shipped_policy_runs_on_substrates_of_other_sizes() -> None:
    pol = load(SHIPPED)
    for s in (sc.default(), fattree(6, 3)):  # the paper tree, and a k=6 tree it never saw
        p = build_problem(s)
        recs = run_day(p, p.day("test", 0), GnnAgent(pol))
        assert len(recs) == p.day("test", 0).n_steps
        assert all(r.feasible and math.isfinite(r.reward) for r in recs)


# ---------------------------------------------------------------- bad policy files


@pytest.fixture
def good(tmp_path: Path, policy) -> Path:
    path = tmp_path / "good.pt"
    save(policy, path)
    return path


def bad_files(good: Path, tmp: Path) -> dict[str, Path]:
    blob = good.read_bytes()
    out = {"truncated": tmp / "trunc.pt", "other-architecture": tmp / "arch.pt", "nan": tmp / "nan.pt"}
    out["truncated"].write_bytes(blob[: len(blob) // 2])
    b = torch.load(good, weights_only=True)
    b["config"] = {**b["config"], "hidden": 12}  # weights of 16 do not fit 12
    torch.save(b, out["other-architecture"])
    b = torch.load(good, weights_only=True)
    k = next(k for k, v in b["state_dict"].items() if v.is_floating_point())
    b["state_dict"][k] = torch.full_like(b["state_dict"][k], float("nan"))
    torch.save(b, out["nan"])
    out["srem-dqn"] = DEFAULT_MODELS["srem"]  # a real policy file, of the other agent
    out["text"] = tmp / "text.pt"
    out["text"].write_text("hello\n")
    return out


def test_bad_policy_files_give_one_line_errors(good: Path, tmp_path: Path, tiny) -> None:
    load(good)
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    for why, path in bad_files(good, tmp_path).items():
        with pytest.raises(InputError) as e:
            agent_or_error("gnn", tiny, 0, 30.0, path)
        assert "\n" not in str(e.value) and str(path) in str(e.value), why
        r = runner.invoke(app, ["gnn", "check", str(path)])
        assert r.exit_code == 2, (why, r.output)
        assert r.output.strip().count("\n") == 0 and "error:" in r.output, (why, r.output)
    r = runner.invoke(app, ["gnn", "check", str(good)])
    assert r.exit_code == 0 and "gnn policy" in r.output


def test_train_command_refuses_bad_options(tmp_path: Path) -> None:
    app = typer.Typer()
    register(app)
    r = CliRunner().invoke(app, ["gnn", "train", "--iterations", "0", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "--iterations" in r.output
    r = CliRunner().invoke(app, ["gnn", "train", "--resume", "--out", str(tmp_path / "none")])
    assert r.exit_code == 2 and "nothing to resume" in r.output


def test_a_ray_rollout_collects_what_a_serial_one_does(tmp_path: Path) -> None:
    """Each iteration's days on a local Ray with 2 workers: the same states, labels and
    weights as the serial run for the same seed (the driver draws every day's coins)."""
    ray = pytest.importorskip("ray")
    cfg = TrainConfig(iterations=2, days_per_iteration=2, epochs=1, max_updates=20, scenarios=2)
    net = GnnConfig(hidden=8, layers=1)
    try:
        serial = train(cfg, tmp_path / "serial", net=net)
        par = train(cfg, tmp_path / "ray", net=net, workers=2)
    finally:
        if ray.is_initialized():
            ray.shutdown()
    for x, y in zip(serial.state_dict().values(), par.state_dict().values(), strict=True):
        assert torch.equal(x, y)
    a, b = (pickle.loads((tmp_path / d / "data.pkl").read_bytes()) for d in ("serial", "ray"))
    assert len(a) == len(b) == 2 * 2 * 6  # iterations x days x steps
    assert all(
        torch.equal(s.target, t.target) and torch.equal(s.allowed, t.allowed)
        for s, t in zip(a, b, strict=True)
    )


def test_repolicy_pairs_a_new_policy_with_committed_days_and_refuses_the_wrong_old_one(tmp_path, capsys):
    from placement.evaluation.figures import scenario_of
    from placement.gnn.repolicy import day_rewards, main

    s = scenario_of("seed:31")
    problem = build_problem(s)
    days = day_rewards(problem, SHIPPED, [0, 1])
    (tmp_path / s.name).mkdir()
    (tmp_path / s.name / "eval.json").write_text(json.dumps({"day_rewards": {"mpc": days, "gnn": days}}))
    main(["--policy", str(SHIPPED), "--old", str(SHIPPED), "--figures", str(tmp_path), "seed:31"])
    assert f"| {s.name} | 2 | +0.000 ± 0.000 | +0.000 ± 0.000 |" in capsys.readouterr().out
    other = tmp_path / "other.pt"
    torch.manual_seed(3)
    save(GnnPolicy(GnnConfig(hidden=8, layers=1)), other)
    with pytest.raises(SystemExit, match="--old does not give the committed gnn day rewards"):
        main(["--policy", str(SHIPPED), "--old", str(other), "--figures", str(tmp_path), "seed:31"])
