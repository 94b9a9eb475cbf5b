"""`srem inject`: failures on the emulated fabric's hosts, on a schedule, with clean undo.

A host is a network namespace: a server of a running `srem deploy` (its name in
fabric.json), `netns:NAME` (an `ip netns` name) or `pid:PID` (the namespace of a process).
Faults:

- `cpu`: busy workers in the host's namespace, each busy `load` of every 100 ms;
- `memory`: a process in the host's namespace holding `mb` MB (every page touched);
- `kill`: the host's processes whose command line holds `match` (default `nf-host`) are
  killed; undo starts them again with the same command line and working directory;
- `link`: the host's interface (`iface`, default its first one that is not `lo`) is set down;
  undo sets it up;
- `drop`: the host's interface drops every frame the host sends (a `blackhole` queue):
  the host is cut off while its processes and the link stay up (the switch on the other end
  sees no carrier change); undo removes the queue.

A schedule is YAML (`events: [{host, kind, at, seconds, ...}]`, times in seconds from the
start) or drawn from the vEPC data set's statistics (`srem inject draw`): per host, failures
as a renewal process, 95 % lasting 30-100 monitoring intervals and 5 % 500-2,000, each
preceded by CPU and memory stress, as in the data set's experiment (stress, then the failure).
Every applied fault is undone at its end, and all that still stand are undone on exit,
Ctrl-C or SIGTERM included. Each start and end is a JSON line in the run's log.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
import yaml

from topologies import InputError
from topologies.errors import one_line

KINDS = ("cpu", "memory", "kill", "link", "drop")
# The parameters of each kind and their defaults.
PARAMS: dict[str, dict[str, Any]] = {
    "cpu": {"workers": 1, "load": 0.5},
    "memory": {"mb": 256},
    "kill": {"match": "nf-host"},
    "link": {"iface": ""},
    "drop": {"iface": ""},
}

_CPU = """
import time, sys
load = float(sys.argv[1])
while True:
    t = time.perf_counter()
    while time.perf_counter() - t < load * 0.1:
        pass
    time.sleep((1 - load) * 0.1)
"""
_MEMORY = """
import sys, time, mmap
size = int(sys.argv[1]) << 20
m = mmap.mmap(-1, size)
for i in range(0, size, mmap.PAGESIZE):
    m[i] = 1
print("ready", flush=True)
while True:
    time.sleep(3600)
