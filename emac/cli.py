"""`srem memserver`: a memory server answering RoCEv2 on a Linux interface."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

import typer

from topologies import InputError


def _int(text: str, what: str, spec: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise InputError(what, spec, f"'{text}' is not a number") from None


def _mac(text: str, what: str, spec: str) -> str:
    parts = text.split(":")
    if len(parts) != 6 or not all(
        len(p) == 2 and all(c in "0123456789abcdefABCDEF" for c in p) for p in parts
    ):
        raise InputError(what, spec, f"'{text}' is not a MAC address")
    return text.lower()


def _ip(text: str, what: str, spec: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise InputError(what, spec, f"'{text}' is not an IPv4 address") from None


def _iface_mac(iface: str) -> str:
    try:
        return Path(f"/sys/class/net/{iface}/address").read_text().strip()
    except OSError:
        raise InputError("--iface", iface, "no such network interface") from None


def memserver(
    iface: Annotated[
        list[str],
        typer.Option(help="Interface the switch reaches the server on; repeat for more (e.g. the EMAC's)."),
    ],
    ip: Annotated[str, typer.Option(help="The server's IPv4 address (RoCEv2 destination).")],
    region: Annotated[list[str], typer.Option(help="VA:SIZE:RKEY of a registered region (repeatable).")],
    qp: Annotated[
        list[str], typer.Option(help="QPN:PEER_MAC:PEER_IP:PEER_QPN[:PSN], a connected QP (repeatable).")
    ],
    mac: Annotated[str | None, typer.Option(help="Its MAC address (default: the interface's).")] = None,
    mtu: Annotated[int, typer.Option(help="Largest READ response payload per packet.")] = 1024,
    read_only: Annotated[bool, typer.Option(help="Regions refuse WRITEs (remote access NAK).")] = False,
) -> None:
    """Serve RDMA READ/WRITE over registered regions like a RoCEv2 responder NIC."""

    from emac.memserver import Responder, serve
    from emac.roce import Endpoint

    me = Endpoint(_mac(mac, "--mac", mac) if mac else _iface_mac(iface[0]), _ip(ip, "--ip", ip), 0)
    if not 64 <= mtu <= 4096:
        raise InputError("--mtu", str(mtu), "must be in 64..4096")
    r = Responder(me, mtu=mtu)
    for spec in region:
        parts = spec.split(":")
        if len(parts) != 3:
            raise InputError("--region", spec, "expected VA:SIZE:RKEY, like 0x40000000:1048576:0x1234")
        va, size, rkey = (_int(p, "--region", spec) for p in parts)
        if not 0 < size <= 1 << 30:
            raise InputError("--region", spec, "size must be in 1..1 GiB")
        try:
            r.register(va, size, rkey, writable=not read_only)
        except ValueError as e:
            raise InputError("--region", spec, str(e)) from None
    for spec in qp:
        parts = spec.split(":")
        if len(parts) not in (9, 10):  # the MAC holds 6 of them
            raise InputError("--qp", spec, "expected QPN:PEER_MAC:PEER_IP:PEER_QPN[:PSN]")
        qpn = _int(parts[0], "--qp", spec)
        peer = Endpoint(
            _mac(":".join(parts[1:7]), "--qp", spec),
            _ip(parts[7], "--qp", spec),
            _int(parts[8], "--qp", spec),
        )
        psn = _int(parts[9], "--qp", spec) if len(parts) == 10 else 0
        r.connect(qpn, peer, psn)
    try:
        serve(r, iface, f"memory server on {', '.join(iface)}: {len(r.regions)} regions, {len(r.qps)} QPs")
    except OSError as e:
        raise InputError("--iface", ",".join(iface), e.strerror or str(e)) from None


def register(app: typer.Typer) -> None:
    app.command()(memserver)
