"""`srem migrate …`: flow migration decisions (DeepMigration and its baselines).

    srem migrate new FILE --scenario scale-out --instances 10 --hot 4 --threshold 0.6 --seed 1
    srem migrate validate FILE
    srem migrate plan FILE [--method deepmigration|ofm|size-greedy|pairwise|random|optimal] [--model PT] [--json]
    srem migrate compare FILE [--time-limit S]
    srem migrate train --out DIR [--iterations N] [--seed S] [--resume]
    srem migrate eval [--quick] [--instances N] [--out docs/migration]

Registered by the application CLI through `register(app)`. Bad input is one red line and
exit status 2.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.console import Console
from rich.table import Table

from topologies.errors import InputError

app = typer.Typer(help="Decide which flows move where when NF instances overload, idle or drift out of balance.",
                  no_args_is_help=True)  # fmt: skip
METHOD_NAMES = ("deepmigration", "ofm", "size-greedy", "pairwise", "random", "optimal")


def _fail(e: InputError) -> None:
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {e}", highlight=False)
    raise typer.Exit(2)


def _model(path: Path | None):
    from migration.agent import DEFAULT_MODEL, load_model

    p = path or DEFAULT_MODEL
    if not p.exists():
        raise InputError("--model", str(p), "no such file")
    try:
        return load_model(p)
    except Exception as e:
        raise InputError(
            "--model", str(p), f"not a DeepMigration checkpoint ({str(e).splitlines()[0]})"
        ) from None


def _run(method: str, p, dm_model, time_limit: float):
    """One method's moves (and the MILP's result); `dm_model` is loaded before any timing starts."""
    from migration import baselines, milp
    from migration.agent import deepmigration

    if method == "deepmigration":
        return deepmigration(p, dm_model), None
    if method == "optimal":
        r = milp.solve(p, time_limit)
        return r.moves, r
    fn = {"ofm": lambda q: baselines.ofm(q, time_limit), "size-greedy": baselines.size_greedy,
          "pairwise": baselines.pairwise, "random": lambda q: baselines.random_plan(q, q.seed or 0)}[method]  # fmt: skip
    return fn(p), None


@app.command()
def new(
    file: Annotated[Path, typer.Argument(help="YAML file to write.")],
    scenario: Annotated[str, typer.Option(help="scale-out | scale-in | balance")] = "scale-out",
    instances: Annotated[int, typer.Option(help="Active NF instances.")] = 10,
    hot: Annotated[int, typer.Option(help="Overloaded (scale-out) / underloaded (scale-in) instances.")] = 4,
    threshold: Annotated[float, typer.Option(help="Th_high (scale-out) or Th_low (scale-in).")] = 0.6,
    flows_per_instance: Annotated[int, typer.Option(help="Flows per instance, on average.")] = 40,
    seed: Annotated[int, typer.Option()] = 0,
    force: Annotated[bool, typer.Option(help="Overwrite FILE.")] = False,
) -> None:
    """Write a generated problem (seeded heavy-tailed flows) as an editable YAML file."""
    from migration import problems

    try:
        if file.exists() and not force:
            raise InputError(str(file), "file", "exists already (use --force to overwrite)")
        doc = {"generate": {"scenario": scenario, "instances": instances, "hot": hot, "threshold": threshold,
                            "flows_per_instance": flows_per_instance, "seed": seed}}  # fmt: skip
        p = problems.parse(doc, "options")
        file.write_text(yaml.safe_dump(problems.dump(p), sort_keys=False))
    except InputError as e:
        _fail(e)
    Console().print(f"wrote {file}: {p.scenario}, {int(p.active.sum())} instances, {len(p.flows)} flows")


@app.command()
def validate(file: Annotated[Path, typer.Argument(help="Problem YAML.")]) -> None:
    """Check a problem file; print what it holds and whether its scenario's trigger holds."""
    from migration import problems, workload

    try:
        p = problems.load(file)
    except InputError as e:
        _fail(e)
    u = p.util[p.active]
    Console().print(
        f"{file}: ok — {p.scenario}, {int(p.active.sum())} active + {int((~p.active).sum())} spare instances, "
        f"{len(p.flows)} flows ({int(p.movable.sum())} movable), utilisation {u.min():.0%}..{u.max():.0%}; "
        + ("its trigger holds" if workload.triggered(p) else "its trigger does not hold (nothing to do)")
    )


