"""`srem figures`: every agent on several scenarios, with training-seed spread.

Registered on the srem app through placement/cli.py (`register(app)`). One command
regenerates docs/figures/: for each scenario it trains the learned agents (one
policy per training seed), runs every agent on the test days, and writes the
per-scenario tables and plots, then one summary (summary.md / summary.json) that
says who wins where, with standard errors over days.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from placement.evaluation import results
from placement.evaluation.days import ALL_AGENTS, Evaluation, evaluate_agents
from placement.model import scenario as sc
from placement.model.workload import build_problem
from topologies import InputError

SHIPPED = Path(__file__).resolve().parent.parent / "models"


def scenario_of(spec: str) -> sc.Scenario:
    """`paper`, `seed:N` (the paper's ranges drawn with seed N), `fattree-kK[:N]`
    (a k-ary fat-tree, seed N, default 7), a bundled name / YAML file, or `NAME:N`, a
    bundled scenario (`tea`, `fattree-k8`) redrawn with seed N (new substrate draws,
    catalogue and days of the same ranges)."""
    base = sc.default()
    if spec == "paper":
        return base
    if spec.startswith("seed:"):
        n = int(spec[5:])
        return dataclasses.replace(base, seed=n, name=f"paper-seed{n}")
    name, _, seed = spec.partition(":")
    if seed and name in sc.bundled():
        if not seed.isdigit():
            raise InputError("--scenarios", spec, "the seed after ':' must be a whole number")
        return dataclasses.replace(sc.load(name), seed=int(seed), name=f"{name}-seed{seed}")
    if (
        spec.startswith("fattree-k")
        and not spec.endswith(".yaml")
        and not (sc.BUNDLED / f"{spec}.yaml").exists()
    ):
        k, _, seed = spec[len("fattree-k") :].partition(":")
        n = int(seed or 7)
        topo = dataclasses.replace(base.topology, builder="fattree", k=int(k))
        return dataclasses.replace(base, topology=topo, seed=n, name=f"fattree-k{k}-seed{n}")
    return sc.load(spec)


def _train_policy(problem, agent: str, episodes: int, seed: int, path: Path) -> None:
    from placement.dqn import train as tr
    from placement.dqn.network import DqnConfig, ddqn_cm_config

    # Exploration anneals over the first two thirds of the run, whatever its length.
    decay = max(6 * episodes * 2 // 3, 1)
    cfg = DqnConfig(eps_decay_steps=decay) if agent == "srem" else ddqn_cm_config(eps_decay_steps=decay)
    st = tr.train(problem, cfg, episodes, seed)
    tr.save_policy(path, st, cfg, problem.scenario)


def _trained_agent(problem, path: Path):
    from placement.dqn import train as tr

    st, cfg = tr.load(path, problem)
    return tr.agent_of(problem, st, cfg)


def run_scenario(
    s: sc.Scenario,
    out: Path,
    agents: list[str],
    train_seeds: list[int],
    episodes: int,
    instances: int,
    milp_instances: int,
    milp_time_limit: float,
    day_time_limit: float,
    shipped: bool,
    log,
    policies: Path = Path("runs/policies"),
    workers: int = 1,
    ray_address: str | None = None,
    progress=None,
    day_start: str | None = None,
) -> tuple[Evaluation, dict]:
    from placement.agents import agent_or_error

    problem = build_problem(s)
    # Not under docs/ (rebuilt by training); keyed by the scenario's hash, so a cached
    # policy is only reused for the very scenario it was trained on.
    pol = policies / f"{s.name}-{sc.fingerprint(s)}"
    built = {}
    spread: dict[str, list[float]] = {}
    for name in agents:
        if name not in ("srem", "ddqn-cm"):
            built[name] = agent_or_error(name, problem, 0, milp_time_limit, None, day_time_limit, day_start)
            continue
        seeds = train_seeds if name == "srem" else train_seeds[:1]
        for seed in seeds:
            path = pol / f"{name}-seed{seed}.pt"
            if shipped and s.name == "paper" and seed == 0:
                path = SHIPPED / f"{name}.pt"
            elif not path.exists():
                log(f"{s.name}: training {name} seed {seed} ({episodes} episodes)")
                _train_policy(problem, name, episodes, seed, path)
            label = name if seed == seeds[0] else f"{name} (seed {seed})"
            built[label] = _trained_agent(problem, path)
    log(f"{s.name}: evaluating {', '.join(built)} on {instances} test days")
    ev = evaluate_agents(problem, built, instances, milp_instances, progress, workers, ray_address)
    # Spread over training seeds: each seed's mean day reward.
    for label, figs in ev.summary.items():
        base = label.split(" (seed")[0]
        if base in ("srem", "ddqn-cm"):
            spread.setdefault(base, []).append(figs["day_reward"]["mean"])
    return ev, spread


def summary_markdown(runs: list[tuple[str, Evaluation, dict]], settings: str) -> str:
    from placement.evaluation.bound import bound_markdown
    from placement.evaluation.report import cross_tables

    out = ["# Every agent on every scenario", "", settings, "", *cross_tables([ev for _, ev, _ in runs])]
    per_day = bound_markdown([ev for _, ev, _ in runs])
    if per_day:
        out += ["## The day MILP's bound per test day (gap: (bound − day reward) / bound)", "", *per_day, ""]
    for name, ev, spread in runs:
        out += [f"## {name}", "", *results.summary_markdown(ev.summary, ev.notes, ev.gap_to_bound()), ""]
        for base, vals in spread.items():
            if len(vals) > 1:
                out.append(
                    f"- {base}: day reward per training seed {', '.join(f'{v:.3f}' for v in vals)} "
                    f"(mean {np.mean(vals):.3f}, SD {np.std(vals, ddof=1):.3f})"
                )
        out += [*verdict(ev), ""]
    return "\n".join(out) + "\n"


def verdict(ev: Evaluation) -> list[str]:
    """Who has the best day reward and working-hours acceptance among the agents run on
    every test day, by how many standard errors; then the MILPs, which ran on fewer
    days, against each agent on those same days."""
    full = {k: v for k, v in ev.summary.items() if not k.startswith("milp")}
    lines = []
    for key, label in (("day_reward", "day reward"), ("ar_working", "working-hours acceptance")):
        ranked = sorted(full, key=lambda k: -full[k][key]["mean"])
        if len(ranked) < 2:
            continue
        a, b = ranked[0], ranked[1]
        fa, fb = full[a][key], full[b][key]
        se = float(np.hypot(np.nan_to_num(fa["se"]), np.nan_to_num(fb["se"])))
        lead = fa["mean"] - fb["mean"]
        lines.append(
            f"- best {label} over all {fa['n']} days: **{a}** {fa['mean']:.3f} ± {fa['se']:.3f}, next {b} "
            f"{fb['mean']:.3f} ± {fb['se']:.3f} (lead {lead:.3f}, {lead / se if se > 0 else float('inf'):.1f} "
            "combined SE)"
        )
    for m in [k for k in ev.summary if k.startswith("milp")]:
        ref = ev.day_rewards.get(m, [])
        if not ref or not full:
            continue
        k = len(ref)
        same = {a: float(np.mean(ev.day_rewards[a][:k])) for a in full if a in ev.day_rewards}
        top = max(same, key=same.get)
        lines.append(
            f"- on the {k} day(s) {m.split(' (')[0]} ran: its day reward {np.mean(ref):.3f}; best other "
            f"agent there {top} {same[top]:.3f}"
        )
    return lines


def register(app: typer.Typer) -> None:
    @app.command("figures")
    def figures(
        out: Annotated[Path, typer.Option(help="Folder for every table and plot.")] = Path("docs/figures"),
        scenarios: Annotated[
            str,
            typer.Option(
                help="Comma-separated: paper, seed:N (paper ranges, seed N), fattree-kK[:N], a bundled "
                "name or a YAML file."
            ),
        ] = "paper,seed:11,seed:12,seed:13,fattree-k4,tea",
        agents: Annotated[str, typer.Option(help="Comma-separated agents.")] = ",".join(ALL_AGENTS),
        train_seeds: Annotated[str, typer.Option(help="Training seeds of srem (spread).")] = "0,1,2",
        episodes: Annotated[int, typer.Option(help="Training days per learned policy.")] = 6000,
        instances: Annotated[int, typer.Option(help="Test days per scenario.")] = 300,
        milp_instances: Annotated[int, typer.Option(help="Test days the MILPs solve.")] = 10,
        milp_time_limit: Annotated[float, typer.Option(help="Seconds per step MILP.")] = 30.0,
        milp_day_time_limit: Annotated[float, typer.Option(help="Seconds per day MILP.")] = 300.0,
        milp_day_start: Annotated[
            str | None,
            typer.Option(help="Start the day MILP from this online agent's day (e.g. mpc-forecast)."),
        ] = None,
        shipped: Annotated[
            bool, typer.Option(help="On the paper scenario, seed 0 is the shipped policy.")
        ] = True,
        policies: Annotated[Path, typer.Option(help="Where trained policies are kept (and reused).")] = Path(
            "runs/policies"
        ),
        workers: Annotated[
            int,
            typer.Option(help="Test days run in parallel on a local Ray with this many workers (1: serial)."),
        ] = 1,
        ray_address: Annotated[
            str | None, typer.Option(help="Run the test days on the Ray cluster at this address.")
        ] = None,
    ) -> None:
        """Every agent on every scenario (trained per scenario, several training seeds):
        per-scenario eval tables and plots, and summary.md saying who wins where."""
        import torch
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        # Decision times are compared at one thread (the networks' and HiGHS's own threads aside).
        torch.set_num_threads(1)
        console = Console()
        seeds = [int(x) for x in train_seeds.split(",") if x.strip()]
        names = [a.strip() for a in agents.split(",") if a.strip()]
        if not seeds or episodes < 1 or instances < 1:
            raise InputError("figures", "options", "needs a training seed, episodes >= 1 and instances >= 1")
        for spec in [x.strip() for x in scenarios.split(",") if x.strip()]:
            s = scenario_of(spec)
            n = min(instances, s.workload.test_days)
            d = out / s.name
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as bar:

                def progress(name: str, total: int, bar=bar, scenario=s.name):
                    task = bar.add_task(f"{scenario}: {name:>11}", total=total)
                    return lambda k: bar.advance(task, k)

                ev, spread = run_scenario(
                    s,
                    d,
                    names,
                    seeds,
                    episodes,
                    n,
                    milp_instances,
                    milp_time_limit,
                    milp_day_time_limit,
                    shipped,
                    console.print,
                    policies,
                    workers,
                    ray_address,
                    progress,
                    milp_day_start,
                )
            title = f"{s.name}: mean of {n} test days"
            results.write_json(d / "eval.json", {**ev.as_json(), "seed_spread": spread})
            results.write_csv(d / "eval.csv", ev.by_agent)
            results.write_markdown(d / "eval.md", ev.by_agent, title, ev.summary, ev.notes, ev.gap_to_bound())
            results.plot_comparison(ev.by_agent, d / "eval.png", title)
            settings = settings_line(
                s.name,
                n,
                names,
                episodes,
                seeds,
                milp_instances,
                milp_time_limit,
                milp_day_time_limit,
                milp_day_start,
            )
            results.write_json(d / "settings.json", {"settings": settings})
            # Rebuilt from every scenario folder after each one, so a long (or split) run
            # leaves a summary of everything finished so far.
            write_summary(out)
            console.print(f"wrote {d}/eval.* and {out / 'summary.md'}")


def settings_line(
    scenario: str,
    n: int,
    names: list[str],
    episodes: int,
    seeds: list[int],
    milp_instances: int,
    step_limit: float,
    day_limit: float,
    day_start: str | None = None,
) -> str:
    """What one scenario's run did, naming only the parts that ran."""
    parts = [f"{scenario}: {n} test days"]
    trained = [a for a in names if a in ("srem", "ddqn-cm")]
    if trained:
        parts.append(
            f"{' and '.join(trained)} trained {episodes} days per training seed ({', '.join(map(str, seeds))})"
        )
    if "milp" in names:
        parts.append(f"per-step MILP on {min(n, milp_instances)} days ({step_limit:.0f} s a step)")
    if "milp-day" in names:
        parts.append(
            f"day MILP on {min(n, milp_instances)} days ({day_limit:.0f} s a day"
            + (f", started from {day_start}'s day)" if day_start else ")")
        )
    return "; ".join(parts) + "."


def write_summary(out: Path) -> None:
    runs, index, settings = [], {}, set()
    for f in sorted(out.glob("*/eval.json")):
        data = json.loads(f.read_text())
        fields = {k: data[k] for k in ("scenario", "instances") if k in data}
        ev = Evaluation(**fields)
        for k in ("summary", "notes", "day_rewards", "day_bound", "day_milp"):
            setattr(ev, k, data.get(k, getattr(ev, k)))
        ev.by_agent = data["agents"]
        spread = data.get("seed_spread", {})
        runs.append((ev.scenario, ev, spread))
        index[ev.scenario] = {"summary": ev.summary, "notes": ev.notes, "seed_spread": spread}
        if (f.parent / "settings.json").exists():
            settings.add(json.loads((f.parent / "settings.json").read_text())["settings"])
    (out / "summary.md").write_text(summary_markdown(runs, "Settings: " + " ".join(sorted(settings))))
    (out / "summary.json").write_text(json.dumps(index, indent=2) + "\n")
