"""simple_switch's traffic manager timing on the reference switch: a rate-limited port
builds a queue (enq_qdepth grows, ECN-style marking happens), a full queue drops (counted),
timestamps advance in microseconds, and a higher priority queue is served first."""

import struct
from pathlib import Path

import pytest

from p4target.compiler.driver import compile_p4
from p4target.switch import load
from p4target.switch.queues import TrafficManager

P4 = Path(__file__).parent / "p4"
FMT = ">BBIIIIQQ"  # mark, prio, enq_qdepth, deq_qdepth, deq_timedelta, enq_timestamp, ingress_ts, egress_ts


@pytest.fixture(scope="module")
def program():
    return compile_p4(P4 / "queueing.p4").json


def packet(prio: int = 0) -> bytes:
    return bytes([0, prio]) + bytes(16) + bytes(12)


def fields(data: bytes) -> dict:
    ts = [int.from_bytes(data[18 + 6 * k : 24 + 6 * k], "big") for k in range(2)]
    mark, prio, enq, deq, delta, enq_ts = struct.unpack(">BBIIII", data[:18])
    return {"mark": mark, "prio": prio, "enq_qdepth": enq, "deq_qdepth": deq, "deq_timedelta": delta,
            "enq_ts": enq_ts, "ingress_ts": ts[0], "egress_ts": ts[1]}  # fmt: skip


def test_without_configuration_nothing_waits(program):
    sw = load(program)
    for k in range(5):
        ((port, data),) = sw.process(1, packet(), now=k * 0.001)
        f = fields(data)
        assert port == 2 and f["enq_qdepth"] == 0 and f["deq_timedelta"] == 0 and f["mark"] == 0
        assert f["ingress_ts"] == f["egress_ts"] == f["enq_ts"] == k * 1000  # µs since the first packet


def test_a_rate_limited_port_queues_marks_and_drops(program):
    sw = load(program)
    sw.tm.set_queue_rate(1000, port=2)  # one packet per millisecond
    sw.tm.set_queue_depth(10, port=2)
    out = []
    for _ in range(15):  # a burst at t = 0
        out += sw.process(1, packet(), now=0.0)
    assert len(out) == 1  # the first leaves at once; ten wait; four find the queue full
    assert sw.tm.drops["full"] == 4 and sw.tm.pending() == 10
    mid = sw.release(0.0035)  # three more have left by t = 3.5 ms
    assert len(mid) == 3 and sw.tm.pending() == 7
    out += mid + sw.release(1.0)
    got = [fields(d) for _, d in out]
    assert [f["enq_qdepth"] for f in got] == [0, *range(10)]
    assert [f["deq_qdepth"] for f in got] == [0, *range(9, -1, -1)]
    assert [f["deq_timedelta"] for f in got] == [0, *range(1000, 11000, 1000)]
    assert [f["egress_ts"] for f in got] == [0, *range(1000, 11000, 1000)]
    assert all(f["ingress_ts"] == 0 for f in got)
    assert [f["mark"] for f in got] == [0, 0, 0, 0, 0, 0, 3, 3, 3, 3, 3]  # queue >= 5 deep


def test_priority_queues_serve_the_higher_priority_first(program):
    sw = load(program)
    sw.tm = TrafficManager(queues_per_port=2)
    sw.tm.set_queue_rate(100, port=2)
    first = sw.process(1, packet(prio=0), now=0.0)  # leaves at once, the port is then busy 10 ms
    for _ in range(3):
        sw.process(1, packet(prio=0), now=0.001)
    sw.process(1, packet(prio=1), now=0.002)  # arrives last, leaves first
    order = [fields(d)["prio"] for _, d in first + sw.release(1.0)]
    assert order == [0, 1, 0, 0, 0]
    sw.process(1, packet(prio=5), now=2.0)  # no such queue: dropped, as BMv2 does
    assert sw.tm.drops["priority"] == 1


def test_configuration_is_checked():
    tm = TrafficManager(queues_per_port=4)
    with pytest.raises(ValueError, match="queue rate"):
        tm.set_queue_rate(0)
    with pytest.raises(ValueError, match="queue depth"):
        tm.set_queue_depth(0)
    with pytest.raises(ValueError, match="priority 4 out of range"):
        tm.set_queue_rate(10, port=1, priority=4)
    with pytest.raises(ValueError, match="priority queues"):
        TrafficManager(queues_per_port=9)


def test_a_running_switch_paces_a_rate_limited_port_without_further_input(program):
    """The runner lets held-back packets out when they are due (simple_switch's egress
    threads), not only when the next packet arrives; settings survive a pipeline change."""

    from p4target.switch.ports import QueuePort
    from p4target.switch.runner import Runner

    runner = Runner(0)
    runner.queue_rates[2] = 200.0  # port 2 sends 200 packets/s
    p1, p2 = QueuePort(1), QueuePort(2)
    runner.add_port(p1)
    runner.add_port(p2)
    runner.set_switch(load(program))
    runner.start()
    try:
        for _ in range(10):
            p1.rx.put(packet())
        got = [p2.tx.get(timeout=5) for _ in range(10)]  # no packet follows: pacing alone
        deltas = [fields(d)["deq_timedelta"] for d in got]
        assert deltas == sorted(deltas) and deltas[-1] >= 35_000  # the 10th waited ~45 ms
        assert runner.switch.tm.pending() == 0
        runner.set_switch(load(program))
        assert runner.switch.tm.rates == {(2, None): 200.0}
    finally:
        runner.stop()


def test_srem_switch_refuses_bad_queue_options():
    import subprocess
    import sys

    srem = str(Path(sys.executable).parent / "srem")
    for args, what in (
        (["--queue-rate", "2:fast"], "PORT:VALUE"),
        (["--queue-depth", "0"], "depth"),
        (["--priority-queues", "9"], "1..8"),
    ):
        p = subprocess.run([srem, "switch", *args], capture_output=True, text=True, timeout=60)
        assert p.returncode == 2 and what in p.stderr and "Traceback" not in p.stderr, p.stderr
