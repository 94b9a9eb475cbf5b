"""`srem control` and `srem replay`: the controller's loop and a day's traffic, each in its
own terminal, on the fabric that `srem deploy` holds up (found through its fabric.json).

    srem deploy                        # terminal 1: the fabric, until Ctrl-C
    srem control --interval 12         # terminal 2: the agent re-places every interval
    srem replay --seconds-per-step 9   # terminal 3: the day's packets, measured

Both can run at once: packets flow while the controller reconfigures.
"""

from __future__ import annotations

import dataclasses
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from topologies import InputError

from .commands import FABRIC_FILE, console, plot_emulation
from .deployment import Deployment

FabricOpt = Annotated[Path, typer.Option(help="fabric.json written by srem deploy.")]
StepsOpt = Annotated[
    int | None, typer.Option(help="Stop after this many steps (default: the rest of the day).")
]


def _loaded(path: Path) -> tuple[Deployment, object, object, object]:
    """The deployment, its scenario, problem and fabric plan; refuses a bad file in one line."""
    from placement import scenario as sc
    from placement.workload import build_problem, build_topology
    from topologies.addressing import plan
    from topologies.emulation import missing

    why = missing()
    if why:
        raise InputError("srem deploy's fabric", "machine", why)
    dep = Deployment.load(path)
    if not dep.scenario.exists():
        raise InputError(str(path), "scenario", f"{dep.scenario} is gone; run srem deploy again")
    s = sc.load(dep.scenario)
    problem = build_problem(s)
    fab = plan(build_topology(s))
    if set(fab.switches) != set(dep.switches) or set(fab.servers) != set(dep.servers):
        raise InputError(str(path), "switches", "do not match the scenario's fabric; run srem deploy again")
    if not 0 <= dep.day < problem.n_days("test"):
        raise InputError(str(path), "day", f"{dep.day} is not a test day of {s.name}")
    return dep, s, problem, fab


