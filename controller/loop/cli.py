"""`srem control`: the controller's loop on the fabric that `srem deploy` holds up (found
through its fabric.json). Run `srem replay` beside it: packets flow while it reconfigures.

    srem deploy                        # terminal 1: the fabric, until Ctrl-C
    srem control --interval 12         # terminal 2: the agent re-places every interval
    srem replay --seconds-per-step 9   # terminal 3: the day's packets, measured
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from controller.fabric.inventory import FABRIC_FILE, load_deployment
from topologies import InputError

console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 120)
FabricOpt = Annotated[Path, typer.Option(help="fabric.json written by srem deploy.")]


StepsOpt = Annotated[
    int | None, typer.Option(help="Stop after this many steps (default: the rest of the day).")
]


def stop_on_signals() -> threading.Event:
    """Ctrl-C or SIGTERM sets the event: the step under way is finished first."""
    stop = threading.Event()

    def handler(*_) -> None:
        if not stop.is_set():
            console.print("stopping after this step (Ctrl-C)")
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
    return stop


def control(
    make_agent: Callable,
    fabric: FabricOpt = FABRIC_FILE,
    agent: Annotated[
        str,
        typer.Option(
            help="mpc-forecast (default), mpc, gnn-refine, srem, ddqn-cm or a baseline, as for srem run."
        ),
    ] = "mpc-forecast",
    seed: Annotated[int, typer.Option(help="Seed of the agent's randomness.")] = 0,
    model: Annotated[Path | None, typer.Option(help="Policy for --agent srem or ddqn-cm.")] = None,
    milp_time_limit: Annotated[float, typer.Option(help="Seconds per MILP solve.")] = 30.0,
    interval: Annotated[float, typer.Option(help="Seconds between steps (one 2-h step of the day).")] = 10.0,
    steps: StepsOpt = None,
    read_workers: Annotated[
        int, typer.Option(help="Switches read back at once (1: one after another, each stalls less).")
    ] = 16,
    out: Annotated[Path, typer.Option(help="results.json goes here.")] = Path("results/control"),
    orchestration: Annotated[
        Path | None,
        typer.Option(
            help="Run the orchestration loop between the steps over this YAML's service (orchestration:, "
            "service:); its JSON lines, intervals and timeline.png go to --out. Default: off."
        ),
    ] = None,
    risk: Annotated[
        str | None,
        typer.Option(
            help="--orchestration: the failure-risk hook, MODULE:FUNCTION (e.g. prediction.hook:psutil); "
            "default: none."
        ),
    ] = None,
) -> None:
    """The controller's loop on the fabric srem deploy holds: every interval, read the
    switches' counters, ask the agent for a placement, apply it make-before-break to the
    switches (P4Runtime, verified) and the server NFs; one row per step, results.json.
    With --orchestration, the orchestration loop's periods run between the steps, in this
    process and over its P4Runtime sessions."""
    from controller.fabric.em import EmFabric
    from controller.fabric.inventory import DeployedEm
    from controller.fabric.servers import ServerNFs
    from controller.fabric.switches import Fabric
    from controller.loop.step import Controller, control_loop
    from controller.orchestration.hooks import load_hook
    from controller.program.dayplan import chains_of, nfs_of, placement_state
    from controller.program.flows import plan_replay
    from controller.program.pipeline import fabric_pipeline
    from controller.program.underlay import fabric_entities
    from emac.api import EmacError
    from p4rt.errors import P4RuntimeError
    from p4rt.state import ApplyError
    from placement.evaluation import results

    if interval <= 0:
        raise InputError("--interval", str(interval), "must be > 0")
    if steps is not None and steps < 1:
        raise InputError("--steps", str(steps), "must be at least 1")
    if read_workers < 1:
        raise InputError("--read-workers", str(read_workers), "must be at least 1")
    if risk is not None and orchestration is None:
        raise InputError("--risk", risk, "acts on the orchestration loop: add --orchestration")
    hook = load_hook(risk) if risk else None
    dep, s, problem, fab = load_deployment(fabric)
    a = make_agent(agent, problem, seed, milp_time_limit, model)
    dep.check_running(fabric)
    day = problem.day("test", dep.day)
    pipeline, index = fabric_pipeline(dep.compiler)  # the program srem deploy pushed
    flows = plan_replay(problem.sub.names, day.src, day.dst, day.rate, list(day.hours), fab).flows
    nfs = nfs_of(problem.cat.inst_type, chains_of(day, flows), fab)

    def state(placement):
        # As srem deploy installs it: EM read by RDMA, or served from LM with --no-em.
        return placement_state(
            problem.sub, problem.cat.inst_type, day, flows, fab, index, placement, emac=dep.em
        )

    underlay = {n: fabric_entities(fab, index, n) for n in fab.switches}
    make_orch = (
        _orchestration(orchestration, fab, day.n_chains, dep, index, out, hook) if orchestration else None
    )
    fab_conn = Fabric(dict(dep.switches), pipeline, read_workers=read_workers)
    orch = make_orch(fab_conn) if make_orch else None
    servers = ServerNFs.attach({n: h.nf for n, h in dep.servers.items()})
    title = f"{s.name}: test day {dep.day}, agent {agent}, every {interval:g} s"
    rows: list[dict] = []
    doc: dict = {"fabric": str(fabric), "scenario": s.name, "day": dep.day, "agent": agent,
                 "interval_s": interval, "steps": rows}  # fmt: skip
    # The memory servers srem deploy (or an earlier srem control) started are taken over:
    # their tables are read back, not written again.
    emf = EmFabric(DeployedEm(fab, dep.mem), fab_conn, fabric.parent, recover=True) if dep.em else None
    stop = stop_on_signals()
    try:
        ctl = Controller(problem, day, a, fab_conn, servers, state, underlay, nfs, em=emf,
                         extra=orch.entities if orch else None)  # fmt: skip
        if emf is not None:
            fab_conn.connect_all()  # primary everywhere before the EMACs touch anything
            emf.recover_all()
        first = ctl.start()
        doc["startup"] = {"writes": first.writes, "pipelines_pushed": len(first.pipelines_pushed),
                          "seconds": first.seconds}  # fmt: skip
        console.print(
            f"{len(dep.switches)} switches read back in {first.seconds:.2f} s: {first.writes} writes to reach "
            f"the day's initial placement; a step every {interval:g} s, Ctrl-C stops"
        )
        if orch is not None:
            orch.start()
            orch.between(None, ctl.lock)  # its periods until the day ends, paused during each step
            console.print(
                f"orchestration loop on: {orch.service.nf['kind']} on {', '.join(orch.service.slots)}"
            )

        def show(st) -> None:
            r = st.as_dict()
            rows.append(r)
            if orch is not None:
                # The periods between the previous boundary and this one: the previous step's interval.
                iv = orch.close_interval(len(rows) - 2, rows[-2]["hour"] if len(rows) > 1 else -1)
                (rows[-2] if len(rows) > 1 else doc).setdefault("orchestration", iv)
            console.print(
                f"{r['hour']:02d}:00 AR {r['acceptance_ratio']:.3f} cost {r['cost_total']:.3f}, {r['moved']} moved: "
                f"+{r['inserts']} ~{r['modifies']} -{r['deletes']}, {r['writes']} writes in {r['batches']} "
                f"batches, {r['apply_s']:.2f} s; counted {st.counters.total()} chain packets since the last step"
                + (f", {st.counters.rdma.get('read', 0)} RDMA READs" if emf is not None else "")
            )

        control_loop(ctl, interval, stop, steps, show)
        if orch is not None and rows:
            orch.stop()
            rows[-1]["orchestration"] = orch.close_interval(len(rows) - 1, rows[-1]["hour"])
    except (ApplyError, P4RuntimeError, RuntimeError, EmacError) as e:
        _finish(orch, out, doc)
        _write(out, doc, results)
        if isinstance(e, ApplyError):
            hint = "the previous placement stays in force"
        elif isinstance(e, EmacError):
            hint = "a memory server of srem deploy did not answer"
        elif "arbitration" in str(e):
            hint = "another controller holds the switches (is srem control running already?)"
        else:
            hint = "is srem deploy still running?"
        where = f"step {len(rows) + 1}" if "startup" in doc else "startup"
        raise InputError(str(fabric), where, f"{str(e).splitlines()[0]}; {hint}") from None
    finally:
        _finish(orch, out, doc)
        if emf is not None:
            emf.detach()  # the memory servers stay, with their tables, for the next controller
        fab_conn.close()
    console.print(_table(title, rows))
    _write(out, doc, results)


def _orchestration(path: Path, fab, n_chains: int, dep, index, out: Path, risk=None):
    """The orchestration YAML checked against the deployed fabric (one line when wrong);
    returns a function that wires the loop to the controller's Fabric."""
    from controller.orchestration.service import load_for_fabric
    from controller.orchestration.wiring import wire

    cfg, svc = load_for_fabric(path, fab.servers, n_chains)
    missing = [n for n in svc.slots if not dep.servers[n].iface]
    if missing:
        raise InputError("--orchestration", str(path), f"the deployment does not say the interface of {missing[0]} "
                         "(deploy again with this srem)")  # fmt: skip
    hosts = {n: (h.ns_pid, h.iface) for n, h in dep.servers.items()}
    out.mkdir(parents=True, exist_ok=True)
    log = (out / "orchestration.jsonl").open("w")
    (out / "orchestration").mkdir(exist_ok=True)
    return lambda fabric: wire(svc, cfg, fab, index, fabric, hosts, out / "orchestration", log, risk=risk)


