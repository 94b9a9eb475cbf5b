"""The `srem` command, run for real as a user would."""

import json
import subprocess
import sys
from pathlib import Path

from placement.evaluation.results import KEYS

SREM = [str(Path(sys.executable).parent / "srem")]


def srem(*args, ok=True):
    p = subprocess.run([*SREM, *args], capture_output=True, text=True, timeout=300)
    if ok:
        assert p.returncode == 0, p.stderr
    return p


def test_run_writes_results_and_plots(tmp_path):
    p = srem("run", "--agent", "lag", "--out", str(tmp_path))
    assert "10:00" in p.stdout and "20:00" in p.stdout
    rows = json.loads((tmp_path / "results.json").read_text())
    assert [r["hour"] for r in rows] == [10, 12, 14, 16, 18, 20]
    assert all(set(r) == set(KEYS) for r in rows)
    assert all(r["on_server"] + r["on_lm"] + r["on_em"] == 8 for r in rows)
    assert (tmp_path / "day.png").stat().st_size > 10_000


def test_run_milp_reports_optimality(tmp_path):
    scen = tmp_path / "small.yaml"
    scen.write_text(
        "vnfs: {types: 2, instances_per_type: 1}\nworkload: {chains: 8, max_chain_length: 2, test_days: 1}\n"
    )
    p = srem("run", "--scenario", str(scen), "--agent", "milp")
    assert "MILP per step" in p.stdout and p.stdout.count(" yes ") == 6


def test_train_resume_and_run_the_trained_agent(tmp_path):
    scen = tmp_path / "small.yaml"
    scen.write_text(
        "vnfs: {types: 2, instances_per_type: 1}\nworkload: {chains: 8, max_chain_length: 2, train_days: 5, test_days: 2}\n"
    )
    out = tmp_path / "run"
    srem("train", "--scenario", str(scen), "--episodes", "20", "--out", str(out), "--checkpoint-every", "10")
    assert (out / "ep000010.pt").exists() and (out / "policy.pt").stat().st_size < 2_000_000
    assert list((out / "tb").glob("events.out.tfevents.*"))
    srem("train", "--scenario", str(scen), "--episodes", "10", "--out", str(out), "--resume")
    assert len(json.loads((out / "rewards.json").read_text())["episode_rewards"]) == 30
    p = srem("run", "--scenario", str(scen), "--agent", "srem", "--model", str(out / "policy.pt"))
    assert "20:00" in p.stdout
    assert srem("run", "--agent", "srem", "--model", str(tmp_path / "none.pt"), ok=False).returncode == 2
    assert srem("run", "--agent", "ddqn-cm", "--model", str(out / "policy.pt"), ok=False).returncode == 2
    assert srem("train", "--filter", "fuzzy", ok=False).returncode == 2


def test_convergence_writes_fig5(tmp_path):
    scen = tmp_path / "small.yaml"
    scen.write_text(
        "vnfs: {types: 2, instances_per_type: 1}\nworkload: {chains: 6, max_chain_length: 2, train_days: 4}\n"
    )
    p = srem("convergence", "--scenario", str(scen), "--episodes", "12", "--out", str(tmp_path))
    data = json.loads((tmp_path / "convergence.json").read_text())
    assert set(data["rewards"]) == {"none", "static", "dynamic", "hybrid"}
    assert all(len(r) == 12 for r in data["rewards"].values())
    assert len((tmp_path / "convergence.csv").read_text().splitlines()) == 13
    assert (tmp_path / "convergence.png").exists() and "hybrid" in p.stdout
    assert "| hybrid |" in (tmp_path / "convergence.md").read_text()


def test_eval_compares_agents(tmp_path):
    scen = tmp_path / "small.yaml"
    scen.write_text("vnfs: {types: 2, instances_per_type: 1}\nworkload: {chains: 8, max_chain_length: 2}\n")
    srem(
        "eval",
        "--scenario",
        str(scen),
        "--agents",
        "random,lag,greedy,greedy-hold,milp",
        "--instances",
        "3",
        "--milp-instances",
        "1",
        "--convergence-episodes",
        "4",
        "--out",
        str(tmp_path),
    )
    data = json.loads((tmp_path / "eval.json").read_text())
    names = {"random", "lag", "greedy", "greedy-hold", "milp (1 days)"}
    assert set(data["agents"]) == names and data["instances"] == 3
    assert set(data["summary"]) == names and data["summary"]["lag"]["day_reward"]["n"] == 3
    assert data["summary"]["lag"]["day_reward"]["se"] >= 0
    assert "steps proven optimal" in data["notes"]["milp (1 days)"]
    assert len((tmp_path / "eval.csv").read_text().splitlines()) == 1 + 5 * 6
    md = (tmp_path / "eval.md").read_text()
    assert "| milp (1 days) |" in md and "Whole day" in md and " ± " in md
    assert set(json.loads((tmp_path / "convergence.json").read_text())["rewards"]) == {
        "none",
        "static",
        "dynamic",
        "hybrid",
    }
    assert (tmp_path / "eval.png").stat().st_size > 10_000


