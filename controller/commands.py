"""The controller's commands: `srem deploy` (the emulated fabric, installed and held up)
and `srem shell SWITCH` (p4runtime-shell on one of its switches)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from topologies import InputError

console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 120)
FABRIC_FILE = Path("results/deploy/fabric.json")

ScenarioOpt = Annotated[
    Path | None, typer.Option("--scenario", "-s", help="Scenario YAML or a bundled name (default: paper).")
]


def deploy(
    scenario: ScenarioOpt = None,
    target: Annotated[str, typer.Option(help="srem or simple_switch_grpc (when installed).")] = "srem",
    out: Annotated[Path, typer.Option(help="Logs, NF configs and fabric.json go here.")] = FABRIC_FILE.parent,
    day: Annotated[int, typer.Option(help="Test day whose initial placement is installed.")] = 0,
) -> None:
    """Start the scenario's fat-tree on Mininet, push p4src/fabric.p4 to every switch, install
    the underlay and the day's initial placement (switches and server NFs); hold it up
    until Ctrl-C. `srem shell SWITCH` opens p4runtime-shell on one of its switches."""
    import signal
    import threading

    from placement import scenario as sc
    from placement.workload import build_problem, build_topology
    from topologies.addressing import plan
    from topologies.emulation import Emulation, missing

    from .dayplan import chains_of, nfs_of, placement_state
    from .emulate import fabric_pipeline
    from .fabric import Fabric
    from .replay import plan_replay
    from .servers import ServerNFs
    from .underlay import fabric_entities

    why = missing()
    if why:
        raise InputError("srem deploy", "machine", why)
    s = sc.default() if scenario is None else sc.load(scenario)
    problem = build_problem(s)
    fab = plan(build_topology(s))
    d = problem.day("test", day)
    pipeline, index = fabric_pipeline()
    flows = plan_replay(problem.sub.names, d.src, d.dst, d.rate, list(d.hours), fab).flows
    state = placement_state(problem.sub, problem.cat.inst_type, d, flows, fab, index, d.initial, emac=False)
    out.mkdir(parents=True, exist_ok=True)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    with Emulation(fab, log_dir=out, target=target) as emu:
        fabric = Fabric({n: (emu.grpc[n], sw.device_id) for n, sw in fab.switches.items()}, pipeline)
        servers = ServerNFs(emu, out)
        try:
            servers.configure(state.server_hops, nfs_of(problem.cat.inst_type, chains_of(d, flows), fab))
            rep = fabric.reconcile(
                {n: fabric_entities(fab, index, n) + state.switches[n] for n in fab.switches}
            )
            info = {n: {"grpc": emu.grpc[n], "device_id": sw.device_id} for n, sw in fab.switches.items()}
            (out / "fabric.json").write_text(json.dumps(info, indent=2) + "\n")
            console.print(
                f"{len(fab.switches)} switches, {len(fab.servers)} servers up; {rep.writes} entries in "
                f"{rep.seconds:.1f} s; switches in {out / 'fabric.json'}; Ctrl-C stops and cleans up"
            )
            # Signals land between waits: Emulation turned them into KeyboardInterrupt.
            while not done.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            servers.close()
            fabric.close()
    console.print("stopped; every switch process and link removed")


def shell(
    switch: Annotated[str, typer.Argument(help="A switch of the deployed fabric, e.g. edge0_0.")],
    fabric: Annotated[Path, typer.Option(help="fabric.json written by srem deploy.")] = FABRIC_FILE,
    primary: Annotated[
        bool, typer.Option(help="Take the primary role from the controller (writes); default is read-only.")
    ] = False,
) -> None:
    """Open p4runtime-shell on one switch of a deployed fabric (names from its P4Info)."""
    try:
        info = json.loads(fabric.read_text())
    except OSError as e:
        raise InputError(str(fabric), "file", f"{e.strerror or e}; run srem deploy first") from None
    except ValueError:
        raise InputError(str(fabric), "JSON", "not a fabric.json written by srem deploy") from None
    if switch not in info:
        raise InputError(str(fabric), switch, f"no such switch; known: {', '.join(sorted(info))}")
    addr, device = info[switch]["grpc"], int(info[switch]["device_id"])
    election = "0,1"
    if primary:
        from .p4rt import SwitchConnection

        # One above the highest id the switch has seen preempts the controller.
        probe = SwitchConnection(addr, device, (0, 1), claim=True, require_primary=False)
        n = ((probe.highest[0] << 64) | probe.highest[1]) + 1
        probe.close()
        election = f"{n >> 64},{n & ((1 << 64) - 1)}"
    argv = [sys.executable, "-m", "p4runtime_sh", "--grpc-addr", addr, "--device-id", str(device)]
    argv += ["--election-id", election]
    console.print(f"p4runtime-shell on {switch} ({addr}, device {device}, election id {election})")
    raise typer.Exit(subprocess.call(argv))


def register(app: typer.Typer) -> None:
    app.command()(deploy)
    app.command()(shell)