@app.command()
def plan(
    file: Annotated[Path, typer.Argument(help="Problem YAML.")],
    method: Annotated[str, typer.Option(help=" | ".join(METHOD_NAMES))] = "deepmigration",
    model: Annotated[
        Path | None, typer.Option(help="DeepMigration checkpoint (default: the shipped one).")
    ] = None,
    time_limit: Annotated[float, typer.Option(help="MILP seconds (optimal; OFM in scale-in).")] = 10.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the moves and outcome as JSON.")] = False,
) -> None:
    """Decide which flows move where, and what it costs."""
    from migration import problems
    from migration.outcome import evaluate

    try:
        if method not in METHOD_NAMES:
            raise InputError("--method", method, f"must be one of {', '.join(METHOD_NAMES)}")
        p = problems.load(file)
        dm = _model(model) if method == "deepmigration" else None
        t0 = time.perf_counter()
        moves, extra = _run(method, p, dm, time_limit)
        ms = (time.perf_counter() - t0) * 1e3
    except InputError as e:
        _fail(e)
    o = evaluate(p, moves)
    names = [i.name for i in p.instances]
    if as_json:
        out = {"method": method, "ms": ms, "moves": [[p.flows[m.flow].name, names[m.src], names[m.dst]] for m in moves],
               "outcome": {**o.__dict__, "ratio": o.ratio}}  # fmt: skip
        if extra is not None:
            out["milp"] = {"bound": extra.bound, "proven": extra.proven, "gap": extra.gap}
        typer.echo(json.dumps(out, default=float))
        return
    t = Table(title=f"{method} on {p.name}: {len(moves)} moves")
    for c in ("flow", "Mbps", "from", "to", "cost"):
        t.add_column(c)
    for m in moves[:40]:
        t.add_row(
            p.flows[m.flow].name,
            f"{p.rate[m.flow]:.1f}",
            names[m.src],
            names[m.dst],
            f"{p.cost[m.flow, m.dst]:.2f}",
        )
    if len(moves) > 40:
        t.add_row("…", "", "", "", "")
    c = Console()
    c.print(t)
    c.print(f"J {o.total:.1f} = migration {o.migration:.1f} + resource {o.resource:.0f} (+{o.added} −{o.removed} "
            f"instances) + overload {o.overload:.1f} + balance {o.balance:.1f}; variance ratio {o.ratio:.2f}; "
            f"{o.sla_violations} SLA violations; {ms:.1f} ms")  # fmt: skip
    if extra is not None:
        c.print(
            f"MILP: {'proven optimal' if extra.proven else f'bound {extra.bound:.1f}, gap {100 * extra.gap:.2f} %'}"
        )