def test_scenario_new_validate_show(tmp_path):
    f = tmp_path / "k4.yaml"
    srem("scenario", "new", str(f), "--topology", "fattree", "--k", "4", "--seed", "12")
    assert "20 switches, 16 servers" in srem("scenario", "validate", str(f)).stdout
    assert "name: fattree-k4-seed12" in f.read_text()
    assert "VNF catalogue" in srem("scenario", "show", str(f)).stdout
    assert srem("scenario", "new", str(f), ok=False).returncode == 2


def test_topology_save_edit_and_use(tmp_path):
    net = tmp_path / "net.yaml"
    srem("topology", "save", str(net))
    assert "10 switches, 12 servers, 28 links" in srem("topology", "validate", str(net)).stdout
    scen = tmp_path / "s.yaml"
    scen.write_text("topology: {builder: file, file: net.yaml}\nworkload: {test_days: 2}\n")
    srem("run", "--scenario", str(scen), "--agent", "greedy")
    other = tmp_path / "other.yaml"
    other.write_text("vnfs: {types: 3}\nworkload: {max_chain_length: 3}\n")
    p = srem("run", "--scenario", str(other), "--agent", "srem", ok=False)  # the shipped policy: paper only
    assert p.returncode == 2 and "trained on scenario 'paper' (hash " in p.stderr
    assert "does not fit 'other' (hash " in p.stderr and len(p.stderr.strip().splitlines()) == 1
    net.write_text(net.read_text().replace("bw_mbps: 50000.0", "bw_mbps: -5"))
    p = srem("topology", "validate", str(net), ok=False)
    assert p.returncode == 2 and "controller" in p.stderr and "bw_mbps" in p.stderr


def test_user_mistakes_exit_2_without_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("workload: {chains: -3}\n")
    for args in (
        ["scenario", "validate", str(bad)],
        ["run", "--scenario", str(tmp_path / "missing.yaml")],
        ["run", "--agent", "oracle"],
        ["eval", "--instances", "0"],
    ):
        p = srem(*args, ok=False)
        assert p.returncode == 2, args
        assert "Traceback" not in p.stderr and "error:" in p.stderr
    assert "workload.chains" in srem("scenario", "validate", str(bad), ok=False).stderr


def test_figures_runs_every_agent_and_says_who_wins(tmp_path):
    scen = tmp_path / "small.yaml"
    scen.write_text(
        "vnfs: {types: 2, instances_per_type: 1}\n"
        "workload: {chains: 6, max_chain_length: 2, train_days: 4, test_days: 3}\n"
    )
    out = tmp_path / "fig"
    srem(
        "figures",
        "--out",
        str(out),
        "--scenarios",
        str(scen),
        "--agents",
        "mpc,srem,ddqn-cm,lag,greedy,greedy-hold,random,milp,milp-day",
        "--train-seeds",
        "0,1",
        "--episodes",
        "4",
        "--instances",
        "3",
        "--milp-instances",
        "1",
        "--milp-time-limit",
        "20",
        "--milp-day-time-limit",
        "30",
        "--policies",
        str(tmp_path / "policies"),
    )
    data = json.loads((out / "small" / "eval.json").read_text())
    assert {"mpc", "srem", "srem (seed 1)", "ddqn-cm", "greedy-hold", "milp (1 days)"} <= set(data["summary"])
    assert len(data["seed_spread"]["srem"]) == 2 and len(data["day_bound"]) == 1
    md = (out / "summary.md").read_text()
    assert "## small" in md and "best day reward" in md and "gap to day bound" in md
    assert "milp-day (1 days)" in md and "days proven optimal" in md
    assert len(list((tmp_path / "policies").glob("small-*/srem-seed*.pt"))) == 2
