"""The reference target's commands: `srem p4c`, `srem switch`, `srem stf`.

They are registered on the main `srem` app by `register`; a user mistake raises
`InputError`, which the command prints as one red line, exiting with status 2.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 120)


class InputError(ValueError):
    """A user mistake: names the option or file, the item and what is wrong (like srem's own,
    but the target imports nothing from srem's other packages)."""

    def __init__(self, source: str, item: str, message: str) -> None:
        self.source, self.item, self.message = source, item, message
        super().__init__(f"{source}: {item}: {message}")


def _one_line(cmd):
    """The command, with a user mistake turned into one red line on stderr and exit status 2."""

    @functools.wraps(cmd)
    def run(*args, **kwargs):
        try:
            return cmd(*args, **kwargs)
        except InputError as e:
            Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {e}", highlight=False)
            raise typer.Exit(2) from None

    return run


def p4c(
    program: Annotated[Path, typer.Argument(help="P4_16 program for the v1model architecture.")],
    out: Annotated[
        Path, typer.Option("-o", "--out", help="Folder for PROGRAM.json and PROGRAM.p4info.txtpb.")
    ] = Path("build"),
    include: Annotated[list[Path] | None, typer.Option("-I", help="Include folder (repeatable).")] = None,
    define: Annotated[list[str] | None, typer.Option("-D", help="NAME=VALUE macro (repeatable).")] = None,
    p4info_format: Annotated[str, typer.Option(help="text or binary.")] = "text",
    compiler: Annotated[
        str,
        typer.Option(help="srem (built in), p4c-bm2-ss or bf-p4c (Tofino; the real tools, when installed)."),
    ] = "srem",
    target: Annotated[str, typer.Option(help="bf-p4c only: tofino or tofino2.")] = "tofino",
    arch: Annotated[
        str, typer.Option(help="bf-p4c only: v1model, tna (tofino) or t2na (tofino2).")
    ] = "v1model",
) -> None:
    """Compile a P4 program to BMv2 JSON and P4Info, like p4c-bm2-ss; or for Tofino with the
    real bf-p4c, printing what the program uses of the pipeline (compiled, not run)."""
    from p4target.compiler import driver

    if compiler not in (*driver.COMPILERS, "bf-p4c"):
        raise InputError("--compiler", compiler, f"must be one of {', '.join((*driver.COMPILERS, 'bf-p4c'))}")
    if p4info_format not in ("text", "binary"):
        raise InputError("--p4info-format", p4info_format, "must be text or binary")
    if not program.is_file():
        raise InputError(str(program), "file", "is a directory" if program.is_dir() else "does not exist")
    defines = {}
    for d in define or []:
        name, _, value = d.partition("=")
        defines[name] = value or "1"
    if compiler == "bf-p4c":
        _tofino(program, out, target, arch, include or [], defines)
        return
    if compiler == "p4c-bm2-ss":
        jpath, ipath = driver.run_p4c(program, out, include or [], defines)
    else:
        c = driver.compile_p4(program, include, defines)
        for w in c.warnings:
            Console(stderr=True, soft_wrap=True).print(w, highlight=False, markup=False)
        jpath, ipath = driver.write(out, program.stem, c, p4info_format)
    console.print(f"wrote {jpath} and {ipath}")


def _tofino(program: Path, out: Path, target: str, arch: str, include: list[Path], defines: dict) -> None:
    from p4target.compiler import tofino

    if target not in tofino.TARGETS:
        raise InputError("--target", target, f"must be one of {', '.join(tofino.TARGETS)}")
    if arch not in tofino.TARGETS[target]:
        raise InputError("--arch", arch, f"{target} takes {' or '.join(tofino.TARGETS[target])}")
    b = tofino.compile_tofino(program, out / f"{program.stem}.{target}", target, arch, include, defines)
    t = Table(title=f"{program.name} on {target} ({arch}): compiled by bf-p4c, not run")
    for h in ("resource", "used", "available"):
        t.add_column(h, justify="right")
    t.add_row("MAU stages", str(b.stages), str(b.stages_available))
    t.add_row("logical tables", str(b.tables), "")
    t.add_row("SRAM blocks", str(b.sram), str(b.sram_available))
    t.add_row("TCAM blocks", str(b.tcam), str(b.tcam_available))
    for width, n in b.phv.items():
        t.add_row(f"PHV {width}-bit containers", str(n), str(b.phv_available.get(width, "")))
    console.print(t)
    console.print(f"wrote {b.out} ({target}.bin, context.json, logs/)")


def switch(
    program: Annotated[
        Path | None, typer.Argument(help="BMv2 JSON to run until a controller sets a pipeline.")
    ] = None,
    device_id: Annotated[int, typer.Option("--device-id", help="P4Runtime device id.")] = 0,
    interface: Annotated[
        list[str] | None, typer.Option("-i", "--interface", help="PORT@IFACE (repeatable).")
    ] = None,
    grpc_server_addr: Annotated[str, typer.Option(help="Where P4Runtime listens.")] = "127.0.0.1:9559",
    cpu_port: Annotated[int | None, typer.Option(help="Port whose packets go to the controller.")] = None,
    pcap: Annotated[Path | None, typer.Option(help="Write PORT_in.pcap / PORT_out.pcap here.")] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    target: Annotated[
        str, typer.Option(help="srem (built in) or simple_switch_grpc (BMv2, when installed).")
    ] = "srem",
    priority_queues: Annotated[
        int, typer.Option("--priority-queues", help="Strict-priority egress queues per port (1-8).")
    ] = 1,
    queue_rate: Annotated[
        list[str] | None,
        typer.Option(
            help="PPS or PORT:PPS, packets/s an egress port sends (simple_switch's set_queue_rate)."
        ),
    ] = None,
    queue_depth: Annotated[
        list[str] | None,
        typer.Option(help="N or PORT:N, packets an egress queue holds (simple_switch's set_queue_depth)."),
    ] = None,
) -> None:
    """Run the reference v1model switch with its P4Runtime server (like simple_switch_grpc)."""
    import logging
    import os
    import shutil
    import signal
    import threading

    if target not in ("srem", "simple_switch_grpc"):
        raise InputError("--target", target, "must be srem or simple_switch_grpc")
    if target == "simple_switch_grpc":
        exe = shutil.which("simple_switch_grpc")
        if exe is None:
            raise InputError("--target", target, "simple_switch_grpc is not on PATH; use --target srem")
        # The same options, in BMv2's spelling; its P4Runtime server replaces ours.
        argv = [exe, "--device-id", str(device_id), "--log-level", log_level]
        for spec in interface or []:
            argv += ["-i", spec]
        if pcap:
            argv += ["--pcap", str(pcap)]
        argv += [str(program)] if program else ["--no-p4"]
        argv += ["--", "--grpc-server-addr", grpc_server_addr]
        if cpu_port is not None:
            argv += ["--cpu-port", str(cpu_port)]
        if priority_queues != 1:
            argv += ["--priority-queues", str(priority_queues)]
        if queue_rate or queue_depth:
            raise InputError(
                "--queue-rate/--queue-depth", "simple_switch_grpc", "set them with simple_switch_CLI there"
            )
        os.execv(exe, argv)

    from p4target.runtime.server import serve
    from p4target.switch import JsonError, load
    from p4target.switch.ports import RawPort
    from p4target.switch.runner import Runner

    if log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise InputError("--log-level", log_level, "must be debug, info, warning or error")
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    runner = Runner(device_id, cpu_port)
    _queue_options(runner, priority_queues, queue_rate or [], queue_depth or [])
    if pcap:
        pcap.mkdir(parents=True, exist_ok=True)
    for spec in interface or []:
        number, sep, iface = spec.partition("@")
        if not sep or not number.isdigit() or not iface:
            raise InputError("-i", spec, "expected PORT@IFACE, like 1@veth0")
        try:
            runner.add_port(RawPort(int(number), iface, pcap))
        except (OSError, ValueError) as e:
            raise InputError("-i", spec, str(e)) from None
    if program is not None:
        try:
            runner.set_switch(load(program.read_bytes()))
        except OSError as e:
            raise InputError(str(program), "file", e.strerror or str(e)) from None
        except JsonError as e:
            raise InputError(str(program), "BMv2 JSON", str(e)) from None
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError) as e:
            raise InputError(str(program), "BMv2 JSON", f"malformed: {type(e).__name__}: {e}") from None
    try:
        server, service, port = serve(runner, grpc_server_addr)
    except (OSError, RuntimeError) as e:
        raise InputError("--grpc-server-addr", grpc_server_addr, str(e)) from None
    runner.start()
    console.print(
        f"device {device_id}: {len(runner.ports)} ports, P4Runtime on {grpc_server_addr.rsplit(':', 1)[0]}:{port}"
    )
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    service.stop()
    server.stop(grace=1)
    runner.stop()