@app.command()
def compare(
    file: Annotated[Path, typer.Argument(help="Problem YAML.")],
    model: Annotated[Path | None, typer.Option(help="DeepMigration checkpoint.")] = None,
    time_limit: Annotated[float, typer.Option(help="MILP seconds.")] = 10.0,
) -> None:
    """Every method on one problem."""
    from migration import problems
    from migration.outcome import evaluate

    try:
        p = problems.load(file)
        dm = _model(model)
        _run("deepmigration", p, dm, time_limit)  # warm-up: first-call allocations stay out of the timing
        t = Table(title=f"{p.name} ({p.scenario})")
        t.add_column("method", no_wrap=True)
        for col in ("J", "migration", "resource", "overload", "var ratio", "moves", "ms"):
            t.add_column(col, justify="right")
        for m in METHOD_NAMES:
            t0 = time.perf_counter()
            moves, extra = _run(m, p, dm, time_limit)
            ms = (time.perf_counter() - t0) * 1e3
            o = evaluate(p, moves)
            label = (
                m
                if extra is None
                else f"{m} ({'proven' if extra.proven else f'gap {100 * extra.gap:.1f} %'})"
            )
            t.add_row(label, f"{o.total:.1f}", f"{o.migration:.1f}", f"{o.resource:.0f}", f"{o.overload:.1f}",
                      f"{o.ratio:.2f}", str(o.moves), f"{ms:.1f}")  # fmt: skip
    except InputError as e:
        _fail(e)
    Console().print(t)


@app.command()
def train(
    out: Annotated[
        Path, typer.Option(help="Run directory (checkpoint, TensorBoard logs, deepmigration.pt).")
    ],
    iterations: Annotated[int, typer.Option(help="Policy-gradient iterations.")] = 700,
    episodes: Annotated[int, typer.Option(help="Episodes per batch (N).")] = 8,
    seed: Annotated[int, typer.Option()] = 0,
    resume: Annotated[bool, typer.Option(help="Go on from OUT/checkpoint.pt.")] = False,
    min_instances: Annotated[int, typer.Option(help="Smallest instance count drawn.")] = 8,
    max_instances: Annotated[int, typer.Option(help="Largest instance count drawn.")] = 30,
    min_flows: Annotated[int, typer.Option(help="Fewest flows per instance drawn.")] = 10,
    max_over: Annotated[float, typer.Option(help="Scale-out: overload up to Th_high + this.")] = 0.25,
    omega: Annotated[float, typer.Option(help="ω, cost per unit of utilisation over Th_high.")] = 1000.0,
    init: Annotated[Path | None, typer.Option(help="Start from this policy (fine-tuning).")] = None,
) -> None:
    """Train DeepMigration (REINFORCE, Algorithm 1); ship OUT/deepmigration.pt as migration/models/.

    The orchestration loop's policy (deepmigration-loop.pt) is a fine-tune of the shipped one on
    loop-sized problems: --init migration/models/deepmigration.pt --min-instances 1
    --max-instances 12 --min-flows 3 --max-over 0.5 --omega 5000 (docs/migration.md)."""
    import torch

    from migration.train import Config
    from migration.train import train as run_training

    try:
        if iterations < 1 or episodes < 2:
            raise InputError(
                "--iterations/--episodes", f"{iterations}/{episodes}", "need ≥ 1 iteration, ≥ 2 episodes"
            )
        if resume and not (out / "checkpoint.pt").exists():
            raise InputError(str(out), "checkpoint.pt", "nothing to resume")
        if not 1 <= min_instances <= max_instances:
            raise InputError("--min-instances/--max-instances", f"{min_instances}/{max_instances}",
                             "need 1 ≤ min ≤ max")  # fmt: skip
        if not 1 <= min_flows <= 40:
            raise InputError("--min-flows", str(min_flows), "need 1 .. 40 (the most drawn is 40)")
        if not 0.03 < max_over <= 2 or omega < 0:
            raise InputError("--max-over/--omega", f"{max_over}/{omega}", "need 0.03 < max-over ≤ 2, ω ≥ 0")
        if init is not None and not init.is_file():
            raise InputError(str(init), "--init", "no such policy file")
    except InputError as e:
        _fail(e)
    torch.set_num_threads(1)
    cfg = Config(seed=seed, iterations=iterations, episodes=episodes, min_instances=min_instances,
                 max_instances=max_instances, min_flows=min_flows, max_over=max_over, omega=omega,
                 init=str(init or ""))  # fmt: skip
    run_training(cfg, out, resume=resume)
    Console().print(f"wrote {out / 'deepmigration.pt'} (TensorBoard: {out / 'tb'})")


