"""srem's switch behind a slow link (issue 23): a port whose link pushes back holds the
packets for it in its egress queue, so enq_qdepth grows, tests/p4/ecn_mark.p4 marks CE
and a full queue drops (counted); in process with a port slower than the traffic, and
as `srem switch` on a veth behind a tc token bucket (root). The same flood on real BMv2
is in tests/test_differential_ecn.py."""

from __future__ import annotations

import functools
import json
import os
import shutil
import struct
import threading
import time
from pathlib import Path

import pytest

from p4target.compiler.driver import compile_p4
from p4target.switch import load
from p4target.switch.ports import QueuePort
from p4target.switch.runner import Runner

P4 = Path(__file__).parent / "p4" / "ecn_mark.p4"
CE = 3


@functools.cache
def ecn_json() -> dict:
    return compile_p4(P4).json


def frame(seq: int, ecn: int = 2) -> bytes:
    """Ethernet + IPv4 (ECT(0) by default) + the sequence number."""
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, ecn, 28, seq & 0xFFFF, 0, 64, 17, 0, bytes(4), bytes(4))
    return bytes(12) + b"\x08\x00" + ip + struct.pack("!II", 0x45434E31, seq)


def seq_ecn(data: bytes) -> tuple[int, int]:
    return struct.unpack("!I", data[38:42])[0], data[15] & 3


class SlowPort(QueuePort):
    """A link that carries `pps` frames a second and buffers nothing: a frame offered while
    the previous one is still on the wire is refused (try_send) or waited for (send)."""

    def __init__(self, number: int, pps: float) -> None:
        super().__init__(number)
        self.gap, self.free, self.mutex = 1.0 / pps, 0.0, threading.Lock()

    def _try_send(self, data: bytes) -> bool:
        with self.mutex:
            now = time.monotonic()
            if now < self.free:
                return False
            self.free = now + self.gap
        self.tx.put(data)
        return True

    def _send(self, data: bytes) -> None:
        while not self._try_send(data):
            time.sleep(max(0.0, self.free - time.monotonic()))


def test_a_port_that_pushes_back_builds_the_queue_marks_and_drops():
    runner = Runner()
    runner.add_port(QueuePort(1))
    slow = SlowPort(2, pps=200)
    runner.add_port(slow)
    runner.set_switch(load(ecn_json()))
    runner.start()
    try:
        n = 300
        for seq in range(n):  # far faster than 200 frames/s
            runner.inject(1, frame(seq))
        out: list[tuple[int, int]] = []
        while len(out) + runner.switch.tm.drops["full"] < n:
            out.append(seq_ecn(slow.tx.get(timeout=10)))
    finally:
        runner.stop()
    seqs = [s for s, _ in out]
    marks = [e for _, e in out]
    assert seqs == sorted(seqs)  # one queue, one link: in order
    # the first frames met an empty queue; once ten wait, every later one is marked
    assert marks[:5] == [2] * 5
    assert marks.count(CE) >= 40 and set(marks[marks.index(CE) :]) == {CE}
    # the queue held its default depth (64) and dropped the rest, counted: nothing vanished
    assert runner.switch.tm.drops["full"] > 0 and len(out) + runner.switch.tm.drops["full"] == n
    assert runner.counts["blocked"] >= 1 and runner.counts["errors"] == 0
    assert not runner.blocked  # drained: the port passes packets straight through again


def test_a_port_that_keeps_up_marks_nothing():
    runner = Runner()
    for p in (1, 2):
        runner.add_port(QueuePort(p))
    runner.set_switch(load(ecn_json()))
    runner.start()
    try:
        for seq in range(100):
            runner.inject(1, frame(seq))
        out = [seq_ecn(runner.ports[2].tx.get(timeout=10)) for _ in range(100)]
    finally:
        runner.stop()
    assert out == [(seq, 2) for seq in range(100)] and runner.counts["blocked"] == 0


@functools.cache
def flood(target: str) -> dict:
    """The flood of tests/differential.py's `ecn_flood` through `target` (once per run)."""
    import tempfile

    from tests.differential import ecn_flood

    with tempfile.TemporaryDirectory() as d:
        program = Path(d) / "ecn.json"
        program.write_text(json.dumps(ecn_json()))
        return ecn_flood(target, program)


def needs_netns() -> str | None:
    if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("tc"):
        return "needs root, iproute2 and tc for a veth behind a token bucket"
    return None


@pytest.mark.skipif(needs_netns() is not None, reason=needs_netns() or "")
def test_srem_switch_marks_behind_a_tc_limited_link():
    r = flood("srem")
    marks = [e for _, e in r["got"]]
    # 600 frames at 800/s into a 2 Mbit/s link (250 frames/s of 1,000 bytes): the link's
    # socket buffer fills, then the egress queue; before this fix the queue never filled
    # and no frame was marked
    assert marks.count(CE) >= 50, f"{marks.count(CE)} of {len(marks)} marked CE"
    assert marks[:10] == [2] * 10
