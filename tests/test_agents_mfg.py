"""The mean-field actor-critic as an SR-EM agent (`--agent mfg`): a day, reproducibility,
the mean field, the filters, training and resume, bad policy files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from placement.agents import DEFAULT_MODELS, agent_or_error, make_agent
from placement.mfg.sremgame import FEATURES, MfgAgent, admit, load, observe, save, step_state
from placement.mfg.sremtrain import SremTrainConfig, marginal_payoffs, train
from placement.mfg.train import MeanFieldActorCritic
from placement.model import scenario as sc
from placement.model.constraints import storage_violations
from placement.model.simulate import DayRun, run_days
from placement.model.workload import build_problem
from srem.cli import main as srem_main
from topologies import InputError

torch.set_num_threads(1)
SHIPPED = DEFAULT_MODELS["mfg"]


@pytest.fixture(scope="module")
def problem():
    # a k=2 fat-tree of the paper's ranges: small, and not a training scenario
    base = sc.default()
    topo = dataclasses.replace(base.topology, builder="fattree", k=2)
    return build_problem(dataclasses.replace(base, name="k2-5", seed=5, topology=topo))


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return MeanFieldActorCritic(len(FEATURES), 16).eval()


def test_mean_field_leaves_the_player_out(problem, net) -> None:
    run = DayRun(problem, problem.day("test", 0))
    st = step_state(run)
    x = run.placement
    o = observe(run, st, x)
    I, H = st.static.shape
    assert o.shape == (I, H, len(FEATURES))
    count = np.bincount(x, minlength=H)
    for i in range(I):
        assert o[i, x[i], 0] == 1.0 and o[i, :, 0].sum() == 1.0  # own position
        expect = count.astype(float)
        expect[x[i]] -= 1  # the others only
        assert np.allclose(o[i, :, 1], expect / (I - 1))
    # the others' shares of hosts sum to 1 for every player
    assert np.allclose(o[:, :, 1].sum(1), 1.0)


def test_admission_never_overflows_and_refuses_what_does_not_fit(problem) -> None:
    run = DayRun(problem, problem.day("test", 0))
    rng = np.random.default_rng(0)
    static = problem.cat.static_mask[problem.cat.inst_type]
    x = run.placement.copy()
    refused_any = False
    for _ in range(30):  # every instance asks for a random statically possible host at once
        moves = np.array([rng.choice(np.flatnonzero(row)) for row in static])
        x, refused = admit(run, x, moves, rng.permutation(len(x)))
        assert storage_violations(problem.sub, problem.cat, x) == []
        assert (x[refused] != moves[refused]).all()
        refused_any |= refused.any()
    assert refused_any, "the case must be tight enough to refuse a move"


def test_a_stayer_is_paid_nothing_and_a_lone_mover_the_whole_change(problem) -> None:
    from placement.mfg.sremgame import step_reward

    run = DayRun(problem, problem.day("test", 0))
    x = run.placement.copy()
    allowed = np.flatnonzero(run.mask(x)[0])
    y = x.copy()
    y[0] = next(h for h in allowed if h != x[0])
    pay = marginal_payoffs(run, x, y, step_reward(run, y))
    assert (pay[1:] == 0).all()
    assert pay[0] == pytest.approx(step_reward(run, y) - step_reward(run, x))


def test_a_day_is_feasible_and_never_worse_than_holding_each_step(problem, net) -> None:
    from placement.mfg.sremgame import step_reward

    agent = MfgAgent(net, seed=3)
    run = DayRun(problem, problem.day("test", 1))
    agent.start_day("test", 1)
    while not run.done:
        hold = step_reward(run, run.placement)
        p = agent.decide(run)
        assert storage_violations(problem.sub, problem.cat, p) == []
        assert problem.cat.static_mask[problem.cat.inst_type, p].all()
        assert step_reward(run, p) >= hold - 1e-12  # it keeps the current placement unless it finds better
        run.apply(p)


def test_reproducible_for_a_seed_in_any_day_order(problem, net) -> None:
    def rewards(seed, days):
        return [[r.reward for r in d] for d in run_days(problem, MfgAgent(net, seed=seed), "test", days)]

    a = rewards(7, [0, 1, 2])
    assert a == rewards(7, [0, 1, 2])
    assert a[::-1] == rewards(7, [2, 1, 0])  # each day's draws depend on (seed, split, day) only


def test_training_is_reproducible_and_resumes_exactly(tmp_path: Path) -> None:
    cfg = SremTrainConfig(
        episodes=4, rounds=2, hidden=8, checkpoint_every=2, paper_seeds=(3000,), fattree_seeds=()
    )
    a = train(cfg, tmp_path / "a", progress=False)
    b = train(cfg, tmp_path / "b", progress=False)
    half = train(dataclasses.replace(cfg, episodes=2), tmp_path / "c", progress=False)
    assert half.exists()
    c = train(cfg, tmp_path / "c", resume=True, progress=False)
    sa, sb, sc_ = (load(p).state_dict() for p in (a, b, c))
    for k in sa:
        assert torch.equal(sa[k], sb[k]) and torch.equal(sa[k], sc_[k]), k
    # what it trained on is recorded, and is no evaluation scenario
    meta = torch.load(a, weights_only=True)["meta"]
    assert meta["trained_on"] == ["paper-seed3000"] and meta["split"] == "train"


def test_shipped_policy_loads_and_is_small() -> None:
    assert SHIPPED.exists() and SHIPPED.stat().st_size < 2_000_000
    load(SHIPPED)


def _bad_files(good: Path, tmp: Path) -> dict[str, Path]:
    blob = good.read_bytes()
    out = {"missing": tmp / "none.pt", "truncated": tmp / "trunc.pt", "text": tmp / "text.pt"}
    out["truncated"].write_bytes(blob[: len(blob) // 2])
    out["text"].write_text("hello\n")
    b = torch.load(good, weights_only=True)
    b["hidden"] = 12  # weights of another width
    torch.save(b, out.setdefault("other-architecture", tmp / "arch.pt"))
    b = torch.load(good, weights_only=True)
    k = next(k for k, v in b["state_dict"].items() if v.is_floating_point())
    b["state_dict"][k] = torch.full_like(b["state_dict"][k], float("nan"))
    torch.save(b, out.setdefault("nan", tmp / "nan.pt"))
    out["gnn-policy"] = DEFAULT_MODELS["gnn"]  # a real policy file of another agent
    return out


def srem(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """`srem ARGS` in this process, as the console script runs it: (exit status, output)."""
    monkeypatch.setattr("sys.argv", ["srem", *args])
    with pytest.raises(SystemExit) as e:
        srem_main()
    out = capsys.readouterr()
    return int(e.value.code or 0), out.out + out.err


def test_bad_policy_files_give_one_line_errors(problem, net, tmp_path: Path, monkeypatch, capsys) -> None:
    good = tmp_path / "good.pt"
    save(good, net, 16)
    assert isinstance(agent_or_error("mfg", problem, 0, 30.0, good), MfgAgent)
    bad = _bad_files(good, tmp_path)
    for why, path in bad.items():
        with pytest.raises(InputError) as e:
            agent_or_error("mfg", problem, 0, 30.0, path)
        assert "\n" not in str(e.value) and str(path) in str(e.value), why
    code, out = srem(monkeypatch, capsys, "run", "--agent", "mfg", "--model", str(bad["truncated"]))
    assert code == 2 and out.strip().count("\n") == 0 and "cannot be read as an mfg policy" in out, out


def test_srem_run_agent_mfg_plays_a_day(tmp_path: Path, monkeypatch, capsys) -> None:
    code, out = srem(monkeypatch, capsys, "run", "--agent", "mfg", "--day", "2", "--out", str(tmp_path))
    assert code == 0, out
    assert "agent mfg" in out and (tmp_path / "results.json").exists()


def test_eval_and_figures_know_the_agent(problem, monkeypatch, capsys) -> None:
    from placement.evaluation.days import ALL_AGENTS
    from placement.evaluation.figures import scenario_of

    assert "mfg" in ALL_AGENTS and isinstance(make_agent("mfg", problem, 1), MfgAgent)
    code, out = srem(monkeypatch, capsys, "eval", "--agents", "mfg,nope", "--instances", "1")
    assert code == 2 and out.strip().count("\n") == 0 and "nope" in out, out
    # held-out scenarios: a bundled one redrawn with a new seed
    k8 = scenario_of("fattree-k8:31")
    assert k8.name == "fattree-k8-seed31" and k8.seed == 31 and k8.topology.k == 8
    assert k8.workload == sc.load("fattree-k8").workload
    assert scenario_of("tea:4").name == "tea-seed4"


def test_train_srem_command_refuses_bad_options(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from placement.mfg.cli import register

    app = typer.Typer()
    register(app)
    r = CliRunner().invoke(app, ["mfg", "train-srem", "--out", str(tmp_path), "--episodes", "0"])
    assert r.exit_code == 2 and "--episodes" in r.output
    r = CliRunner().invoke(app, ["mfg", "train-srem", "--out", str(tmp_path / "none"), "--resume"])
    assert r.exit_code == 2 and "nothing to resume" in r.output
