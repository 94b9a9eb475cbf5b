"""`srem migrate eval-loop` and the training options for the loop's policy: one-line errors,
a tiny run that writes its table, the top-up that completes a scale-out plan."""

import json

import numpy as np
import typer
from typer.testing import CliRunner

from migration import workload
from migration.baselines import State, no_move
from migration.cli import register
from migration.outcome import evaluate
from migration.translator import top_up


def app() -> typer.Typer:
    a = typer.Typer()
    register(a)
    return a


def test_eval_loop_writes_every_method_on_the_same_problems(tmp_path):
    r = CliRunner().invoke(app(), ["migrate", "eval-loop", "--out", str(tmp_path), "--instances", "2",
                                   "--flows", "3", "--time-limit", "0.5"])  # fmt: skip
    assert r.exit_code == 0, r.output
    rows = json.loads((tmp_path / "loop.json").read_text())
    methods = {x["method"] for x in rows}
    assert methods == {"planner", "deepmigration-loop", "deepmigration", "ofm", "size-greedy", "pairwise", "random",
                       "optimal"}  # fmt: skip
    per = {(x["config"], x["seed"]) for x in rows}
    assert len(per) == 7 * 2 and len(rows) == len(per) * len(methods)  # every method on every problem
    opt = {(x["config"], x["seed"]): x["total"] for x in rows if x["method"] == "optimal" and x["proven"]}
    for x in rows:  # nobody beats a proven optimum
        assert x["total"] >= opt.get((x["config"], x["seed"]), -np.inf) - 1e-6, x
    assert "| scale-out, 1 running, 1 over |" in (tmp_path / "loop.md").read_text()


def test_bad_options_are_one_line_and_exit_2(tmp_path):
    for args, word in [(["eval-loop", "--instances", "1"], "--instances"),
                       (["eval-loop", "--flows", "0"], "--flows"),
                       (["train", "--out", str(tmp_path), "--min-instances", "5", "--max-instances", "2"],
                        "--min-instances"),
                       (["train", "--out", str(tmp_path), "--init", str(tmp_path / "none.pt")], "no such policy"),
                       (["train", "--out", str(tmp_path), "--max-over", "0"], "--max-over")]:  # fmt: skip
        r = CliRunner().invoke(app(), ["migrate", *args])
        assert r.exit_code == 2 and word in r.output and "Traceback" not in r.output, (args, r.output)


def test_top_up_brings_every_source_under_th_high_where_flows_fit_and_never_overfills():
    for seed in range(9):
        n = (1, 2, 4)[seed % 3]
        p = workload.scale_out(n, max(1, n // 2), 0.6, 8, 10**9 + 9100 + seed, over=(0.05, 0.5))
        moves, extra = top_up(p, no_move(p))
        o = evaluate(p, moves)  # a forbidden move would raise here
        assert extra == len(moves) and o.buffer_ok
        load = np.bincount(
            [m.dst for m in moves], weights=p.rate[[m.flow for m in moves]], minlength=len(p.instances)
        )
        gained = load > 0
        assert (p.load[gained] + load[gained] <= p.thresholds.high * p.cap[gained] + 1e-6).all()
        s = State(p)
        for m in moves:
            s.move(m.flow, m.dst)
        for i in np.flatnonzero(p.active & (s.load > p.thresholds.high * p.cap + 1e-9)):
            left = np.flatnonzero((s.a == i) & p.movable & (s.a == p.src))  # still there, still movable
            assert not any(s.fits(int(f), j) for f in left for j in range(len(p.instances))), (seed, i)
