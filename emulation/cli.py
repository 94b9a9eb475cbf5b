"""The emulation's commands: `srem deploy` (the emulated fabric, installed and held up),
`srem replay` (the deployed day's traffic, measured) and `srem shell SWITCH`
(p4runtime-shell on one of its switches); `run_emulated` is `srem run --emulate`."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from controller.fabric.hosts import PidHosts
from controller.fabric.inventory import FABRIC_FILE, load_deployment
from controller.loop.cli import FabricOpt, StepsOpt, stop_on_signals
from topologies import InputError

console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 120)

ScenarioOpt = Annotated[
    Path | None, typer.Option("--scenario", "-s", help="Scenario YAML or a bundled name (default: paper).")
]


def deploy(
    scenario: ScenarioOpt = None,
    target: Annotated[str, typer.Option(help="srem or simple_switch_grpc (when installed).")] = "srem",
    compiler: Annotated[
        str | None,
        typer.Option(help="srem or p4c-bm2-ss (default: p4c-bm2-ss for simple_switch_grpc where installed)."),
    ] = None,
    trace: Annotated[
        bool, typer.Option(help="BMv2: every packet's path in the switch logs, every port in a pcap.")
    ] = False,
    out: Annotated[Path, typer.Option(help="Logs, NF configs and fabric.json go here.")] = FABRIC_FILE.parent,
    day: Annotated[int, typer.Option(help="Test day whose initial placement is installed.")] = 0,
    em: Annotated[
        bool,
        typer.Option(help="NFs in EM are read from memory servers by RDMA (--no-em: served from LM tables)."),
    ] = True,
) -> None:
    """Start the scenario's fat-tree on Mininet, push p4src/fabric.p4 to every switch, install
    the underlay and the day's initial placement (switches, memory servers and server NFs);
    hold it up until Ctrl-C. `srem shell SWITCH` opens p4runtime-shell on one of its switches."""
    import signal
    import threading

    from controller.fabric import targets
    from controller.fabric.em import EmFabric
    from controller.fabric.inventory import Deployment, MemHost, ServerHost
    from controller.fabric.servers import ServerNFs
    from controller.fabric.switches import Fabric
    from controller.program.dayplan import chains_of, nfs_of, placement_state
    from controller.program.flows import plan_replay
    from controller.program.pipeline import fabric_pipeline
    from controller.program.underlay import fabric_entities
    from emulation.mininet import Emulation, missing
    from placement.model import scenario as sc
    from placement.model.workload import build_problem, build_topology
    from topologies.addressing import plan

    why = missing()
    if why:
        raise InputError("srem deploy", "machine", why)
    s = sc.default() if scenario is None else sc.load(scenario)
    problem = build_problem(s)
    if not 0 <= day < problem.n_days("test"):
        raise InputError("--day", str(day), f"the test set has days 0..{problem.n_days('test') - 1}")
    fab = plan(build_topology(s))
    d = problem.day("test", day)
    compiler = targets.check(target, compiler)
    pipeline, index = fabric_pipeline(compiler)
    flows = plan_replay(problem.sub.names, d.src, d.dst, d.rate, list(d.hours), fab).flows
    state = placement_state(problem.sub, problem.cat.inst_type, d, flows, fab, index, d.initial, emac=em)
    out.mkdir(parents=True, exist_ok=True)
    out = out.resolve()
    if s.topology.builder == "file" and s.topology.file:
        s = dataclasses.replace(
            s, topology=dataclasses.replace(s.topology, file=str(Path(s.topology.file).resolve()))
        )
    # srem control and srem replay rebuild the same problem from this copy.
    (out / "scenario.yaml").write_text(sc.dump(s))
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    published = out / "fabric.json"
    with Emulation(fab, log_dir=out, target=target, em=em, trace=trace) as emu:
        fabric = Fabric({n: (emu.grpc[n], sw.device_id) for n, sw in fab.switches.items()}, pipeline)
        servers = ServerNFs(emu, out)
        emf = EmFabric(emu, fabric, out) if em else None
        try:
            # Every server runs its nf-host, with no hop when it has none: srem control
            # reconfigures them from another process, it does not start them.
            hops = {n: state.server_hops.get(n, {}) for n in fab.servers}
            nfs = nfs_of(problem.cat.inst_type, chains_of(d, flows), fab)
            servers.configure(hops, nfs)
            if emf is not None:
                emf.prepare(state.em, nfs)  # the tables the placement puts in EM, in memory first
            extra = emf.entities(state.em) if emf is not None else {}
            rep = fabric.reconcile(
                {
                    n: fabric_entities(fab, index, n) + state.switches[n] + extra.get(n, [])
                    for n in fab.switches
                }
            )
            # The switches (and memory servers) are left to srem control: it becomes their
            # primary controller and takes the EM tables over.
            if emf is not None:
                emf.detach()
            fabric.close()
            Deployment(
                scenario=out / "scenario.yaml", day=day, target=target, compiler=compiler, pid=os.getpid(),
                switches={n: (emu.grpc[n], sw.device_id) for n, sw in fab.switches.items()},
                servers={n: ServerHost(emu.hosts[n].pid, servers.hosts[n], emu.intf(n)) for n in fab.servers},
                mem={
                    n: MemHost(emu.mem_hosts[n].pid, tuple(emu.mem_intfs(n)), emu.emac_intf[n])
                    for n in emu.mem_hosts
                },
            ).write(published)  # fmt: skip
            em_note = f", {len(state.em)} NF tables in EM" if em else ", EM served from LM"
            console.print(
                f"{len(fab.switches)} switches, {len(fab.servers)} servers up; {rep.writes} entries in "
                f"{rep.seconds:.1f} s{em_note}; switches in {published}; Ctrl-C stops and cleans up"
            )
            # Signals land between waits: Emulation turned them into KeyboardInterrupt.
            while not done.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            published.unlink(missing_ok=True)
            servers.close()
            fabric.close()
    console.print("stopped; every switch process and link removed")


def run_emulated(
    scenario,
    problem,
    day: int,
    agent,
    title: str,
    out: Path | None,
    *,
    seconds_per_step: float,
    pps_budget: float,
    target: str,
    compiler: str | None = None,
    em: bool = True,
    trace: bool = False,
    orchestration: Path | None = None,
    steps: int | None = None,
    risk: str | None = None,
) -> list[dict]:
    """`srem run --emulate`: the day on the emulated fabric; the model's table plus the
    measured packets per step; results.json, day.png and emulation.png under `out`.
    `orchestration` (a YAML: orchestration:, service:, traffic:): the orchestration loop
    between the boundaries, every alert, plan and action in orchestration.jsonl, its
    intervals in results.json and timeline.png beside day.png."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from controller.orchestration.hooks import load_hook
    from emac.api import EmacError
    from emulation.day import emulate_day
    from emulation.mininet import missing
    from p4rt.errors import P4RuntimeError
    from p4rt.state import ApplyError
    from placement.evaluation import results
    from placement.model.workload import build_topology
    from topologies.addressing import plan

    hook = load_hook(risk) if risk else None  # a bad name is refused before anything else
    why = missing()
    if why:
        raise InputError("--emulate", "machine", why)
    fab = plan(build_topology(scenario))
    orch = _orchestration(orchestration, fab, problem.day("test", day).n_chains) if orchestration else None
    log_dir = (out or Path("results/emulate")) / "emulation"
    log_dir.mkdir(parents=True, exist_ok=True)
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
    ) as bar:
        task = bar.add_task("emulated day", total=None)
        try:
            played, rp = emulate_day(
                problem, problem.day("test", day), agent, fab,
                log_dir=log_dir, seconds_per_step=seconds_per_step, pps_budget=pps_budget, target=target, em=em,
                compiler=compiler, trace=trace, progress=lambda m: bar.update(task, description=m),
                orchestration=orch, steps=steps, risk=hook,
            )  # fmt: skip
        except (EmacError, ApplyError, P4RuntimeError, RuntimeError) as e:
            # The emulation is gone (every process and link removed); say what stopped it
            # (RuntimeError: a switch, NF host or memory server that did not start or answer).
            raise InputError(
                "--emulate", f"test day {day}", f"{str(e).splitlines()[0][:300]} (logs: {log_dir})"
            ) from None
    rows = [st.as_dict() for st in played]
    t = Table(title=f"{title}: measured on the emulated fabric")
    for h in ("hour", "AR", "writes", "apply s", "chains", "sent", "delivered", "lost", "reordered",
              "p50 µs", "p99 µs", "EM by RDMA", "READs", "EM from LM"):  # fmt: skip
        t.add_column(h, justify="right")
    for r in rows:
        t.add_row(
            f"{r['hour']:02d}:00", f"{r['acceptance_ratio']:.3f}", str(r["writes"]), f"{r['apply_s']:.2f}",
            str(r["chains_played"]), str(r["sent"]), str(r["delivered"]), str(r["lost"]), str(r["reordered"]),
            f"{r['latency_p50_us']:.0f}", f"{r['latency_p99_us']:.0f}", str(r["em_tables"]),
            str(int(r["rdma"].get("read", 0))), str(r["em_in_lm"]),
        )  # fmt: skip
    console.print(
        "EM by RDMA: NF tables the switches read from memory servers; READs: issued so far; "
        "EM from LM: instances placed in EM whose kind the EM path does not hold, served from LM"
    )
    console.print(t)
    console.print(f"scaling: {rp.describe()}; p99 is the worst chain's")
    doc: dict = {"scaling": rp.describe(), "steps": rows}
    if orch is not None:
        from emulation.orchreport import day_summary, table

        doc["orchestration"] = day_summary(rows, orch[1], log_dir / "orchestration.jsonl", orch[0].thresholds)
        console.print(table(title, rows, doc["orchestration"]))
    if out:
        results.write_json(out / "results.json", doc)
        results.plot_day(rows, out / "day.png", title)
        plot_emulation(rows, out / "emulation.png", f"{title} (emulated: {rp.describe()})")
        wrote = [out / "results.json", out / "day.png", out / "emulation.png"]
        if orch is not None:
            from emulation.orchreport import write_outputs

            wrote += write_outputs(rows, doc["orchestration"], log_dir / "orchestration.jsonl", out, title)
        console.print(f"wrote {', '.join(str(w) for w in wrote)}")
    return rows


