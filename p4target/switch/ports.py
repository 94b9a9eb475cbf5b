"""Switch ports: Linux interfaces through raw sockets (veth, Mininet), in-process
queues for tests, and optional pcap files of everything a port sees."""

from __future__ import annotations

import contextlib
import os
import queue
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SOL_PACKET, PACKET_AUXDATA = 263, 8
PACKET_STATISTICS, PACKET_IGNORE_OUTGOING = 6, 23
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)  # Linux's value; Python does not export it
TPACKET_STATS = struct.Struct("II")  # struct tpacket_stats: packets, drops (reset on read)
# Receive buffer of every raw socket srem opens, in bytes. The kernel's default (212,992,
# net.core.rmem_default) holds only ~150 small frames on a veth (each charges its skb's
# truesize): a switch that forwards a burst at once (BMv2) overflows a Python NF or memory
# server that is descheduled for a few ms on a loaded machine. SREM_RCVBUF overrides it;
# 0 keeps the kernel's defaults (the diagnostic baseline: default buffer, own frames seen).
RCVBUF = int(os.environ.get("SREM_RCVBUF", 8 << 20))
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
        """Send, waiting for the link if it pushes back."""
        if self.pcap_out:
            self.pcap_out.write(data)
        self._send(data)

    def try_send(self, data: bytes) -> bool:
        """Send unless the link pushes back (False: nothing was sent)."""
        if not self._try_send(data):
            return False
        if self.pcap_out:
            self.pcap_out.write(data)
        return True

    def _try_send(self, data: bytes) -> bool:
        self._send(data)  # a port that never pushes back
        return True

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


# Offloads that let a veth hand up frames larger than its MTU. While any is on, libpcap
# sizes every slot of its receive ring for a 64 KB aggregate, so BMv2's 2 MB ring holds 32
# frames and a switch that falls 32 frames behind (descheduled for ~0.1 s on a loaded
# machine) loses the next ones in the kernel, counted only in the socket's tp_drops.
# Off, the slots are MTU-sized and the same ring holds hundreds.
OFFLOADS = ("tso", "gso", "gro", "lro")


def wire_sized(iface: str, netns: str | None = None) -> None:
    """Make a Linux interface that a switch captures on carry frames as on the wire (no
    segmentation or receive aggregation offloads). Features a driver fixes are left as
    they are; one ethtool call per feature, since it refuses a list holding a fixed one."""
    prefix = ["ip", "netns", "exec", netns] if netns else []
    for feature in OFFLOADS:
        subprocess.run([*prefix, "ethtool", "-K", iface, feature, "off"], capture_output=True)


def set_rcvbuf(sock: socket.socket, size: int = RCVBUF) -> int:
    """Give a socket a receive buffer of `size` bytes: SO_RCVBUFFORCE (root, past
    net.core.rmem_max), else SO_RCVBUF (capped by rmem_max). The size the kernel took
    (it doubles the request for its bookkeeping)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)


def open_raw(iface: str, rcvbuf: int = RCVBUF) -> socket.socket:
    """An AF_PACKET socket bound to `iface` for every protocol, with a large receive
    buffer and (Linux >= 4.20) without copies of its own transmissions, which would
    otherwise take half of that buffer on a port that answers every frame it gets."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    try:
        if rcvbuf <= 0:
            sock.bind((iface, 0))
            return sock
        set_rcvbuf(sock, rcvbuf)
        with contextlib.suppress(OSError):  # older kernel: recv skips them (PACKET_OUTGOING)
            sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        sock.bind((iface, 0))
    except OSError:
        sock.close()
        raise
    return sock


def packet_drops(sock: socket.socket) -> int:
    """Frames the kernel dropped on an AF_PACKET socket since the last call."""
    try:
        _packets, drops = TPACKET_STATS.unpack(
            sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, TPACKET_STATS.size)
        )
    except OSError:
        return 0
    return drops


class RawPort(Port):
    """A Linux interface, read and written whole frames at a time (AF_PACKET)."""

    def __init__(self, number: int, iface: str, pcap_dir: Path | None = None) -> None:
        super().__init__(number, iface, pcap_dir)
        self.kernel_drops = 0  # frames the kernel dropped before we read them (buffer full)
        try:
            self.sock = open_raw(iface)
            self.sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
            self.sock.setblocking(False)
        except OSError as e:
            raise OSError(f"cannot open interface {iface} for port {number}: {e.strerror}") from None

    def new_drops(self) -> int:
        """Frames the kernel dropped on this socket since the last call (PACKET_STATISTICS)."""
        n = packet_drops(self.sock)
        self.kernel_drops += n
        return n

    # The socket stays non-blocking: receiving waits in select, so that a thread sending
    # on it (and waiting for the link) is not bound by the receiver's timeout.
    def _recv(self, timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                data, anc, _flags, addr = self.sock.recvmsg(65535, socket.CMSG_SPACE(AUXDATA.size))
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                    return None
                continue
            except OSError:
                return None
            if addr[2] != PACKET_OUTGOING:  # our own transmissions come back too: skip them
                return restore_vlan(data, anc)

    def _try_send(self, data: bytes) -> bool:
        try:
            self.sock.send(data)
        except BlockingIOError:  # the socket's send buffer is full: the link is slower
            return False
        return True

    def _send(self, data: bytes) -> None:
        while not self._try_send(data):
            select.select([], [self.sock], [], 0.2)

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
        checked = time.monotonic()
        while not stop.is_set():
            readable, _, _ = select.select([p.sock for p in ports], [], [], 0.2)
            if time.monotonic() - checked >= 1.0:
                checked = time.monotonic()
                _report_drops(ports)
            for port in ports:
                if port.sock not in readable:
                    continue
                data = port.recv(0)
                if data is not None:
                    for out in handle(data):
                        port.send(out)
    finally:
        _report_drops(ports)
        for port in ports:
            port.close()


def _report_drops(ports: list[RawPort]) -> None:
    """One stderr line per port whose socket overflowed since the last report: a frame
    lost there is counted by no switch and no NF, only by the kernel."""
    for port in ports:
        n = port.new_drops()
        if n:
            print(
                f"kernel dropped {n} frames on {port.name} (receive buffer full; {port.kernel_drops} in all)",
                file=sys.stderr,
                flush=True,
            )


def serve_until_signal(
    iface: str | Sequence[str], handle: Callable[[bytes], Iterable[bytes]], ready_line: str
) -> None:
    """`serve_frames` until SIGINT or SIGTERM (a command's whole life); `ready_line` is
    printed once the socket is open, so that a supervisor can wait for it."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    serve_frames(iface, handle, stop, lambda: print(ready_line, flush=True))
