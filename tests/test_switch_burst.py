"""Bursts into processes that are not running at that moment (issue 23's loss): the raw
sockets srem opens (its switch's ports, and `serve_frames`, the loop of `srem nf-host`
and `srem memserver`) must hold a burst that arrives while the process is stopped or
busy, and say so when the kernel drops frames anyway. Root: veths in a namespace."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

from p4target.compiler.driver import compile_p4
from p4target.switch.ports import RCVBUF, open_raw, packet_drops, serve_frames
from tests.netns import in_netns, veth_namespace

P4 = Path(__file__).parent / "p4" / "ecn_mark.p4"
ETHERTYPE = bytes.fromhex("88b5")  # local experimental: no kernel protocol takes it


def program(tmp: Path) -> Path:
    path = tmp / "ecn.json"
    path.write_text(json.dumps(compile_p4(P4).json))
    return path


def test_a_responder_answers_a_burst_that_arrives_while_it_is_busy():
    """A burst of 3,000 frames while the responder's first answer takes 0.5 s (a process
    descheduled on a loaded machine): all answered, none dropped by the kernel. With the
    kernel's default receive buffer (212,992 bytes: SREM_RCVBUF=0) about 270 fit."""
    n = 3000
    with veth_namespace("srem-burst", [("h1", "s1")]) as ns:
        stop, ready, seen = threading.Event(), threading.Event(), []

        def handle(data: bytes) -> list[bytes]:
            if not seen:
                time.sleep(0.5)
            seen.append(data)
            return [data[6:12] + data[:6] + data[12:]]

        def serve() -> None:
            in_netns(ns, lambda: serve_frames("s1", handle, stop, ready.set))

        server = threading.Thread(target=serve, daemon=True)
        server.start()
        assert ready.wait(10)

        def burst() -> tuple[int, int]:
            sock = open_raw("h1")
            sock.settimeout(0.5)
            try:
                for k in range(n):
                    sock.send(
                        bytes.fromhex("020000000001020000000002")
                        + ETHERTYPE
                        + k.to_bytes(4, "big")
                        + bytes(96)
                    )
                got = 0
                while True:
                    try:
                        data = sock.recv(2048)
                    except TimeoutError:
                        break
                    got += data[12:14] == ETHERTYPE
                return got, packet_drops(sock)
            finally:
                sock.close()

        try:
            answered, drops_here = in_netns(ns, burst)
        finally:
            stop.set()
            server.join(5)
    assert len(seen) == n and answered == n and drops_here == 0


def test_raw_sockets_get_the_large_receive_buffer():
    with veth_namespace("srem-rcvbuf", [("h1", "s1")]) as ns:
        size = in_netns(ns, lambda: _rcvbuf("s1"))
    assert size >= 2 * RCVBUF  # the kernel doubles the request; capped below it without FORCE


def _rcvbuf(iface: str) -> int:
    s = open_raw(iface)
    try:
        return s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    finally:
        s.close()


def test_srem_switch_forwards_a_burst_that_arrived_while_it_was_stopped(tmp_path):
    from tests.differential import stall_burst

    got = stall_burst("srem", program(tmp_path), n=2000)
    assert got == 2000, f"{got} of 2000 frames came through"


def test_drops_on_another_process_s_packet_socket_are_read():
    """What found BMv2's drops: PACKET_STATISTICS of a process's sockets, read from outside."""
    import os

    from p4target.switch.sockstats import packet_socket_stats

    with veth_namespace("srem-stats", [("h1", "s1")]) as ns:

        def fill() -> tuple[int, int]:
            small = open_raw("s1", rcvbuf=0)  # the kernel's default buffer, never read
            send = open_raw("h1")
            for k in range(3000):
                send.send(
                    bytes.fromhex("020000000001020000000002") + ETHERTYPE + k.to_bytes(4, "big") + bytes(96)
                )
            send.close()
            return small.fileno(), small.detach()

        fd, _ = in_netns(ns, fill)
        try:
            packets, drops = packet_socket_stats(os.getpid())[fd]
        finally:
            os.close(fd)
    assert packets == 3000 and 0 < drops < 3000
