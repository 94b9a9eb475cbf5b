"""`srem orch …`: the southbound state interface of running NF hosts, one move, and the
orchestration loop over a set of server slots.

    srem orch check orch.yaml                              # validate the orchestration YAML
    srem orch stats --control /run/a.sock                  # counters of an NF host's NFs
    srem orch get --control /run/a.sock --nf 7 --filter '{src: 10.0.1.0/24}'
    srem orch put --control /run/b.sock --nf 7 --records state.json
    srem orch delete --control /run/a.sock --nf 7 --filter '{proto: 17}'
    srem orch move --switch unix:/run/p4rt.sock --from a=/run/a.sock:7:5 --to b=/run/b.sock:7:6 \\
                   --filter '{sport: 2000}' --guarantee order-preserving
    srem orch run --setup setup.yaml --config orch.yaml --periods 60 --out results/orch [--risk prediction:score]
    srem orch lm-nat --switch unix:/run/p4rt.sock --nf 7 --public 198.51.100.1 --inside 10.0.1.0/24 \
                     --ports 40000-40999 --seconds 60      # the LM NAT allocating on first packets

Every mistake is one red line and exit status 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.table import Table

from topologies import InputError

console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 120)
orch = typer.Typer(help="Stateful NFs between placement intervals: state, moves, the orchestration loop.")
Control = Annotated[Path, typer.Option(help="Control socket of a running `srem nf-host --control`.")]
NfOpt = Annotated[int, typer.Option(help="The NF's id on that host.")]
FilterOpt = Annotated[
    str, typer.Option(help="Flow filter, YAML/JSON: {src, dst, proto, sport, dport}; {} = all.")
]


class Refused(Exception):
    """One red line, exit 2."""


def _fail(msg: str) -> typer.Exit:
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {msg}", highlight=False)
    return typer.Exit(2)


def _call(control: Path, op: str, **args: Any) -> dict:
    from nfs.control import ControlClient, ControlError

    try:
        c = ControlClient(control)
    except ConnectionError as e:
        raise _fail(str(e)) from None
    try:
        return c.call(op, **args)
    except (ControlError, ConnectionError) as e:
        raise _fail(f"{control}: {e}") from None
    finally:
        c.close()


def _filter(text: str) -> dict:
    from nfs.flows import FilterError, FlowFilter

    try:
        return FlowFilter.parse(yaml.safe_load(text) if text.strip() else {}, "--filter").to_dict()
    except yaml.YAMLError as e:
        raise _fail(f"--filter: not YAML: {str(e).splitlines()[0]}") from None
    except FilterError as e:
        raise _fail(str(e)) from None


@orch.command()
def check(
    config: Annotated[Path, typer.Argument(help="Orchestration YAML (or a scenario with orchestration:).")],
):
    """Validate an orchestration YAML and print the settings it gives."""
    from dataclasses import asdict

    from controller.orchestration.config import ConfigError, load

    try:
        c = load(config)
    except ConfigError as e:
        raise _fail(str(e)) from None
    console.print_json(json.dumps(asdict(c)))


@orch.command()
def stats(control: Control):
    """Per-NF counters of an NF host: flows, packets, drops, queue (held)."""
    ans = _call(control, "stats")
    t = Table(title=f"NF host pid {ans['pid']}")
    cols = ["id", "kind", "flows", "processed", "dropped", "queue", "held", "hold_overflow", "errors"]
    for c in cols:
        t.add_column(c, justify="right" if c not in ("kind",) else "left")
    for n in ans["nfs"]:
        t.add_row(*(str(n.get(c, 0)) for c in cols))
    console.print(t)


@orch.command()
def get(control: Control, nf: NfOpt, filter: FilterOpt = "{}"):
    """Per-flow state matching a filter, as JSON records (what `put` reads)."""
    ans = _call(control, "get", nf=nf, filter=_filter(filter))
    print(json.dumps({"kind": ans["kind"], "records": ans["records"]}, indent=1))


@orch.command()
def put(
    control: Control, nf: NfOpt, records: Annotated[Path, typer.Option(help="JSON/YAML: records of get.")]
):
    """Write per-flow state (all records or none)."""
    try:
        data = yaml.safe_load(records.read_text())
    except OSError as e:
        raise _fail(f"{records}: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        raise _fail(f"{records}: not JSON/YAML: {str(e).splitlines()[0]}") from None
    recs = data.get("records") if isinstance(data, dict) else data
    console.print(f"put {_call(control, 'put', nf=nf, records=recs)['count']} flows")


@orch.command()
def delete(control: Control, nf: NfOpt, filter: Annotated[str, typer.Option(help="Flow filter; {} = all.")]):
    """Delete the state of the flows matching a filter."""
    console.print(f"deleted {_call(control, 'delete', nf=nf, filter=_filter(filter))['count']} flows")


def _instance(spec: str, opt: str):
    from controller.orchestration.move import Instance

    name, _, rest = spec.partition("=")
    parts = rest.rsplit(":", 2)
    if not name or len(parts) != 3 or not all(p.isdigit() for p in parts[1:]):
        raise _fail(f"{opt}: {spec!r} is not NAME=SOCKET:NF:SPI")
    return Instance(name, parts[0], int(parts[1]), int(parts[2]))


def _switch(address: str, device_id: int, election: int):
    from p4rt.client import SwitchConnection
    from p4rt.errors import P4RuntimeError

    try:
        c = SwitchConnection(address, device_id, (0, election))
        if c.fetch_pipeline() is None:
            raise _fail(f"--switch {address}: the switch has no pipeline (deploy the fabric first)")
        return c
    except P4RuntimeError as e:
        raise _fail(f"--switch {address}: {str(e).splitlines()[0]}") from None


SwitchOpt = Annotated[str, typer.Option(help="P4Runtime address of the switch that steers the flows.")]


@orch.command()
def move(
    switch: SwitchOpt,
    src: Annotated[str, typer.Option("--from", help="NAME=SOCKET:NF:SPI of the source instance.")],
    dst: Annotated[str, typer.Option("--to", help="NAME=SOCKET:NF:SPI of the destination instance.")],
    filter: FilterOpt = "{}",
    guarantee: Annotated[str, typer.Option(help="none, loss-free or order-preserving.")] = "order-preserving",
    device_id: Annotated[int, typer.Option(help="The switch's P4Runtime device id.")] = 0,
    election_id: Annotated[int, typer.Option(help="Election id (low word); above the controller's.")] = 2,
):
    """Move the flows matching a filter, with their state, from one instance to another."""
    from controller.orchestration.move import GUARANTEES, MoveError
    from controller.orchestration.move import move as do_move
    from controller.orchestration.steering import ClassifierSteering

    if guarantee not in GUARANTEES:
        raise _fail(f"--guarantee: must be one of {', '.join(GUARANTEES)}, not {guarantee!r}")
    a, b, flt = _instance(src, "--from"), _instance(dst, "--to"), _filter(filter)
    conn = _switch(switch, device_id, election_id)
    try:
        res = do_move(flt, a, b, guarantee, ClassifierSteering(conn))
    except MoveError as e:
        raise _fail(str(e)) from None
    finally:
        conn.close()
    print(json.dumps(res.to_dict()))
    if not res.ok:
        raise _fail(f"move rolled back: {res.error}")


@orch.command()
def run(
    setup: Annotated[Path, typer.Option(help="YAML: switch, device_id, slots {name: {netns|pid, iface, mac, spi, nf}}, start.")],
    config: Annotated[Path | None, typer.Option(help="Orchestration YAML (thresholds, period).")] = None,
    periods: Annotated[int, typer.Option(help="Monitoring periods to run (0: until Ctrl-C).")] = 0,
    risk: Annotated[
        str | None,
        typer.Option(help="MODULE:FUNCTION scoring a window of samples (failure risk, e.g. prediction:score)."),
    ] = None,
    planner: Annotated[
        str | None,
        typer.Option(help="MODULE:FUNCTION planning from plain data (e.g. migration:plan); default: the heuristic."),
    ] = None,
    out: Annotated[Path, typer.Option(help="orchestration.jsonl, results.json and timeline.png go here.")] = Path("results/orch"),
):  # fmt: skip
    """The orchestration loop over server slots: every period monitor, analyze, plan, act;
    every alert, plan and action one JSON line."""
    import threading

    from controller.orchestration.analyzer import Analyzer
    from controller.orchestration.config import ConfigError, OrchestrationConfig
    from controller.orchestration.config import load as load_config
    from controller.orchestration.deepmigration import planner_for
    from controller.orchestration.executors import ExecError, Executor, Pool
    from controller.orchestration.loop import Loop, timeline_plot
    from controller.orchestration.monitor import Monitor
    from controller.orchestration.planner import FunctionPlanner
    from controller.orchestration.steering import ClassifierSteering

    hook = _risk_hook(risk) if risk else None
    plan_fn = _risk_hook(planner, "--planner") if planner else None
    try:
        cfg = load_config(config) if config else OrchestrationConfig()
        s = load_setup(setup)
    except ConfigError as e:
        raise _fail(str(e)) from None
    conn = _switch(s["switch"], s["device_id"], s["election_id"])
    pool = Pool(s["slots"])
    out.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    try:
        try:
            started = [pool.start(n) for n in s["start"]]
        except ExecError as e:
            raise _fail(str(e)) from None
        with (out / "orchestration.jsonl").open("w") as log:
            loop = Loop(cfg, Monitor(started), Analyzer(cfg.thresholds, hook), Executor(pool, ClassifierSteering(conn),
                        cfg.guarantee), log=log)  # fmt: skip
            # --planner overrides the YAML's `planner:` (DeepMigration by default).
            loop.planner = FunctionPlanner(plan_fn) if plan_fn else planner_for(cfg, loop.monitor.instances)
            try:
                loop.run(periods or None, stop)
            except KeyboardInterrupt:
                console.print("stopped")
        summary = loop.summary()
        (out / "results.json").write_text(json.dumps({"orchestration": summary}, indent=1))
        timeline_plot(summary, out / "orchestration.jsonl", out / "timeline.png")
        console.print({k: v for k, v in summary.items() if k != "load"})
        console.print(
            f"wrote {out / 'orchestration.jsonl'}, {out / 'results.json'} and {out / 'timeline.png'}"
        )
    finally:
        pool.close()
        conn.close()


def _risk_hook(spec: str, opt: str = "--risk"):
    """The function named MODULE:FUNCTION (the prediction package's `score`, the migration
    package's `plan`)."""
    from controller.orchestration.hooks import load_hook

    try:
        return load_hook(spec, opt)
    except InputError as e:
        raise _fail(str(e)) from None


def load_setup(path: Path) -> dict:
    """The fabric side of `srem orch run`:

    switch: unix:/tmp/p4rt.sock      # P4Runtime address of the ingress switch
    device_id: 0
    slots:
      a: {netns: srv, iface: srva, mac: 02:00:00:00:cc:0a, spi: 5,
          nf: {id: 7, kind: snat, inside: 10.0.1.0/24, public: 198.51.100.1, ports: [40000, 40999]}}
      b: {pid: 4242, iface: srvb, ...}    # pid: a Mininet host's shell (entered with mnexec -a)
    start: [a]
    """
    from controller.orchestration.config import ConfigError
    from controller.orchestration.executors import Slot
    from nfs.stateful import StateError, make_stateful

    try:
        d = yaml.safe_load(path.read_text())
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(d, dict) or not isinstance(d.get("switch"), str):
        raise ConfigError(f"{path}: switch (the P4Runtime address) is missing")
    slots = {}
    if not isinstance(d.get("slots"), dict) or not d["slots"]:
        raise ConfigError(f"{path}: slots: a mapping of slot name to {{netns|pid, iface, mac, spi, nf}}")
    for name, v in d["slots"].items():
        w = f"{path}: slots.{name}"
        if not isinstance(v, dict) or not {"iface", "mac", "spi", "nf"} <= set(v):
            raise ConfigError(f"{w}: needs iface, mac, spi and nf")
        if "netns" in v:
            enter: tuple[str, ...] = ("ip", "netns", "exec", str(v["netns"]))
        elif isinstance(v.get("pid"), int):
            enter = ("mnexec", "-a", str(v["pid"]))
        else:
            raise ConfigError(f"{w}: needs netns (a name) or pid (a process in the server's namespace)")
        try:
            make_stateful(v["nf"], b"\0" * 6, f"{w}.nf")
        except (StateError, AttributeError) as e:
            raise ConfigError(str(e)) from None
        if not isinstance(v["spi"], int):
            raise ConfigError(f"{w}.spi: must be an integer")
        slots[str(name)] = Slot(str(name), enter, str(v["iface"]), str(v["mac"]), v["spi"], v["nf"],
                                workdir=str(v.get("workdir", "/tmp")))  # fmt: skip
    start = d.get("start", [sorted(slots)[0]])
    if not isinstance(start, list) or not all(s in slots for s in start):
        raise ConfigError(f"{path}: start: names slots to start first, of {', '.join(sorted(slots))}")
    return {"switch": d["switch"], "device_id": int(d.get("device_id", 0)),
            "election_id": int(d.get("election_id", 2)), "slots": slots, "start": start}  # fmt: skip


def _port_range(text: str) -> tuple[int, int]:
    lo, sep, hi = text.partition("-")
    if (
        not sep
        or not lo.strip().isdigit()
        or not hi.strip().isdigit()
        or not 1 <= int(lo) <= int(hi) <= 65535
    ):
        raise _fail(f"--ports: {text!r} is not a range FIRST-LAST within 1-65535")
    return int(lo), int(hi)


@orch.command("lm-nat")
def lm_nat(
    switch: SwitchOpt,
    nf: Annotated[int, typer.Option(help="The NAT's NF id in the switch's LM (its sff_local hop).")],
    public: Annotated[str, typer.Option(help="The public address the flows are translated to.")],
    inside: Annotated[str, typer.Option(help="The inside prefix whose new flows get a mapping.")],
    ports: Annotated[str, typer.Option(help="The instance's port range, FIRST-LAST.")],
    seconds: Annotated[float, typer.Option(help="How long to serve (0: until Ctrl-C).")] = 0,
    refuse_s: Annotated[
        float, typer.Option(help="How long an exhausted flow is dropped by the switch.")
    ] = 1.0,
    device_id: Annotated[int, typer.Option(help="The switch's P4Runtime device id.")] = 0,
    election_id: Annotated[int, typer.Option(help="Election id (low word); above the controller's.")] = 2,
):
    """Serve the LM NAT's allocation: map each new inside flow on its first packet (punted
    by the switch), write its entries and send its packets back (docs/orchestration.md)."""
    import ipaddress
    import time

    from controller.orchestration.lmalloc import AllocatingLmNat, Punts
    from nfs.control import ControlError
    from p4rt.errors import P4RuntimeError

    rng = _port_range(ports)
    if not 0 < nf < 256:
        raise _fail(f"--nf: {nf} is not an NF id in 1-255")
    try:
        ipaddress.IPv4Address(public)
    except ValueError:
        raise _fail(f"--public: {public!r} is not an IPv4 address") from None
    if refuse_s <= 0 or seconds < 0:
        raise _fail("--refuse-s must be above 0 and --seconds at least 0")
    conn = _switch(switch, device_id, election_id)
    punts = nat = None
    try:
        punts = Punts(conn)
        nat = AllocatingLmNat(conn, nf, public, inside, rng, punts, refuse_s=refuse_s)
        console.print(f"NF {nf}: allocating {public}:{rng[0]}-{rng[1]} for {inside} on {switch}")
        end = time.monotonic() + seconds if seconds else None
        while end is None or time.monotonic() < end:
            time.sleep(0.1 if end is None else max(0.0, min(0.1, end - time.monotonic())))
    except KeyboardInterrupt:
        pass
    except (ControlError, KeyError, P4RuntimeError) as e:
        raise _fail(f"--switch {switch}: {str(e).splitlines()[0].strip(chr(34))}") from None
    finally:
        if nat is not None:
            nat.close()
        if punts is not None:
            punts.close()
        conn.close()
    t = Table("mappings", *(k for k in nat.alloc.to_dict() if k != "errors"))
    t.add_row(str(len(nat.map)), *(str(v) for k, v in nat.alloc.to_dict().items() if k != "errors"))
    console.print(t)
    for e in nat.alloc.errors[-5:]:
        console.print(f"[yellow]{e}[/]", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(orch, name="orch")