def _orchestration(path: Path, fab, n_chains: int) -> tuple:
    """The orchestration YAML, checked against the fabric (one line when wrong)."""
    from controller.orchestration.service import load_for_fabric

    return load_for_fabric(path, fab.servers, n_chains)


def plot_emulation(rows: list[dict], path: Path, title: str) -> None:
    """Packets per step (sent, delivered, lost) and one-way latency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hours = [r["hour"] for r in rows]
    fig, ax = plt.subplots(1, 2, figsize=(11, 3.6))
    w = 0.5
    ax[0].bar([h - w for h in hours], [r["sent"] for r in rows], width=w, label="sent")
    ax[0].bar(hours, [r["delivered"] for r in rows], width=w, label="delivered")
    ax[0].bar([h + w for h in hours], [r["lost"] for r in rows], width=w, label="lost")
    ax[0].set(title="packets per step", xlabel="hour")
    ax[0].legend()
    ax[1].plot(hours, [r["latency_p50_us"] / 1000 for r in rows], marker="o", label="p50")
    ax[1].plot(hours, [r["latency_p99_us"] / 1000 for r in rows], marker="o", label="p99 (worst chain)")
    ax[1].set(title="one-way latency (ms)", xlabel="hour")
    ax[1].legend()
    fig.suptitle(textwrap.fill(title, 120), fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def shell(
    switch: Annotated[str, typer.Argument(help="A switch of the deployed fabric, e.g. edge0_0.")],
    fabric: Annotated[Path, typer.Option(help="fabric.json written by srem deploy.")] = FABRIC_FILE,
    primary: Annotated[
        bool, typer.Option(help="Take the primary role from the controller (writes); default is read-only.")
    ] = False,
) -> None:
    """Open p4runtime-shell on one switch of a deployed fabric (names from its P4Info)."""
    from controller.fabric.inventory import Deployment

    switches = Deployment.load(fabric).switches
    if switch not in switches:
        raise InputError(str(fabric), switch, f"no such switch; known: {', '.join(sorted(switches))}")
    addr, device = switches[switch]
    election = "0,1"
    if primary:
        from p4rt.client import SwitchConnection

        # One above the highest id the switch has seen preempts the controller.
        probe = SwitchConnection(addr, device, (0, 1), claim=True, require_primary=False)
        n = ((probe.highest[0] << 64) | probe.highest[1]) + 1
        probe.close()
        election = f"{n >> 64},{n & ((1 << 64) - 1)}"
    argv = [sys.executable, "-m", "p4runtime_sh", "--grpc-addr", addr, "--device-id", str(device)]
    argv += ["--election-id", election]
    console.print(f"p4runtime-shell on {switch} ({addr}, device {device}, election id {election})")
    raise typer.Exit(subprocess.call(argv))


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

    from controller.program.flows import floor_pps, plan_replay
    from emulation.replay import finish_step, start_step
    from placement.evaluation import results

    if seconds_per_step <= 0 or pps_budget <= 0 or drain <= 0:
        raise InputError("--seconds-per-step/--pps-budget/--drain", "", "must be > 0")
    if steps is not None and steps < 1:
        raise InputError("--steps", str(steps), "must be at least 1")
    dep, s, problem, fab = load_deployment(fabric)
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
    stop = stop_on_signals()
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


def register(app: typer.Typer) -> None:
    """The emulation's commands; `srem run --emulate` reaches `run_emulated` through srem's CLI."""
    app.command()(deploy)
    app.command()(shell)
    app.command("replay")(replay)