def stf(
    program: Annotated[Path, typer.Argument(help="P4 program, or its BMv2 JSON.")],
    test: Annotated[Path, typer.Argument(help="STF file: table entries, packets in, packets expected.")],
) -> None:
    """Run an STF test (p4c's simple test format) on the reference switch; exit 1 if it fails."""
    from p4target.compiler.driver import compile_p4
    from p4target.stf import StfError, run_stf
    from p4target.switch import JsonError, load

    for f in (program, test):
        if not f.is_file():
            raise InputError(str(f), "file", "is a directory" if f.is_dir() else "does not exist")
    try:
        j = program.read_text() if program.suffix == ".json" else compile_p4(program).json
        result = run_stf(load(j), test.read_text())
    except UnicodeDecodeError as e:
        raise InputError(
            str(program if program.suffix == ".json" else test), "encoding", f"not UTF-8 ({e.reason})"
        ) from None
    except JsonError as e:
        raise InputError(str(program), "BMv2 JSON", str(e)) from None
    except StfError as e:
        raise InputError(str(test), "STF", str(e)) from None
    for f in result.failures:
        console.print(f"[red]FAIL[/] {f}", highlight=False)
    verdict = "passed" if result.passed else "failed"
    console.print(f"{test.name}: {verdict} ({result.packets_in} packets in, {result.packets_out} out)")
    if not result.passed:
        raise typer.Exit(1)


def _queue_options(runner, priority_queues: int, rates: list[str], depths: list[str]) -> None:
    """Queue settings onto the runner, checked the way the traffic manager checks them."""
    from p4target.switch.queues import MAX_QUEUES

    if not 1 <= priority_queues <= MAX_QUEUES:
        raise InputError("--priority-queues", str(priority_queues), f"must be 1..{MAX_QUEUES}")
    runner.priority_queues = priority_queues
    for option, specs, into, kind in (
        ("--queue-rate", rates, runner.queue_rates, float),
        ("--queue-depth", depths, runner.queue_depths, int),
    ):
        for spec in specs:
            port, _, value = spec.rpartition(":")
            try:
                into[int(port) if port else None] = kind(value)
            except ValueError:
                raise InputError(option, spec, "expected VALUE or PORT:VALUE") from None
    try:
        runner.traffic_manager()  # refuses a rate or depth out of range, naming it
    except ValueError as e:
        raise InputError("--queue-rate/--queue-depth", "", str(e)) from None


def register(app: typer.Typer) -> None:
    """Add the target's commands to the `srem` app."""
    for cmd in (p4c, switch, stf):
        app.command()(_one_line(cmd))
