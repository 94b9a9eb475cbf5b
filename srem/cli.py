"""`srem`: the command line. It only composes the subsystems' commands: placement
(run's model side, eval, figures, train, scenario, topology), the reference target
(p4c, switch, stf), the EMAC (memserver), the NFs (nf, nf-host), the controller
(control) and the emulation (deploy, replay, shell, run --emulate)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from controller.loop import cli as controller_cli
from controller.orchestration import cli as orchestration_cli
from emac import cli as emac_cli
from emulation import cli as emulation_cli
from emulation import failures as failures_cli
from emulation import inject as inject_cli
from migration import cli as migration_cli
from nfs import cli as nfs_cli
from p4target import cli as p4target_cli
from p4target.compiler.errors import P4Error
from placement import cli as placement_cli
from placement.agents import NAMES, agent_or_error
from placement.cli import ScenarioOpt, console, scenario_from, step_table
from placement.evaluation import results
from placement.gnn import cli as gnn_cli
from placement.mfg import cli as mfg_cli
from placement.model.simulate import run_day
from placement.model.workload import build_problem
from prediction import cli as prediction_cli
from topologies import InputError

app = typer.Typer(help="Place and re-place VNFs over servers and P4 switch memories.", no_args_is_help=True)


@app.command()
def run(
    scenario: ScenarioOpt = None,
    agent: Annotated[
        str,
        typer.Option(
            help="mpc-forecast (default: the best day reward on every held-out scenario of "
            f"docs/results.md), gnn, gnn-refine, mfg, srem, ddqn-cm or one of: {', '.join(NAMES)}."
        ),
    ] = "mpc-forecast",
    seed: Annotated[int, typer.Option(help="Seed of the agent's randomness.")] = 0,
    day: Annotated[int, typer.Option(help="Which day of the test set.")] = 0,
    out: Annotated[Path | None, typer.Option(help="Write results.json and plots here.")] = None,
    milp_time_limit: Annotated[float, typer.Option(help="Seconds per MILP solve.")] = 30.0,
    model: Annotated[
        Path | None,
        typer.Option(help="Policy for --agent gnn, gnn-refine, mfg, srem or ddqn-cm (default: shipped)."),
    ] = None,
    emulate: Annotated[
        bool,
        typer.Option(help="Also play the day on the emulated fabric (Mininet, root) and measure packets."),
    ] = False,
    seconds_per_step: Annotated[
        float, typer.Option(help="--emulate: seconds each 2-h step is played.")
    ] = 10.0,
    pps_budget: Annotated[
        float, typer.Option(help="--emulate: packets/s of the busiest step, all chains together.")
    ] = 300.0,
    target: Annotated[str, typer.Option(help="--emulate: srem or simple_switch_grpc switches.")] = "srem",
    compiler: Annotated[
        str | None,
        typer.Option(
            help="--emulate: srem or p4c-bm2-ss (default: p4c-bm2-ss on simple_switch_grpc where installed)."
        ),
    ] = None,
    trace: Annotated[
        bool, typer.Option(help="--emulate on BMv2: per-packet logs and pcaps of every switch.")
    ] = False,
    em: Annotated[
        bool,
        typer.Option(
            help="--emulate: NFs in EM are read from memory servers by RDMA (--no-em: served from LM tables)."
        ),
    ] = True,
    orchestration: Annotated[
        Path | None,
        typer.Option(
            help="--emulate: run the orchestration loop between the boundaries over this YAML's service "
            "(orchestration:, service:, traffic:); default: off."
        ),
    ] = None,
    steps: Annotated[int | None, typer.Option(help="--emulate: play only the first N steps.")] = None,
    risk: Annotated[
        str | None,
        typer.Option(
            help="--orchestration: the failure-risk hook, MODULE:FUNCTION (e.g. prediction.hook:psutil)."
        ),
    ] = None,
) -> None:
    """Run one day: the agent re-places every instance at each step."""
    s = scenario_from(scenario)
    problem = build_problem(s)
    if not 0 <= day < problem.n_days("test"):
        raise InputError("--day", str(day), f"the test set has days 0..{problem.n_days('test') - 1}")
    a = agent_or_error(agent, problem, seed, milp_time_limit, model)
    if not emulate and (orchestration is not None or steps is not None or risk is not None):
        raise InputError(
            "--orchestration/--steps/--risk", "", "run on the emulated fabric only: add --emulate"
        )
    if risk is not None and orchestration is None:
        raise InputError("--risk", risk, "acts on the orchestration loop: add --orchestration")
    if emulate:
        if seconds_per_step <= 0 or pps_budget <= 0:
            raise InputError("--seconds-per-step/--pps-budget", "", "must be > 0")
        if steps is not None and steps < 1:
            raise InputError("--steps", str(steps), "must be at least 1")
        title = f"{s.name}: test day {day}, agent {agent}"
        rows = emulation_cli.run_emulated(
            s, problem, day, a, title, out, seconds_per_step=seconds_per_step, pps_budget=pps_budget,
            target=target, em=em, compiler=compiler, trace=trace, orchestration=orchestration, steps=steps, risk=risk,
        )  # fmt: skip
        console.print(step_table(title, rows))
        return
    records = results.records_json(run_day(problem, problem.day("test", day), a))
    console.print(step_table(f"{s.name}: test day {day}, agent {agent}", records))
    if hasattr(a, "note"):  # the day MILP: proven or bound and gap
        console.print(f"{agent}: {a.note()}")
    if hasattr(a, "results"):  # the MILP: say how exact each step's answer is
        t = Table(title="MILP per step")
        for h in ("hour", "reward", "bound", "gap", "optimal", "seconds"):
            t.add_column(h, justify="right")
        for r, m in zip(records, a.results, strict=True):
            t.add_row(
                f"{r['hour']:02d}:00",
                f"{m.objective:.4f}",
                f"{m.bound:.4f}",
                f"{m.gap:.2e}",
                "yes" if m.optimal else "no",
                f"{m.seconds:.1f}",
            )
        console.print(t)
    if out:
        results.write_json(out / "results.json", records)
        results.plot_day(records, out / "day.png", f"{s.name}: test day {day}, agent {agent}")
        console.print(f"wrote {out / 'results.json'} and {out / 'day.png'}")


# Subsystems own their commands.
placement_cli.register(app)
p4target_cli.register(app)
emac_cli.register(app)
nfs_cli.register(app)
controller_cli.register(app, agent_or_error)
emulation_cli.register(app)
prediction_cli.register(app)
failures_cli.register(app)  # srem predict replay (the emulated fabric's side of srem predict)
inject_cli.register(app)
mfg_cli.register(app)
gnn_cli.register(app)
orchestration_cli.register(app)
migration_cli.register(app)


def main() -> None:
    try:
        app()
    except InputError as e:
        Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {e}", highlight=False)
        sys.exit(2)
    except P4Error as e:  # a P4 program's own mistake: file:line:col: error: …
        Console(stderr=True, soft_wrap=True).print(str(e), highlight=False, markup=False)
        sys.exit(2)
