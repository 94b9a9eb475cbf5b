"""`srem nf`: a software NF on a server's interface."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nfs.entries import KINDS
from topologies import InputError


def nf(
    kind: Annotated[str, typer.Option(help="firewall, nat, lb or ratelimit.")],
    iface: Annotated[str, typer.Option(help="Interface NSH packets arrive on (and leave by).")],
    config: Annotated[Path, typer.Option(help="YAML: the NF's entries (one NF of a scenario's nfs:).")],
    mac: Annotated[
        str | None, typer.Option(help="Source MAC of returned packets (default: the interface's).")
    ] = None,
) -> None:
    """Run one software NF: NSH in, the NF applied, Service Index decremented, back out."""

    import yaml

    from nfs.entries import EntryError
    from nfs.software import SoftwareNF, serve

    if kind not in KINDS:
        raise InputError("--kind", kind, f"must be one of {', '.join(KINDS)}")
    try:
        data = yaml.safe_load(config.read_text())
    except OSError as e:
        raise InputError(str(config), "file", e.strerror or str(e)) from None
    except yaml.YAMLError as e:
        raise InputError(str(config), "YAML", str(e).splitlines()[0]) from None
    if isinstance(data, dict) and data.get("kind") != kind:
        raise InputError(str(config), "kind", f"describes a {data.get('kind')!r}, not a {kind}")
    if mac is None:
        try:
            mac = Path(f"/sys/class/net/{iface}/address").read_text().strip()
        except OSError:
            raise InputError("--iface", iface, "no such network interface") from None
    try:
        sw = SoftwareNF.from_config(data, mac)
    except (EntryError, ValueError) as e:
        raise InputError(str(config), "NF", str(e)) from None
    try:
        serve(sw, iface, f"{kind} NF {sw.nf.id} on {iface}")
    except OSError as e:
        raise InputError("--iface", iface, e.strerror or str(e)) from None


def nf_host(
    iface: Annotated[str, typer.Option(help="Interface NSH packets arrive on (and leave by).")],
    config: Annotated[
        Path, typer.Option(help="YAML: nfs: [software NF configs], hops: [[spi, si, nf id], ...].")
    ],
    mac: Annotated[
        str | None, typer.Option(help="Source MAC of returned packets (default: the interface's).")
    ] = None,
    control: Annotated[
        Path | None,
        typer.Option(
            help="Unix socket of the control channel: per-flow state of the stateful NFs, counters."
        ),
    ] = None,
) -> None:
    """Run every software NF of one server; each (SPI, SI) goes to the NF the config names.
    SIGHUP reloads the config at once (a bad one is reported and the old one kept).
    With --control, the stateful NFs' state is read and written through that socket."""
    import signal

    import yaml

    from nfs.entries import EntryError
    from nfs.software import SoftwareHost, serve

    if mac is None:
        try:
            mac = Path(f"/sys/class/net/{iface}/address").read_text().strip()
        except OSError:
            raise InputError("--iface", iface, "no such network interface") from None
    host = SoftwareHost(bytes.fromhex(mac.replace(":", "")))

    def load() -> str:
        try:
            host.load(yaml.safe_load(config.read_text()))
        except OSError as e:
            return f"error: {config}: {e.strerror or e}"
        except (yaml.YAMLError, EntryError, ValueError) as e:
            return f"error: {config}: {str(e).splitlines()[0]}"
        return f"loaded {len(host.nfs)} NFs, {len(host.hops)} hops on {iface}"

    first = load()
    if first.startswith("error"):
        raise InputError(str(config), "host config", first.split(": ", 2)[-1])
    # A supervisor reads these lines: the first says the socket is open, each later one a reload.
    signal.signal(signal.SIGHUP, lambda *_: print(load(), flush=True))
    server = None
    if control is not None:
        server = _control_server(host, iface, control)
    try:
        serve(host, iface, first)
    except OSError as e:
        raise InputError("--iface", iface, e.strerror or str(e)) from None
    finally:
        if server is not None:
            server.close()


def _control_server(host, iface: str, path: Path):
    """The control channel, with a send socket on the interface for frames the NFs
    process outside the packet loop (released or injected during a move)."""
    import socket

    from nfs.control import ControlServer

    try:
        out = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        out.bind((iface, 0))
    except OSError as e:
        raise InputError(
            "--iface", iface, "no such network interface" if e.errno == 19 else e.strerror
        ) from None
    try:
        return ControlServer(host, path, emit=out.send).start()
    except OSError as e:
        raise InputError("--control", str(path), e.strerror or str(e)) from None


def register(app: typer.Typer) -> None:
    app.command()(nf)
    app.command("nf-host")(nf_host)
