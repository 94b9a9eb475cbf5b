"""Issue 21 (agent21): the privileged mpc-oracle teacher, imitation of it, and
gnn-refine (the policy ranks hosts, mpc's step-model search picks among its top ones)."""

from __future__ import annotations

import dataclasses
import itertools
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from placement.agents import DEFAULT_MODELS, agent_or_error, make_agent
from placement.gnn.cli import register
from placement.gnn.policy import load
from placement.gnn.refine import GuidedAgent
from placement.model import scenario as sc
from placement.model.constraints import storage_violations
from placement.model.simulate import DayRun, run_day
from placement.model.workload import build_problem
from placement.mpc.agent import MpcAgent
from placement.mpc.forecast import fit as fit_forecast
from placement.mpc.forecast import load as load_forecast
from placement.mpc.forecast import save as save_forecast
from placement.mpc.oracle import OracleMpcAgent
from tests.conftest import fattree
from topologies import InputError

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def shipped():
    return load(DEFAULT_MODELS["gnn-refine"])


def future_scrambled(run: DayRun, seed: int) -> DayRun:
    """The same state, with every step after the current one's rates and deadlines redrawn."""
    day = run.day
    rng = np.random.default_rng(seed)
    rate, deadline = day.rate.copy(), day.deadline.copy()
    rate[run.t + 1 :] = rng.permutation(rate[run.t + 1 :].ravel()).reshape(rate[run.t + 1 :].shape) * 3
    deadline[run.t + 1 :] = deadline[run.t + 1 :] * 0.2
    other = DayRun(run.problem, dataclasses.replace(day, rate=rate, deadline=deadline))
    other.t, other.placement, other.arc_util = run.t, run.placement.copy(), run.arc_util.copy()
    return other