@app.command("eval")
def eval_(
    out: Annotated[Path, typer.Option(help="Where figures and tables go.")] = Path("docs/migration"),
    quick: Annotated[
        bool, typer.Option(help="20 flows per instance, 2 s MILP limit (the committed run).")
    ] = False,
    instances: Annotated[int, typer.Option(help="Seeded instances per configuration (≥ 2).")] = 20,
    time_limit: Annotated[float | None, typer.Option(help="MILP seconds per instance.")] = None,
    sizes: Annotated[str | None, typer.Option(help="Load-balancing sizes, e.g. 10,20,30,40,100,200.")] = None,
    flows: Annotated[
        int | None, typer.Option(help="Flows per instance, on average (default 40; --quick 20).")
    ] = None,
    model: Annotated[Path | None, typer.Option(help="DeepMigration checkpoint.")] = None,
) -> None:
    """Figs. 4–7: every method on the same seeded instances, ± SE, with the optimum and the paper's numbers."""
    import torch

    from migration import experiments as ex

    try:
        st = ex.Settings.quick_settings() if quick else ex.Settings()
        if instances < 2:
            raise InputError("--instances", str(instances), "must be ≥ 2 (standard errors)")
        st.instances = instances
        if time_limit is not None:
            if time_limit <= 0:
                raise InputError("--time-limit", str(time_limit), "must be > 0")
            st.time_limit = time_limit
        if flows is not None:
            if flows < 1:
                raise InputError("--flows", str(flows), "must be ≥ 1")
            st.flows = flows
        if sizes:
            try:
                st.balance_sizes = tuple(int(s) for s in sizes.split(","))
            except ValueError:
                raise InputError("--sizes", sizes, "must be comma-separated integers") from None
            if min(st.balance_sizes) < 2:
                raise InputError("--sizes", sizes, "each size must be ≥ 2")
            st.time_sizes = st.balance_sizes
            st.time_repeats = 1
        m = _model(model)
    except InputError as e:
        _fail(e)
    torch.set_num_threads(1)
    command = (
        "srem migrate eval"
        + (" --quick" if quick else "")
        + (f" --instances {instances}" if instances != 20 else "")
    )
    t0 = time.perf_counter()
    rows = ex.run(st, m)
    secs = time.perf_counter() - t0
    ex.write(rows, st, out, secs, command)
    Console().print(f"wrote {out}/results.md, results.json and fig4–7 in {secs / 60:.1f} min")


@app.command("eval-loop")
def eval_loop(
    out: Annotated[Path, typer.Option(help="Where loop.md and loop.json go.")] = Path("docs/migration"),
    instances: Annotated[int, typer.Option(help="Held-out problems per configuration (≥ 2).")] = 20,
    flows: Annotated[int, typer.Option(help="Flows per instance, on average.")] = 8,
    time_limit: Annotated[float, typer.Option(help="MILP seconds per problem.")] = 2.0,
) -> None:
    """Every method (both policies) on problems the size of the orchestration loop's, ± SE, with the optimum."""
    import torch

    from migration import loopeval

    try:
        if instances < 2:
            raise InputError("--instances", str(instances), "must be ≥ 2 (standard errors)")
        if flows < 1 or time_limit <= 0:
            raise InputError("--flows/--time-limit", f"{flows}/{time_limit}", "need ≥ 1 flow, a limit > 0")
    except InputError as e:
        _fail(e)
    torch.set_num_threads(1)
    command = "srem migrate eval-loop" + (f" --instances {instances}" if instances != 20 else "")
    t0 = time.perf_counter()
    rows = loopeval.run(instances, flows, time_limit)
    path = loopeval.write(rows, out, time.perf_counter() - t0, command)
    Console().print(f"wrote {path} and loop.json in {(time.perf_counter() - t0) / 60:.1f} min")


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="migrate")