"""


@dataclass(frozen=True)
class Event:
    host: str
    kind: str
    at: float  # seconds from the schedule's start
    seconds: float
    params: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"host": self.host, "kind": self.kind, "at": round(self.at, 3), "seconds": round(self.seconds, 3),
                **self.params}  # fmt: skip


@dataclass(frozen=True)
class Schedule:
    events: tuple[Event, ...]

    @property
    def end(self) -> float:
        return max((e.at + e.seconds for e in self.events), default=0.0)

    def dump(self) -> str:
        return yaml.safe_dump({"events": [e.as_dict() for e in self.events]}, sort_keys=False)


def parse_schedule(data: Any, source: str) -> Schedule:
    """A schedule from its YAML mapping; one InputError naming the event and field when wrong."""
    if not isinstance(data, dict) or set(data) != {"events"}:
        raise InputError(source, "top level", "must be a mapping with one key, events")
    if not isinstance(data["events"], list):
        raise InputError(source, "events", "must be a list of {host, kind, at, seconds, ...}")
    out = []
    for n, e in enumerate(data["events"]):
        item = f"events[{n}]"
        if not isinstance(e, dict):
            raise InputError(source, item, "must be a mapping")
        for key in ("host", "kind", "at", "seconds"):
            if key not in e:
                raise InputError(source, item, f"lacks {key}")
        kind = e["kind"]
        if kind not in KINDS:
            raise InputError(source, f"{item}.kind", f"is '{kind}', must be one of {', '.join(KINDS)}")
        if not isinstance(e["host"], str) or not e["host"]:
            raise InputError(source, f"{item}.host", "must be a host name")
        for key in ("at", "seconds"):
            v = e[key]
            if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v) or v < 0:
                raise InputError(source, f"{item}.{key}", f"'{v}' must be a number of seconds >= 0")
        if e["seconds"] <= 0:
            raise InputError(source, f"{item}.seconds", "must be > 0")
        params = dict(PARAMS[kind])
        for key, v in e.items():
            if key in ("host", "kind", "at", "seconds"):
                continue
            if key not in params:
                raise InputError(
                    source, f"{item}.{key}", f"unknown for {kind} (known: {', '.join(PARAMS[kind])})"
                )
            if type(v) is not type(params[key]) and not (
                isinstance(params[key], float) and isinstance(v, int)
            ):
                raise InputError(source, f"{item}.{key}", f"'{v}' is not a {type(params[key]).__name__}")
            params[key] = v
        if kind == "cpu" and not (0 < params["load"] <= 1 and 1 <= params["workers"] <= 8):
            raise InputError(source, item, "cpu needs 0 < load <= 1 and 1 <= workers <= 8")
        if kind == "memory" and not 1 <= params["mb"] <= 16384:
            raise InputError(source, f"{item}.mb", f"is {params['mb']}, must be in 1..16384")
        out.append(Event(e["host"], kind, float(e["at"]), float(e["seconds"]), params))
    return Schedule(tuple(sorted(out, key=lambda e: e.at)))


def load_schedule(path: Path) -> Schedule:
    try:
        text = path.read_text()
    except OSError as e:
        raise InputError(str(path), "file", f"cannot be read ({e.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "YAML"
        raise InputError(str(path), where, "is not valid YAML") from None
    return parse_schedule(data, str(path))


def draw_schedule(
    hosts: list[str],
    seconds: float,
    interval_s: float = 5.0,
    failures_per_host: float = 1.0,
    kinds: tuple[str, ...] = ("kill",),
    seed: int = 0,
    stress: tuple[int, int] = (4, 50),
    short: tuple[int, int] = (30, 100),
    long: tuple[int, int] = (500, 2000),
    p_long: float = 0.05,
) -> Schedule:
    """Failures drawn from the data set's statistics (prediction/failures.py), `interval_s`
    seconds per monitoring interval: each failure (a fault of `kinds`, in turn) is preceded by
    CPU and memory stress for 4-50 intervals (most of the data set's failures start 4 to 50
    intervals after the injector starts a stress period)."""
    from prediction.failures import FailureStats
    from prediction.failures import draw_schedule as draw

    rng = np.random.default_rng(seed)
    n = max(1, int(seconds / interval_s))
    stats = FailureStats(short, long, p_long)
    mean_len = (1 - p_long) * sum(short) / 2 + p_long * sum(long) / 2
    per_host = draw(rng, len(hosts), n, max(n / failures_per_host - mean_len, 1.0), stats)
    events, turn = [], 0
    for host, fs in zip(hosts, per_host, strict=True):
        for f in fs:
            lead = int(rng.integers(stress[0], stress[1] + 1))
            a = max(0, f.start - lead)
            if f.start > a:
                events.append(
                    Event(host, "cpu", a * interval_s, (f.start - a) * interval_s, dict(PARAMS["cpu"]))
                )
                events.append(Event(host, "memory", a * interval_s, (f.start - a) * interval_s, dict(PARAMS["memory"])))  # fmt: skip
            kind = kinds[turn % len(kinds)]
            turn += 1
            stop = min(f.stop, n)
            events.append(
                Event(host, kind, f.start * interval_s, (stop - f.start) * interval_s, dict(PARAMS[kind]))
            )
    return Schedule(tuple(sorted(events, key=lambda e: e.at)))


# ----------------------------------------------------------------------------- hosts


@dataclass(frozen=True)
class Host:
    name: str
    netns: str  # a path: /proc/PID/ns/net or /var/run/netns/NAME

    def argv(self, *cmd: str) -> list[str]:
        return ["nsenter", f"--net={self.netns}", *cmd]

    def inode(self) -> int:
        return os.stat(self.netns).st_ino


def resolve_host(spec: str, servers: dict[str, int] | None = None) -> Host:
    """`netns:NAME`, `pid:PID`, or a server name of the running fabric; InputError when none."""
    if spec.startswith("netns:"):
        path = f"/var/run/netns/{spec[6:]}"
    elif spec.startswith("pid:"):
        path = f"/proc/{spec[4:]}/ns/net"
    elif servers and spec in servers:
        path = f"/proc/{servers[spec]}/ns/net"
    else:
        known = (
            f" (servers: {', '.join(sorted(servers))})"
            if servers
            else " (no running fabric: use netns:NAME or pid:PID)"
        )
        raise InputError("host", spec, f"no such host{known}")
    if not os.path.exists(path):
        raise InputError("host", spec, f"no such host ({path} does not exist)")
    return Host(spec, path)


def processes_in(host: Host, match: str) -> list[int]:
    """Pids of processes in the host's network namespace whose command line holds `match`,
    except this one and the namespace's holder (Mininet's shell)."""
    want, out = host.inode(), []
    holder = int(host.netns.split("/")[2]) if host.netns.startswith("/proc/") else -1
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) in (os.getpid(), holder):
            continue
        try:
            if os.stat(d / "ns" / "net").st_ino != want:
                continue
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if match in cmd:
            out.append(int(d.name))
    return sorted(out)


def first_iface(host: Host) -> str:
    r = subprocess.run(host.argv("ip", "-o", "link", "show"), capture_output=True, text=True, check=True)
    for line in r.stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name != "lo":
            return name
    raise InputError("host", host.name, "has no interface but lo")


# ----------------------------------------------------------------------------- faults


@dataclass
class Applied:
    """A fault that stands, with what undoes it."""

    event: Event
    procs: list[subprocess.Popen] = field(default_factory=list)  # stressors to kill
    killed: list[tuple[list[str], str]] = field(default_factory=list)  # (argv, cwd) to start again
    iface: str = ""  # link: set down
    queue: str = ""  # drop: the interface whose root queue is a blackhole
    restarted: list[subprocess.Popen] = field(default_factory=list)


class Injector:
    """Applies and undoes faults; `with Injector(...) as inj:` undoes what stands on exit."""

    def __init__(self, hosts: dict[str, Host], log: Path | None = None) -> None:
        self.hosts, self.standing, self.restarted = hosts, [], []
        self.log = log.open("a") if log else None

    def __enter__(self) -> Injector:
        self._old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        for s in self._old:
            signal.signal(s, _interrupt)
        return self

    def __exit__(self, *exc) -> None:
        try:
            for a in reversed(list(self.standing)):
                self.undo(a)
        finally:
            for s, h in self._old.items():
                signal.signal(s, h)
            if self.log:
                self.log.close()

    def _note(self, what: str, e: Event, **extra: Any) -> None:
        if self.log:
            self.log.write(json.dumps({"time": time.time(), "what": what, **e.as_dict(), **extra}) + "\n")
            self.log.flush()

    def apply(self, e: Event) -> Applied:
        host = self.hosts[e.host]
        a = Applied(e)
        if e.kind == "cpu":
            for _ in range(int(e.params["workers"])):
                a.procs.append(_spawn(host, _CPU, str(e.params["load"])))
        elif e.kind == "memory":
            p = _spawn(host, _MEMORY, str(int(e.params["mb"])), stdout=subprocess.PIPE)
            a.procs.append(p)
            p.stdout.readline()  # the pages are touched: the memory is in use
        elif e.kind == "kill":
            for pid in processes_in(host, str(e.params["match"])):
                try:
                    argv = (Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0")).split(b"\0")
                    cwd = os.readlink(f"/proc/{pid}/cwd")
                    os.kill(pid, signal.SIGKILL)
                except (OSError, ProcessLookupError):
                    continue  # gone already
                a.killed.append(([x.decode() for x in argv], cwd))
        elif e.kind == "link":
            a.iface = str(e.params["iface"]) or first_iface(host)
            r = subprocess.run(
                host.argv("ip", "link", "set", a.iface, "down"), capture_output=True, text=True
            )
            if r.returncode != 0:
                raise InputError("host", e.host, f"cannot set {a.iface} down: {r.stderr.strip()}")
        else:
            a.queue = str(e.params["iface"]) or first_iface(host)
            r = subprocess.run(host.argv("tc", "qdisc", "replace", "dev", a.queue, "root", "blackhole"),
                               capture_output=True, text=True)  # fmt: skip
            if r.returncode != 0:
                raise InputError("host", e.host, f"cannot cut {a.queue} off: {r.stderr.strip()}")
        self.standing.append(a)
        self._note("start", e, pids=[p.pid for p in a.procs], killed=len(a.killed), iface=a.iface or a.queue)
        return a

    def undo(self, a: Applied) -> None:
        host = self.hosts[a.event.host]
        for p in a.procs:
            if p.poll() is None:
                p.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=5)
        for argv, cwd in a.killed:
            # started again as it was, in its own session (it outlives this command, as before)
            p = subprocess.Popen(host.argv(*argv), cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
            a.restarted.append(p)
            self.restarted.append(p)
        if a.iface:
            subprocess.run(host.argv("ip", "link", "set", a.iface, "up"), capture_output=True)
        if a.queue:
            subprocess.run(host.argv("tc", "qdisc", "del", "dev", a.queue, "root"), capture_output=True)
        if a in self.standing:
            self.standing.remove(a)
        self._note("end", a.event, restarted=[p.pid for p in a.restarted])

    def run(self, schedule: Schedule, progress=None, speed: float = 1.0) -> None:
        """Play the schedule in real time (`speed` x faster); every fault is undone at its end."""
        t0 = time.monotonic()
        actions = sorted([(e.at, 1, n, e) for n, e in enumerate(schedule.events)]
                         + [(e.at + e.seconds, 0, n, e) for n, e in enumerate(schedule.events)])  # fmt: skip
        applied: dict[int, Applied] = {}
        for when, start, n, e in actions:
            delay = t0 + when / speed - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if start:
                applied[n] = self.apply(e)
            elif n in applied:
                self.undo(applied.pop(n))
            if progress:
                progress(when)


def _spawn(host: Host, code: str, *args: str, stdout=subprocess.DEVNULL) -> subprocess.Popen:
    return subprocess.Popen(host.argv(sys.executable, "-c", code, *args), stdin=subprocess.DEVNULL, stdout=stdout,
                            stderr=subprocess.DEVNULL, text=True)  # fmt: skip


def _interrupt(signum, _frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# ----------------------------------------------------------------------------- CLI

app = typer.Typer(help="Inject failures into the emulated fabric's hosts (CPU, memory, a killed NF, a link down).",
                  no_args_is_help=True)  # fmt: skip
FabricOpt = Annotated[Path, typer.Option(help="fabric.json of a running srem deploy (for server names).")]
_FABRIC = Path("results/deploy/fabric.json")


def fabric_servers(path: Path) -> dict[str, int]:
    """Server name -> namespace pid of a running deploy; {} when there is none."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
        return {str(n): int(s["ns_pid"]) for n, s in data.get("servers", {}).items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise InputError(str(path), "servers", "is not a fabric.json written by srem deploy") from None


def _hosts(names: set[str], fabric: Path) -> dict[str, Host]:
    servers = fabric_servers(fabric)
    return {n: resolve_host(n, servers) for n in sorted(names)}


@app.command("run")
@one_line
def run_cmd(
    schedule: Annotated[Path, typer.Argument(help="The schedule YAML (srem inject draw writes one).")],
    fabric: FabricOpt = _FABRIC,
    log: Annotated[Path, typer.Option(help="JSON lines: every fault's start and end.")] = Path(
        "results/inject/inject.jsonl"
    ),
    speed: Annotated[float, typer.Option(help="Play the schedule this many times faster.")] = 1.0,
) -> None:
    """Play a schedule on the fabric's hosts; every fault is undone at its end and on exit."""
    from rich.progress import Progress

    s = load_schedule(schedule)
    if not speed > 0:
        raise InputError("--speed", str(speed), "must be > 0")
    hosts = _hosts({e.host for e in s.events}, fabric)  # every host checked before anything is applied
    log.parent.mkdir(parents=True, exist_ok=True)
    with Progress(transient=True) as bar, Injector(hosts, log) as inj:
        task = bar.add_task(f"{len(s.events)} faults", total=s.end)
        with contextlib.suppress(KeyboardInterrupt):  # what stands is undone on the way out
            inj.run(s, lambda t: bar.update(task, completed=t), speed)
    typer.echo(f"{len(s.events)} faults played and undone; log in {log}")


@app.command("once")
@one_line
def once_cmd(
    host: Annotated[str, typer.Option(help="A server of the fabric, netns:NAME or pid:PID.")],
    kind: Annotated[str, typer.Option(help=f"One of {', '.join(KINDS)}.")],
    seconds: Annotated[float, typer.Option(help="How long the fault stands.")] = 10.0,
    fabric: FabricOpt = _FABRIC,
) -> None:
    """One fault on one host, undone after SECONDS (or on Ctrl-C)."""
    s = parse_schedule(
        {"events": [{"host": host, "kind": kind, "at": 0, "seconds": seconds}]}, "--kind/--seconds"
    )
    with Injector(_hosts({host}, fabric)) as inj, contextlib.suppress(KeyboardInterrupt):
        inj.run(s)
    typer.echo(f"{kind} on {host} for {seconds:g} s, undone")


@app.command("draw")
@one_line
def draw_cmd(
    hosts: Annotated[str, typer.Option(help="Hosts, comma-separated.")],
    seconds: Annotated[float, typer.Option(help="Length of the schedule.")],
    out: Annotated[Path, typer.Option(help="Schedule YAML to write.")],
    interval_s: Annotated[
        float, typer.Option(help="Seconds per monitoring interval (the data set's: 5).")
    ] = 5.0,
    failures_per_host: Annotated[float, typer.Option(help="Mean failures per host over the schedule.")] = 1.0,
    kinds: Annotated[
        str, typer.Option(help="Failure kinds, in turn: kill, link, drop (each after stress).")
    ] = "kill",
    seed: Annotated[int, typer.Option(help="Seed of the draw.")] = 0,
) -> None:
    """Draw a schedule from the vEPC data set's failure statistics (stress, then the failure)."""
    names = [h for h in hosts.split(",") if h]
    ks = tuple(k for k in kinds.split(",") if k)
    if not names:
        raise InputError("--hosts", hosts, "names no host")
    for k in ks or ("",):
        if k not in ("kill", "link", "drop"):
            raise InputError("--kinds", kinds, f"'{k}' is not a failure kind (kill, link, drop)")
    for opt, v in (
        ("--seconds", seconds),
        ("--interval-s", interval_s),
        ("--failures-per-host", failures_per_host),
    ):
        if not v > 0:
            raise InputError(opt, str(v), "must be > 0")
    s = draw_schedule(names, seconds, interval_s, failures_per_host, ks, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"# srem inject draw --hosts {hosts} --seconds {seconds:g} --interval-s {interval_s:g} "
                   f"--failures-per-host {failures_per_host:g} --kinds {kinds} --seed {seed}\n" + s.dump())  # fmt: skip
    typer.echo(f"{len(s.events)} events over {s.end:.0f} s written to {out}")


def register(app_: typer.Typer) -> None:
    app_.add_typer(app, name="inject")


__all__ = ["Event", "Injector", "Schedule", "draw_schedule", "load_schedule", "parse_schedule", "register"]