def _finish(orch, out: Path, doc: dict) -> None:
    """Stop the loop and its instances; its summary and timeline beside results.json."""
    if orch is None or getattr(orch, "_finished", False):
        return
    from controller.orchestration.loop import timeline_plot

    orch._finished = True
    orch.close()
    if orch.loop.log is not None:
        orch.loop.log.close()
    summary = {**orch.loop.summary(), "thresholds": {"overload_pps": orch.config.thresholds.overload_pps,
                                                      "underload_pps": orch.config.thresholds.underload_pps}}  # fmt: skip
    doc["orchestration_summary"] = {k: v for k, v in summary.items() if k != "load"}
    timeline_plot(
        summary, out / "orchestration.jsonl", out / "timeline.png", "orchestration loop between the steps"
    )


def _write(out: Path, doc: dict, results) -> None:
    results.write_json(out / "results.json", doc)
    console.print(f"wrote {out / 'results.json'}")


def _table(title: str, rows: list[dict]) -> Table:
    """srem run's step table, the model's cost in one column, with the apply's figures."""
    t = Table(title=title)
    for h in ("hour", "AR", "cost", "server/LM/EM", "decide ms", "moved", "+ins ~mod -del", "writes",
              "batches", "apply s", "chain pkts"):  # fmt: skip
        t.add_column(h, justify="right")
    for r in rows:
        t.add_row(
            f"{r['hour']:02d}:00", f"{r['acceptance_ratio']:.3f}", f"{r['cost_total']:.3f}",
            f"{r['on_server']}/{r['on_lm']}/{r['on_em']}", f"{r['decision_ms']:.1f}", str(r["moved"]),
            f"+{r['inserts']} ~{r['modifies']} -{r['deletes']}", str(r["writes"]), str(r["batches"]),
            f"{r['apply_s']:.2f}", str(sum(r["counters"]["chain_in"].values())),
        )  # fmt: skip
    return t


def register(app: typer.Typer, make_agent: Callable) -> None:
    """`make_agent(name, problem, seed, milp_time_limit, model)`: the agents of srem run
    (refuses an unknown one with an InputError)."""
    app.command("control")(_without_first(control, make_agent))


def _without_first(fn: Callable, first) -> Callable:
    """fn with its first argument bound, keeping the signature typer reads."""
    import functools
    import inspect
    import typing

    @functools.wraps(fn)
    def bound(**kw):
        return fn(first, **kw)

    hints = typing.get_type_hints(fn, include_extras=True)
    params = [
        p.replace(annotation=hints[p.name]) for p in list(inspect.signature(fn).parameters.values())[1:]
    ]
    bound.__signature__ = inspect.Signature(params)
    bound.__annotations__ = {p.name: p.annotation for p in params}
    return bound