def _stop_on_signals() -> threading.Event:
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
        str, typer.Option(help="mpc (default), srem, ddqn-cm or a baseline, as for srem run.")
    ] = "mpc",
    seed: Annotated[int, typer.Option(help="Seed of the agent's randomness.")] = 0,
    model: Annotated[Path | None, typer.Option(help="Policy for --agent srem or ddqn-cm.")] = None,
    milp_time_limit: Annotated[float, typer.Option(help="Seconds per MILP solve.")] = 30.0,
    interval: Annotated[float, typer.Option(help="Seconds between steps (one 2-h step of the day).")] = 10.0,
    steps: StepsOpt = None,
    read_workers: Annotated[
        int, typer.Option(help="Switches read back at once (1: one after another, each stalls less).")
    ] = 16,
    out: Annotated[Path, typer.Option(help="results.json goes here.")] = Path("results/control"),
) -> None:
    """The controller's loop on the fabric srem deploy holds: every interval, read the
    switches' counters, ask the agent for a placement, apply it make-before-break to the
    switches (P4Runtime, verified) and the server NFs; one row per step, results.json."""
    from emac.api import EmacError
    from placement import results

    from .control import Controller, control_loop
    from .dayplan import chains_of, nfs_of, placement_state
    from .deployment import DeployedEm
    from .em import EmFabric
    from .emulate import fabric_pipeline
    from .fabric import Fabric
    from .p4rt import P4RuntimeError
    from .replay import plan_replay
    from .servers import ServerNFs
    from .state import ApplyError
    from .underlay import fabric_entities

    if interval <= 0:
        raise InputError("--interval", str(interval), "must be > 0")
    if steps is not None and steps < 1:
        raise InputError("--steps", str(steps), "must be at least 1")
    if read_workers < 1:
        raise InputError("--read-workers", str(read_workers), "must be at least 1")
    dep, s, problem, fab = _loaded(fabric)
    a = make_agent(agent, problem, seed, milp_time_limit, model)
    dep.check_running(fabric)
    day = problem.day("test", dep.day)
    pipeline, index = fabric_pipeline()
    flows = plan_replay(problem.sub.names, day.src, day.dst, day.rate, list(day.hours), fab).flows
    nfs = nfs_of(problem.cat.inst_type, chains_of(day, flows), fab)

    def state(placement):
        # As srem deploy installs it: EM read by RDMA, or served from LM with --no-em.
        return placement_state(
            problem.sub, problem.cat.inst_type, day, flows, fab, index, placement, emac=dep.em
        )

    underlay = {n: fabric_entities(fab, index, n) for n in fab.switches}
    fab_conn = Fabric(dict(dep.switches), pipeline, read_workers=read_workers)
    servers = ServerNFs.attach({n: h.nf for n, h in dep.servers.items()})
    title = f"{s.name}: test day {dep.day}, agent {agent}, every {interval:g} s"
    rows: list[dict] = []
    doc: dict = {"fabric": str(fabric), "scenario": s.name, "day": dep.day, "agent": agent,
                 "interval_s": interval, "steps": rows}  # fmt: skip
    # The memory servers srem deploy (or an earlier srem control) started are taken over:
    # their tables are read back, not written again.
    emf = EmFabric(DeployedEm(fab, dep.mem), fab_conn, fabric.parent, recover=True) if dep.em else None
    stop = _stop_on_signals()
    try:
        ctl = Controller(problem, day, a, fab_conn, servers, state, underlay, nfs, em=emf)
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

        def show(st) -> None:
            r = st.as_dict()
            rows.append(r)
            console.print(
                f"{r['hour']:02d}:00 AR {r['acceptance_ratio']:.3f} cost {r['cost_total']:.3f}, {r['moved']} moved: "
                f"+{r['inserts']} ~{r['modifies']} -{r['deletes']}, {r['writes']} writes in {r['batches']} "
                f"batches, {r['apply_s']:.2f} s; counted {st.counters.total()} chain packets since the last step"
                + (f", {st.counters.rdma.get('read', 0)} RDMA READs" if emf is not None else "")
            )

        control_loop(ctl, interval, stop, steps, show)
    except (ApplyError, P4RuntimeError, RuntimeError, EmacError) as e:
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
        if emf is not None:
            emf.detach()  # the memory servers stay, with their tables, for the next controller
        fab_conn.close()
    console.print(_table(title, rows))
    _write(out, doc, results)


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


@dataclasses.dataclass
class PidHosts:
    """The deployed servers' namespaces, entered with `mnexec -a PID` (what `Emulation`
    offers the replay, from another process)."""

    pids: dict[str, int]

    def host_popen(self, server: str, *argv: str, **kw):
        import subprocess

        # Their own session: the terminal's Ctrl-C stops the replay after the step, not them mid-step.
        return subprocess.Popen(["mnexec", "-a", str(self.pids[server]), *argv], start_new_session=True, **kw)


