"""Placement's commands: `srem eval`, `figures`, `train`, `convergence`, `scenario …` and
`topology …` (the scenario's substrate), registered on the srem app by `srem.cli`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import topologies
from placement.agents import agent_or_error
from placement.evaluation import figures as figures_cli
from placement.evaluation import results
from placement.evaluation.days import ALL_AGENTS
from placement.model import scenario as sc
from placement.model.domain import HostKind
from placement.model.workload import build_problem, build_topology
from topologies import InputError

# Messages stay one line, and tables keep their columns, when output is piped.
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 120)


ScenarioOpt = Annotated[
    Path | None,
    typer.Option("--scenario", "-s", help="Scenario YAML or a bundled name: paper (default), fattree-k8."),
]


WorkersOpt = Annotated[
    int, typer.Option(help="Days run in parallel on a local Ray with this many workers (1: serial, no Ray).")
]
RayOpt = Annotated[
    str | None, typer.Option(help="Run the days on the Ray cluster at this address (ray://host:10001).")
]


def scenario_from(path: Path | None) -> sc.Scenario:
    return sc.default() if path is None else sc.load(path)


def step_table(title: str, rows: list[dict]) -> Table:
    t = Table(title=title)
    heads = ["hour", "AR", "IT", "BW", "RC", "total", "server", "LM", "EM", "decide ms"]
    for h in heads:
        t.add_column(h, justify="right")
    for r in rows:
        t.add_row(
            f"{int(r['hour']):02d}:00",
            f"{r['acceptance_ratio']:.3f}",
            f"{r['cost_it']:.3f}",
            f"{r['cost_bw']:.3f}",
            f"{r['cost_rc']:.3f}",
            f"{r['cost_total']:.3f}",
            _count(r["on_server"]),
            _count(r["on_lm"]),
            _count(r["on_em"]),
            f"{r['decision_ms']:.2f}",
        )
    return t


def _count(v: float) -> str:
    """Instances on a host kind: whole for a day, one decimal for a mean of days."""
    return f"{v:.0f}" if float(v).is_integer() else f"{v:.1f}"


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def evaluate(
    scenario: ScenarioOpt = None,
    agents: Annotated[
        str, typer.Option(help="Comma-separated agents (default: every agent srem has).")
    ] = ",".join(ALL_AGENTS),
    instances: Annotated[int, typer.Option(help="How many test days (instances).")] = 300,
    seed: Annotated[int, typer.Option()] = 0,
    out: Annotated[Path, typer.Option(help="Folder for eval.json and eval.png.")] = Path("results/eval"),
    milp_time_limit: Annotated[float, typer.Option(help="Seconds per MILP solve.")] = 30.0,
    model: Annotated[Path | None, typer.Option(help="Checkpoint for the srem agent.")] = None,
    ddqn_model: Annotated[
        Path | None, typer.Option("--ddqn-model", help="Checkpoint for the ddqn-cm agent.")
    ] = None,
    milp_instances: Annotated[
        int, typer.Option(help="Days the MILPs solve (seconds a step; the day MILP minutes a day).")
    ] = 3,
    milp_day_time_limit: Annotated[float, typer.Option(help="Seconds per day-MILP solve.")] = 120.0,
    milp_day_start: Annotated[
        str | None,
        typer.Option(
            help="Start the day MILP from this online agent's day (e.g. mpc-forecast): a MIP start."
        ),
    ] = None,
    convergence_episodes: Annotated[
        int, typer.Option(help="Also train the four filter settings this long (Fig. 5); 0 skips it.")
    ] = 0,
    workers: WorkersOpt = 1,
    ray_address: RayOpt = None,
) -> None:
    """Agents over the test set: whole-day means with standard errors and mean figures
    per hour (the paper's Fig. 6), as tables, JSON, CSV and a plot. The MILP runs on
    the first --milp-instances days only."""
    from placement.evaluation.days import evaluate_agents

    s = scenario_from(scenario)
    problem = build_problem(s)
    n = problem.n_days("test")
    if not 1 <= instances <= n:
        raise InputError("--instances", str(instances), f"must be in 1..{n} (the test set's size)")
    names = [a.strip() for a in agents.split(",") if a.strip()]
    models = {"srem": model, "ddqn-cm": ddqn_model}
    built = {
        name: agent_or_error(
            name, problem, seed, milp_time_limit, models.get(name), milp_day_time_limit, milp_day_start
        )
        for name in names
    }
    with progress_bar() as bar:

        def progress(name: str, total: int):
            task = bar.add_task(f"{name:>11}", total=total)
            return lambda k: bar.advance(task, k)

        if workers < 1:
            raise InputError("--workers", str(workers), "must be at least 1")
        ev = evaluate_agents(problem, built, instances, milp_instances, progress, workers, ray_address)
    _print_eval(s.name, ev)
    _write_eval(out, ev, f"{s.name}: mean of {instances} test days")
    if convergence_episodes:
        _convergence(s, problem, convergence_episodes, seed, out)


def _print_eval(name: str, ev) -> None:
    for label, rows in ev.by_agent.items():
        console.print(step_table(f"{name}: {label}, mean of test days", rows))
    t = Table(title=f"{name}: whole day, mean ± standard error over test days")
    t.add_column("agent")
    t.add_column("days", justify="right")
    for _, lbl, _ in results.DAY_KEYS:
        t.add_column(lbl, justify="right")
    gaps = ev.gap_to_bound()
    if gaps:
        t.add_column(f"gap to day bound ({len(ev.day_bound)} days)", justify="right")
    for label, figs in ev.summary.items():
        cells = [f"{figs[k]['mean']:{f[2:-1]}} ± {figs[k]['se']:{f[2:-1]}}" for k, _, f in results.DAY_KEYS]
        if gaps:
            g = gaps.get(label)
            cells.append(f"{g['mean']:.3f} ± {g['se']:.3f}" if g else "-")
        t.add_row(label, str(next(iter(figs.values()))["n"]), *cells)
    console.print(t)
    for label, note in ev.notes.items():
        console.print(f"{label}: {note}")


def _write_eval(out: Path, ev, title: str) -> None:
    results.write_json(out / "eval.json", ev.as_json())
    results.write_csv(out / "eval.csv", ev.by_agent)
    results.write_markdown(out / "eval.md", ev.by_agent, title, ev.summary, ev.notes, ev.gap_to_bound())
    results.plot_comparison(ev.by_agent, out / "eval.png", title)
    console.print(f"wrote {out / 'eval.json'}, {out / 'eval.csv'}, {out / 'eval.md'} and {out / 'eval.png'}")


def convergence(
    scenario: ScenarioOpt = None,
    episodes: Annotated[int, typer.Option(help="Training days per filter setting.")] = 3000,
    seed: Annotated[int, typer.Option()] = 0,
    out: Annotated[Path, typer.Option(help="Folder for convergence.json/.csv/.png.")] = Path(
        "results/convergence"
    ),
) -> None:
    """Train the four filter settings (none, static, dynamic, hybrid) on the same days
    with the same seed: reward per episode (the paper's Fig. 5) and when each converges."""
    if episodes < 2:
        raise InputError("--episodes", str(episodes), "must be at least 2")
    s = scenario_from(scenario)
    _convergence(s, build_problem(s), episodes, seed, out)


def _convergence(s: sc.Scenario, problem, episodes: int, seed: int, out: Path) -> None:
    from placement.dqn import convergence as figures
    from placement.dqn.network import FILTERS

    with progress_bar() as bar:
        tasks = {f: bar.add_task(f"{f:>8}", total=episodes) for f in FILTERS}
        curves = figures.convergence(problem, episodes, seed, on_episode=lambda f: bar.advance(tasks[f]))
    window = max(1, min(200, episodes // 10))
    finals = {f: sum(r[-window:]) / window for f, r in curves.items()}
    level = 0.95 * max(finals.values())
    t = Table(title=f"{s.name}: filtered DQN, {episodes} episodes, seed {seed}")
    heads = (
        "filter",
        f"reaches {level:.3f} at episode",
        "own plateau at episode",
        f"final reward (last {window})",
    )
    for h in heads:
        t.add_column(h, justify="right")
    summary = {}
    for f, r in curves.items():
        at = figures.episodes_to_converge(r, window)
        reach = figures.episodes_to_reach(r, level, window)
        summary[f] = {
            "reaches_level_at": reach,
            "level": level,
            "converged_at": at,
            "final_reward": finals[f],
        }
        t.add_row(f, "-" if reach is None else str(reach), "-" if at is None else str(at), f"{finals[f]:.3f}")
    console.print(t)
    results.write_json(
        out / "convergence.json", {"episodes": episodes, "seed": seed, "summary": summary, "rewards": curves}
    )
    lines = ["episode," + ",".join(curves)] + [
        f"{k + 1}," + ",".join(f"{curves[f][k]:.6g}" for f in curves) for k in range(episodes)
    ]
    (out / "convergence.csv").write_text("\n".join(lines) + "\n")
    figures.plot_convergence(curves, out / "convergence.png", f"{s.name}: reward per episode", window)
    md = [f"# {s.name}: filtered DQN, {episodes} episodes, seed {seed}", "", "| " + " | ".join(heads) + " |"]
    md.append("|---|---|---|---|")
    md += [
        f"| {f} | {v['reaches_level_at'] or '-'} | {v['converged_at'] or '-'} | {v['final_reward']:.3f} |"
        for f, v in summary.items()
    ]
    (out / "convergence.md").write_text("\n".join(md) + "\n")
    console.print(
        f"wrote {out / 'convergence.json'}, {out / 'convergence.csv'} and {out / 'convergence.png'}"
    )


def train_cmd(
    scenario: ScenarioOpt = None,
    agent: Annotated[str, typer.Option(help="srem (filtered DQN) or ddqn-cm (the baseline).")] = "srem",
    filter: Annotated[str, typer.Option("--filter", help="none, static, dynamic or hybrid.")] = "hybrid",
    episodes: Annotated[int, typer.Option(help="Training days to play.")] = 3000,
    seed: Annotated[int, typer.Option()] = 0,
    out: Annotated[Path, typer.Option(help="Folder for checkpoints and the reward curve.")] = Path(
        "runs/hybrid"
    ),
    resume: Annotated[bool, typer.Option(help="Continue from OUT/last.pt.")] = False,
    checkpoint_every: Annotated[
        int, typer.Option(help="Episodes between checkpoints (last.pt and a policy snapshot).")
    ] = 500,
    lr: Annotated[float | None, typer.Option(help="Learning rate (default: the paper's 0.2).")] = None,
    gamma: Annotated[float | None, typer.Option(help="Discount (default: the paper's 0.3).")] = None,
    shared_trunk: Annotated[
        bool, typer.Option(help="One hidden layer for all instances (large trees).")
    ] = False,
) -> None:
    """Train the SR-EM filtered DQN on the scenario's training days."""
    from placement.dqn import train as tr
    from placement.dqn.network import FILTERS, DqnConfig, ddqn_cm_config

    if filter not in FILTERS:
        raise InputError("--filter", filter, f"must be one of {', '.join(FILTERS)}")
    if episodes < 1:
        raise InputError("--episodes", str(episodes), "must be at least 1")
    s = scenario_from(scenario)
    problem = build_problem(s)
    last = out / "last.pt"
    if resume:
        if not last.exists():
            raise InputError(str(last), "checkpoint", "nothing to resume")
        st, cfg = tr.load(last, problem)
    else:
        changes = {k: v for k, v in (("lr", lr), ("gamma", gamma)) if v is not None}
        changes["shared_trunk"] = shared_trunk
        if agent not in ("srem", "ddqn-cm"):
            raise InputError("--agent", agent, "must be srem or ddqn-cm")
        cfg = DqnConfig(filter=filter, **changes) if agent == "srem" else ddqn_cm_config(**changes)
        st = None
    from torch.utils.tensorboard import SummaryWriter

    tb = SummaryWriter(str(out / "tb"))
    with progress_bar() as bar:
        label = cfg.filter if cfg.name == "srem" else cfg.name
        task = bar.add_task(f"{label:>8}", total=episodes)

        def on_episode(state, total):
            bar.advance(task)
            done = state.episode
            tb.add_scalar("episode/reward", total, done)
            tb.add_scalar("train/epsilon", tr.epsilon(cfg, state.step), done)
            tb.add_scalar("train/loss", state.last_loss, done)
            if done % checkpoint_every == 0:
                # Resumable state in one file; a small policy snapshot per period.
                tr.save(last, state, cfg, s)
                tr.save_policy(out / f"ep{done:06d}.pt", state, cfg, s)
            if done % 50 == 0:
                recent = state.episode_rewards[-50:]
                bar.update(task, description=f"{label:>8} R={sum(recent) / len(recent):.3f}")

        st = tr.train(problem, cfg, episodes, seed, state=st, on_episode=on_episode)
    tb.close()
    tr.save(last, st, cfg, s)
    tr.save_policy(out / "policy.pt", st, cfg, s)
    tr.write_curve(out / "rewards.json", st.episode_rewards)
    r = st.episode_rewards
    console.print(f"{st.episode} episodes; mean reward of the last 100: {sum(r[-100:]) / len(r[-100:]):.3f}")
    console.print(
        f"wrote {last} (resumable), {out / 'policy.pt'} (for --agent srem) and {out / 'rewards.json'}"
    )


def scenario_new(
    path: Annotated[Path, typer.Argument(help="Where to write the scenario YAML.")],
    topology: Annotated[str, typer.Option(help="paper or fattree.")] = "paper",
    k: Annotated[int, typer.Option(help="k of the fat-tree.")] = 8,
    seed: Annotated[int, typer.Option()] = 7,
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a scenario with every parameter of the model, ready to edit."""
    if path.exists() and not force:
        raise InputError(str(path), "file", "exists already (use --force to overwrite)")
    data = sc.to_dict(sc.default())
    # Named after what it is and its seed: two draws never share a name.
    data.update(name=f"{topology}" + (f"-k{k}" if topology == "fattree" else "") + f"-seed{seed}", seed=seed)
    data["topology"].update(builder=topology, k=k)
    s = sc.from_dict(data, str(path))
    path.write_text(sc.dump(s))
    console.print(f"wrote {path}")


def scenario_validate(path: Annotated[Path, typer.Argument()]) -> None:
    """Check a scenario: its YAML, every value, and that its topology and VNFs build."""
    s = sc.load(path)
    p = build_problem(s)
    console.print(
        f"{path}: ok ({p.sub.n_switches} switches, {p.sub.n_servers} servers, "
        f"{p.cat.n_instances} VNF instances, {s.workload.chains} chains per day)"
    )


def scenario_show(path: Annotated[Path | None, typer.Argument()] = None) -> None:
    """Print a scenario (default: the embedded one) and what it builds."""
    s = scenario_from(path)
    p = build_problem(s)
    console.print(yaml.safe_dump(sc.to_dict(s), sort_keys=False, default_flow_style=None))
    t = Table(title=f"{s.name}: VNF catalogue")
    for h in (
        "type",
        "instances",
        "switch MB",
        "server MB",
        "server Mbps",
        "RDMA reads",
        "fits LM",
        "fits EM",
    ):
        t.add_column(h, justify="right")
    lm = p.sub.host_kind == HostKind.LM
    em = p.sub.host_kind == HostKind.EM
    for v, name in enumerate(p.cat.names):
        t.add_row(
            name,
            str(int((p.cat.inst_type == v).sum())),
            f"{p.cat.switch_mb[v]:.1f}",
            f"{p.cat.server_mb[v]:.1f}",
            f"{p.cat.server_capacity[v]:.0f}",
            f"{p.cat.rdma_accesses[v]:.0f}",
            str(int(p.cat.static_mask[v, lm].sum())),
            str(int(p.cat.static_mask[v, em].sum())),
        )
    console.print(t)
    console.print(
        f"{p.sub.n_switches} switches, {p.sub.n_servers} servers, {p.sub.n_hosts} hosts, "
        f"{p.sub.n_arcs // 2} links; steps at {', '.join(f'{h}:00' for h in s.hours)}"
    )


def topology_save(
    path: Annotated[Path, typer.Argument(help="Where to write the topology YAML.")],
    scenario: ScenarioOpt = None,
) -> None:
    """Write the scenario's drawn substrate (every capacity, cost and delay) as YAML,
    to edit and use with `topology: {builder: file, file: PATH}`."""
    topologies.save(build_topology(scenario_from(scenario)), path)
    console.print(f"wrote {path}")


def topology_validate(path: Annotated[Path, typer.Argument()]) -> None:
    """Check a topology YAML: fields, values, node names and connectivity."""
    g = topologies.load(path)
    kinds = [d["kind"] for _, d in g.nodes(data=True)]
    console.print(
        f"{path}: ok ({kinds.count('switch')} switches, {kinds.count('server')} servers, "
        f"{g.number_of_edges()} links)"
    )


def register(app: typer.Typer) -> None:
    """Placement's commands: eval, figures, train, convergence, scenario …, topology …."""
    scenario_app = typer.Typer(help="Write, check and show scenario files.", no_args_is_help=True)
    topology_app = typer.Typer(help="Export and check substrate topologies.", no_args_is_help=True)
    app.command("eval")(evaluate)
    app.command()(convergence)
    app.command("train")(train_cmd)
    scenario_app.command("new")(scenario_new)
    scenario_app.command("validate")(scenario_validate)
    scenario_app.command("show")(scenario_show)
    topology_app.command("save")(topology_save)
    topology_app.command("validate")(topology_validate)
    app.add_typer(scenario_app, name="scenario")
    app.add_typer(topology_app, name="topology")
    figures_cli.register(app)
