"""Frames the kernel dropped on the packet sockets of running processes (BMv2's libpcap
rings, srem's raw ports, any capture): PACKET_STATISTICS of every AF_PACKET socket of a
process, read through a duplicate of its descriptor (pidfd_getfd, Linux >= 5.6, root).
Such drops are counted nowhere else: not by the switch, not by `ip -s link`.

    python -m p4target.switch.sockstats PID [PID ...] [--every 2 --for 300]

prints one JSON object per read: {pid: {fd: [packets, drops]}}. The kernel resets the
counters on every read (the owner's own statistics, e.g. pcap_stats, lose what was read
here), so a poll sums them itself.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import socket
import time

from .ports import PACKET_STATISTICS, SOL_PACKET, TPACKET_STATS

SYS_PIDFD_OPEN, SYS_PIDFD_GETFD = 434, 438  # x86-64 and arm64 alike
_libc = ctypes.CDLL(None, use_errno=True)


def packet_socket_stats(pid: int) -> dict[int, tuple[int, int]]:
    """{fd: (packets, drops)} since the last read, for each AF_PACKET socket of `pid`
    (empty when the process is gone or cannot be inspected)."""
    out: dict[int, tuple[int, int]] = {}
    pidfd = _libc.syscall(SYS_PIDFD_OPEN, pid, 0)
    if pidfd < 0:
        return out
    try:
        for name in os.listdir(f"/proc/{pid}/fd"):
            try:
                if not os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:"):
                    continue
            except OSError:
                continue
            fd = _libc.syscall(SYS_PIDFD_GETFD, pidfd, int(name), 0)
            if fd < 0:
                continue
            sock = socket.socket(fileno=fd)  # ours to close: a duplicate
            try:
                if sock.family == socket.AF_PACKET:
                    raw = sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 12)  # v3 adds a third field
                    out[int(name)] = TPACKET_STATS.unpack_from(raw)
            except OSError:
                pass
            finally:
                sock.close()
    except OSError:
        pass
    finally:
        os.close(pidfd)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pids", type=int, nargs="+")
    ap.add_argument("--every", type=float, default=0.0, help="seconds between reads (0: read once)")
    ap.add_argument("--for", dest="duration", type=float, default=0.0, help="seconds to keep reading")
    a = ap.parse_args(argv)
    total: dict[int, dict[int, list[int]]] = {}
    end = time.monotonic() + a.duration
    while True:
        for pid in a.pids:
            for fd, (packets, drops) in packet_socket_stats(pid).items():
                t = total.setdefault(pid, {}).setdefault(fd, [0, 0])
                t[0] += packets
                t[1] += drops
        print(json.dumps(total), flush=True)
        if a.every <= 0 or time.monotonic() >= end:
            return
        time.sleep(a.every)


if __name__ == "__main__":
    main()