def replay(
    fabric: FabricOpt = FABRIC_FILE,
    seconds_per_step: Annotated[float, typer.Option(help="Seconds each 2-h step is played.")] = 10.0,
    pps_budget: Annotated[
        float, typer.Option(help="Packets/s of the busiest step, all chains together.")
    ] = 300.0,
    steps: StepsOpt = None,
    drain: Annotated[
        float,
        typer.Option(help="Seconds receivers wait after a step's senders stop; later packets are lost."),
    ] = 3.0,
    out: Annotated[Path, typer.Option(help="results.json and replay.png go here.")] = Path("results/replay"),
) -> None:
    """Play the deployed day's chain traffic on the running fabric, step by step, scaled as
    srem run --emulate does; per step packets sent, delivered, lost, reordered and p50/p99
    one-way latency. Run beside srem control: the traffic flows while it reconfigures."""
    import subprocess

    import numpy as np

    from placement import results

    from .replay import finish_step, floor_pps, plan_replay, start_step

    if seconds_per_step <= 0 or pps_budget <= 0 or drain <= 0:
        raise InputError("--seconds-per-step/--pps-budget/--drain", "", "must be > 0")
    if steps is not None and steps < 1:
        raise InputError("--steps", str(steps), "must be at least 1")
    dep, s, problem, fab = _loaded(fabric)
    dep.check_running(fabric)
    day = problem.day("test", dep.day)
    rp = plan_replay(
        problem.sub.names, day.src, day.dst, day.rate, list(day.hours), fab, pps_budget=pps_budget,
        seconds_per_step=seconds_per_step, min_pps=floor_pps(pps_budget, day.n_chains),
    )  # fmt: skip
    hosts = PidHosts({n: h.ns_pid for n, h in dep.servers.items()})
    n = day.n_steps if steps is None else min(steps, day.n_steps)
    console.print(f"replaying {n} steps of {s.name} test day {dep.day}, every chain that has traffic; scaling: "
                  f"{rp.describe()}")  # fmt: skip
    rows: list[dict] = []
    doc = {"fabric": str(fabric), "scenario": s.name, "day": dep.day, "scaling": rp.describe(),
           "drain_s": drain, "steps": rows}  # fmt: skip
    stop = _stop_on_signals()
    for t in range(n):
        if stop.is_set():
            break
        dep.check_running(fabric)
        try:
            m = finish_step(start_step(hosts, fab, rp, t, drain=drain))
        except (OSError, RuntimeError, ValueError, subprocess.SubprocessError) as e:
            results.write_json(out / "results.json", doc)
            raise InputError(
                str(fabric),
                f"step {t + 1}",
                f"the traffic did not run ({str(e).splitlines()[0][:200]}); is srem deploy still running?",
            ) from None
        lat50 = [x.latency_p50_us for x in m if x.received]
        lat99 = [x.latency_p99_us for x in m if x.received]
        r = {
            "hour": int(day.hours[t]),
            "chains_played": len(m),
            "sent": sum(x.sent for x in m),
            "delivered": sum(x.received for x in m),
            "lost": sum(x.lost for x in m),
            "reordered": sum(x.reordered for x in m),
            "duplicates": sum(x.duplicates for x in m),
            "latency_p50_us": float(np.median(lat50)) if lat50 else float("nan"),
            "latency_p99_us": float(np.max(lat99)) if lat99 else float("nan"),
            "chains": [dataclasses.asdict(x) for x in m],
        }
        rows.append(r)
        console.print(
            f"{r['hour']:02d}:00 {r['chains_played']} chains: sent {r['sent']}, delivered {r['delivered']}, "
            f"lost {r['lost']}, reordered {r['reordered']}, p50 {r['latency_p50_us']:.0f} µs, "
            f"p99 {r['latency_p99_us']:.0f} µs (worst chain)"
        )
    t = Table(title=f"{s.name}: test day {dep.day} replayed on the deployed fabric")
    for h in ("hour", "chains", "sent", "delivered", "lost", "reordered", "p50 µs", "p99 µs"):
        t.add_column(h, justify="right")
    for r in rows:
        t.add_row(f"{r['hour']:02d}:00", str(r["chains_played"]), str(r["sent"]), str(r["delivered"]),
                  str(r["lost"]), str(r["reordered"]), f"{r['latency_p50_us']:.0f}", f"{r['latency_p99_us']:.0f}")  # fmt: skip
    console.print(t)
    console.print(
        f"scaling: {rp.describe()}; p99 is the worst chain's; lost: not received {drain:g} s after the senders stopped"
    )
    results.write_json(out / "results.json", doc)
    wrote = [str(out / "results.json")]
    if rows:
        plot_emulation(rows, out / "replay.png", f"{s.name} day {dep.day} replayed ({rp.describe()})")
        wrote.append(str(out / "replay.png"))
    console.print(f"wrote {' and '.join(wrote)}")


def register(app: typer.Typer, make_agent: Callable) -> None:
    """`make_agent(name, problem, seed, milp_time_limit, model)`: the agents of srem run
    (refuses an unknown one with an InputError)."""
    app.command("control")(_without_first(control, make_agent))
    app.command("replay")(replay)


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