def test_the_oracle_is_refused_as_a_test_time_agent(tiny) -> None:
    with pytest.raises(ValueError, match="privileged"):
        make_agent("mpc-oracle", tiny)
    with pytest.raises(InputError) as e:
        agent_or_error("mpc-oracle", tiny, 0, 30.0)
    assert "\n" not in str(e.value) and "privileged" in str(e.value)
    srem = [sys.executable, "-c", "from srem.cli import main; main()"]
    r = subprocess.run([*srem, "run", "--agent", "mpc-oracle", "--out", "/tmp/agent21-never"],
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 2 and "privileged" in r.stderr, r.stderr
    assert r.stderr.strip().count("\n") == 0 and not r.stdout


def test_only_the_oracle_reads_the_future(tiny, shipped) -> None:
    # Test-time agents decide the same whatever the coming steps hold; the oracle,
    # labelled privileged, does not (so the scrambled future is one it would act on).
    run = DayRun(tiny, tiny.day("test", 1))
    run.apply(run.placement)  # step 1: some future left, and a routed network
    changed = 0
    for seed in range(4):
        other = future_scrambled(run, seed)
        for agent in (MpcAgent(), make_agent("gnn-refine", tiny), make_agent("mpc-forecast", tiny)):
            assert np.array_equal(agent.decide(run), agent.decide(other)), (agent.name, seed)
        changed += not np.array_equal(OracleMpcAgent().decide(run), OracleMpcAgent().decide(other))
    assert changed >= 1


def test_oracle_value_at_the_last_step_is_mpc_value(tiny) -> None:
    run = DayRun(tiny, tiny.day("test", 0))
    while run.t < run.day.n_steps - 1:
        run.apply(run.placement)
    p = MpcAgent().decide(run)
    assert OracleMpcAgent().value(run, p) == pytest.approx(MpcAgent().value(run, p))


def test_refine_tries_only_the_policys_top_hosts(tiny, shipped) -> None:
    run = DayRun(tiny, tiny.day("test", 0))
    agent = GuidedAgent(policy=shipped, top=2, per_kind=0)
    agent.decide(run)  # sets the policy's ranking for this state
    starts = agent.starts(run)
    for i in range(tiny.cat.n_instances):
        hosts = agent.candidates(run, run.placement, i, starts)
        allowed = np.flatnonzero(run.mask()[i])
        assert set(hosts) <= set(allowed)
        extra = {int(p[i]) for p in starts}
        ranked = allowed[np.argsort(-agent._logits[i, allowed], kind="stable")[:2]]
        assert set(hosts) == set(ranked) | (extra & set(allowed))


def test_refine_runs_on_other_sizes_and_never_picks_a_masked_host(shipped) -> None:
    for s in (sc.default(), fattree(4, 3)):  # the paper tree, and a k=4 tree it never saw
        p = build_problem(s)
        run = DayRun(p, p.day("test", 0))
        agent = GuidedAgent(policy=shipped)
        static = p.cat.static_mask[p.cat.inst_type]
        while not run.done:
            want = agent.decide(run)
            assert static[np.arange(len(want)), want].all(), s.name
            assert not storage_violations(p.sub, p.cat, want), s.name
            o = run.apply(want)
            assert o.feasible and math.isfinite(o.reward)


def test_refine_is_deterministic_and_reproducible(tiny, shipped) -> None:
    agent = GuidedAgent(policy=shipped, forecast=load_forecast(), horizon=0)
    a = run_day(tiny, tiny.day("test", 2), agent)
    b = run_day(tiny, tiny.day("test", 2), make_agent("gnn-refine", tiny))
    assert [r.reward for r in a] == [r.reward for r in b]


def test_bad_policy_file_for_refine_is_one_line(tiny, tmp_path) -> None:
    bad = tmp_path / "trunc.pt"
    bad.write_bytes(DEFAULT_MODELS["gnn-refine"].read_bytes()[:1000])
    with pytest.raises(InputError) as e:
        agent_or_error("gnn-refine", tiny, 0, 30.0, bad)
    assert "\n" not in str(e.value) and str(bad) in str(e.value)


def test_train_command_refuses_an_unknown_teacher(tmp_path) -> None:
    app = typer.Typer()
    register(app)
    r = CliRunner().invoke(app, ["gnn", "train", "--teacher", "milp", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "--teacher" in r.output and r.output.strip().count("\n") == 0


def test_forecast_learns_the_diurnal_day_and_reads_no_future(tiny, tmp_path) -> None:
    fc = fit_forecast([tiny], 10)
    hours = [int(h) for h in tiny.day("train", 0).hours]
    w = tiny.scenario.workload
    for h, n in itertools.pairwise(hours):
        s = fc.steps[(h, n)]
        if (h < w.working_until) == (n < w.working_until):  # same phase: the shape's ratio
            assert s.rate_b == pytest.approx(1.0, abs=0.05)
            assert math.exp(s.rate_a) == pytest.approx(w.shape[n] / w.shape[h], rel=0.1)
        else:  # working -> evening: the evening level, whatever the working rate was
            assert abs(s.rate_b) < 0.05
            lo, hi = w.evening.rate_mbps
            assert lo < math.exp(s.rate_a) < hi
    day = tiny.day("test", 0)
    run = DayRun(tiny, day)
    run.apply(run.placement)
    a = fc.future_day(day, run.t, 0)
    b = fc.future_day(future_scrambled(run, 0).day, run.t, 0)
    assert np.array_equal(a.rate, b.rate) and np.array_equal(a.deadline, b.deadline)
    assert np.array_equal(a.rate[: run.t + 1], day.rate[: run.t + 1])
    path = tmp_path / "fc.yaml"
    save_forecast(fc, path)
    assert load_forecast(path).steps == fc.steps


def test_bad_forecast_files_are_one_line(tmp_path) -> None:
    good = load_forecast()  # the shipped one reads
    assert good.steps
    cases = {"missing": tmp_path / "none.yaml", "text": tmp_path / "t.yaml", "nan": tmp_path / "n.yaml",
             "fields": tmp_path / "f.yaml"}  # fmt: skip
    cases["text"].write_text("just: [text\n")
    cases["nan"].write_text("format: srem-rate-forecast\nsteps:\n- {hour: 10, next: 12, rate_a: .nan, "
                            "rate_b: 1, dl_a: 0, dl_b: 1}\n")  # fmt: skip
    cases["fields"].write_text("format: srem-rate-forecast\nsteps:\n- {hour: 10, next: 12}\n")
    for why, path in cases.items():
        with pytest.raises(InputError) as e:
            load_forecast(path)
        assert "\n" not in str(e.value) and str(path) in str(e.value), why


def test_forecast_command_fits_and_refuses_bad_options(tmp_path) -> None:
    app = typer.Typer()
    register(app)
    r = CliRunner().invoke(app, ["gnn", "forecast", "--scenarios", "0", "--out", str(tmp_path / "f.yaml")])
    assert r.exit_code == 2 and "--scenarios" in r.output and r.output.strip().count("\n") == 0
    r = CliRunner().invoke(
        app, ["gnn", "forecast", "--scenarios", "3", "--days", "2", "--out", str(tmp_path / "f.yaml")]
    )
    assert r.exit_code == 0, r.output
    assert load_forecast(tmp_path / "f.yaml").steps


def test_refine_per_kind_keeps_each_kinds_best_host(tiny, shipped) -> None:
    run = DayRun(tiny, tiny.day("test", 0))
    agent = GuidedAgent(policy=shipped, top=1, per_kind=1)
    agent.decide(run)
    kind = tiny.sub.host_kind
    for i in range(tiny.cat.n_instances):
        allowed = np.flatnonzero(run.mask()[i])
        hosts = agent.candidates(run, run.placement, i, agent.starts(run))
        assert set(kind[allowed]) == set(kind[hosts])  # every kind the filters allow is tried
        for k in set(kind[allowed]):
            of = allowed[kind[allowed] == k]
            assert of[np.argmax(agent._logits[i, of])] in hosts


def test_train_command_refuses_unknown_kinds(tmp_path) -> None:
    app = typer.Typer()
    register(app)
    r = CliRunner().invoke(app, ["gnn", "train", "--kinds", "paper,ring", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "ring" in r.output and r.output.strip().count("\n") == 0
