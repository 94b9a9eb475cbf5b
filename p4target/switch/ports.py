"""Switch ports: Linux interfaces through raw sockets (veth, Mininet), in-process
queues for tests, and optional pcap files of everything a port sees."""

from __future__ import annotations

import queue
import select
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SOL_PACKET, PACKET_AUXDATA = 263, 8
TP_STATUS_VLAN_VALID, TP_STATUS_VLAN_TPID_VALID = 0x10, 0x40
AUXDATA = struct.Struct("IIIHHHH")  # struct tpacket_auxdata


def restore_vlan(data: bytes, ancillary: list) -> bytes:
    """Put back the 802.1Q tag the kernel took off (it reports it in PACKET_AUXDATA),
    so that the pipeline sees the frame as it was on the wire."""
    for level, kind, payload in ancillary:
        if level != SOL_PACKET or kind != PACKET_AUXDATA or len(payload) < AUXDATA.size:
            continue
        status, _len, _snap, _mac, _net, tci, tpid = AUXDATA.unpack_from(payload)
        if status & TP_STATUS_VLAN_VALID and len(data) >= 12:
            tpid = tpid if status & TP_STATUS_VLAN_TPID_VALID and tpid else 0x8100
            return data[:12] + struct.pack("!HH", tpid, tci) + data[12:]
    return data


class PcapWriter:
    """A libpcap file (Ethernet link type), written as packets pass."""

    def __init__(self, path: Path) -> None:
        self.f = open(path, "wb")  # noqa: SIM115 - open for the port's lifetime
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        self.lock = threading.Lock()

    def write(self, data: bytes) -> None:
        t = time.time()
        with self.lock:
            self.f.write(struct.pack("<IIII", int(t), int((t % 1) * 1e6), len(data), len(data)) + data)
            self.f.flush()

    def close(self) -> None:
        self.f.close()


class Port:
    def __init__(self, number: int, name: str, pcap_dir: Path | None = None) -> None:
        self.number, self.name = number, name
        self.pcap_in = PcapWriter(pcap_dir / f"{name}_in.pcap") if pcap_dir else None
        self.pcap_out = PcapWriter(pcap_dir / f"{name}_out.pcap") if pcap_dir else None

    def recv(self, timeout: float) -> bytes | None:
        data = self._recv(timeout)
        if data is not None and self.pcap_in:
            self.pcap_in.write(data)
        return data

    def send(self, data: bytes) -> None:
        if self.pcap_out:
            self.pcap_out.write(data)
        self._send(data)

    def close(self) -> None:
        for p in (self.pcap_in, self.pcap_out):
            if p:
                p.close()

    def _recv(self, timeout: float) -> bytes | None:
        raise NotImplementedError

    def _send(self, data: bytes) -> None:
        raise NotImplementedError


class QueuePort(Port):
    """An in-process port: tests put frames in `rx` and read what the switch sent from `tx`."""

    def __init__(self, number: int, pcap_dir: Path | None = None) -> None:
        super().__init__(number, f"port{number}", pcap_dir)
        self.rx: queue.Queue[bytes] = queue.Queue()
        self.tx: queue.Queue[bytes] = queue.Queue()

    def _recv(self, timeout: float) -> bytes | None:
        try:
            return self.rx.get(timeout=timeout)
        except queue.Empty:
            return None

    def _send(self, data: bytes) -> None:
        self.tx.put(data)


class RawPort(Port):
    """A Linux interface, read and written whole frames at a time (AF_PACKET)."""

    def __init__(self, number: int, iface: str, pcap_dir: Path | None = None) -> None:
        super().__init__(number, iface, pcap_dir)
        try:
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            self.sock.bind((iface, 0))
            self.sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
        except OSError as e:
            raise OSError(f"cannot open interface {iface} for port {number}: {e.strerror}") from None

    def _recv(self, timeout: float) -> bytes | None:
        self.sock.settimeout(timeout)
        while True:
            try:
                data, anc, _flags, addr = self.sock.recvmsg(65535, socket.CMSG_SPACE(AUXDATA.size))
            except TimeoutError:
                return None
            except OSError:
                return None
            if addr[2] != PACKET_OUTGOING:  # our own transmissions come back too: skip them
                return restore_vlan(data, anc)

    def _send(self, data: bytes) -> None:
        self.sock.send(data)

    def close(self) -> None:
        super().close()
        self.sock.close()


def serve_frames(
    ifaces: str | Sequence[str],
    handle: Callable[[bytes], Iterable[bytes]],
    stop: threading.Event,
    ready: Callable[[], None] | None = None,
) -> None:
    """Answer every frame that arrives on one or more Linux interfaces with the frames
    `handle` returns, sent back out of the interface the frame came in on, until `stop`
    is set: the loop of a responder on raw ports (the memory server, a software NF).
    `ready` runs once every socket is open."""
    names = [ifaces] if isinstance(ifaces, str) else list(ifaces)
    ports: list[RawPort] = []
    try:
        for k, name in enumerate(names):
            ports.append(RawPort(k, name))
        if ready is not None:
            ready()  # frames from now on are answered
        while not stop.is_set():
            readable, _, _ = select.select([p.sock for p in ports], [], [], 0.2)
            for port in ports:
                if port.sock not in readable:
                    continue
                data = port.recv(0)
                if data is not None:
                    for out in handle(data):
                        port.send(out)
    finally:
        for port in ports:
            port.close()


def serve_until_signal(
    iface: str | Sequence[str], handle: Callable[[bytes], Iterable[bytes]], ready_line: str
) -> None:
    """`serve_frames` until SIGINT or SIGTERM (a command's whole life); `ready_line` is
    printed once the socket is open, so that a supervisor can wait for it."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    serve_frames(iface, handle, stop, lambda: print(ready_line, flush=True))
