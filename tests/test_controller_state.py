"""The controller's desired-state machinery against two real switches over gRPC:
diff, make-before-break apply, rollback of a refused change, read-back verification,
and a restarted controller that reconciles without duplicating anything."""

import json
from pathlib import Path

import pytest
from p4.v1 import p4runtime_pb2 as R

from p4rt.client import SwitchConnection
from p4rt.state import ApplyError, apply, diff, read_state, verify
from p4target.compiler.driver import compile_p4
from p4target.runtime.server import serve
from p4target.switch.runner import Runner

P4 = Path(__file__).parent / "p4"


@pytest.fixture
def fabric():
    """Two reference switches with basic.p4, each with a primary controller connection."""
    c = compile_p4(P4 / "basic.p4")
    servers, conns = [], {}
    for dev, name in enumerate(("s1", "s2")):
        runner = Runner(dev)
        server, service, port = serve(runner, "127.0.0.1:0")
        servers.append((server, service))
        conn = SwitchConnection(f"127.0.0.1:{port}", dev, (0, 10))
        conn.set_pipeline(c.p4info, json.dumps(c.json).encode())
        conns[name] = conn
    yield conns
    for conn in conns.values():
        conn.close()
    for server, service in servers:
        service.stop()
        server.stop(None)


def route(conn, prefix: str, plen: int, port: int) -> R.Entity:
    e = conn.p4info.table_entry(
        "MyIngress.ipv4_lpm",
        {"hdr.ipv4.dstAddr": (prefix, plen)},
        "MyIngress.ipv4_forward",
        {"dstAddr": f"02:00:00:00:00:{port:02x}", "port": port},
    )
    return R.Entity(table_entry=e)


def mcast(group: int, ports: list[int]) -> R.Entity:
    e = R.Entity()
    g = e.packet_replication_engine_entry.multicast_group_entry
    g.multicast_group_id = group
    for i, p in enumerate(ports):
        g.replicas.add(egress_port=p, instance=i)
    return e


def default_noaction(conn) -> R.Entity:
    t = conn.p4info.table_entry("MyIngress.ipv4_lpm", {}, "NoAction", {})  # basic.p4 says drop
    t.is_default_action = True
    return R.Entity(table_entry=t)


def test_apply_reaches_the_desired_state_and_only_the_difference_is_written(fabric):
    want = {
        "s1": [route(fabric["s1"], f"10.1.{i}.0", 24, 1 + i % 3) for i in range(50)] + [mcast(7, [1, 2])],
        "s2": [route(fabric["s2"], f"10.2.{i}.0", 24, 2) for i in range(20)]
        + [default_noaction(fabric["s2"])],
    }
    first = apply(fabric, {n: verify(fabric[n], want[n]) for n in want})
    assert first.writes == 50 + 1 + 20 + 1
    for n in want:
        assert len(verify(fabric[n], want[n])) == 0
    # Move 10 routes to another port, drop 5, add 5: exactly 20 writes.
    want["s1"] = (
        [route(fabric["s1"], f"10.1.{i}.0", 24, 4) for i in range(10)]
        + [route(fabric["s1"], f"10.1.{i}.0", 24, 1 + i % 3) for i in range(10, 45)]
        + [route(fabric["s1"], f"10.9.{i}.0", 24, 1) for i in range(5)]
        + [mcast(7, [1, 2])]
    )
    ch = verify(fabric["s1"], want["s1"])
    assert (len(ch.inserts), len(ch.modifies), len(ch.deletes)) == (5, 10, 5)
    second = apply(fabric, {"s1": ch, "s2": verify(fabric["s2"], want["s2"])})
    assert second.writes == 20
    for n in want:
        assert len(verify(fabric[n], want[n])) == 0


def test_a_refused_write_leaves_every_switch_as_it_was(fabric):
    old = {n: [route(c, "10.0.0.0", 8, 1), mcast(3, [1])] for n, c in fabric.items()}
    apply(fabric, {n: verify(fabric[n], old[n]) for n in old})
    before = {n: sorted(x.SerializeToString() for x in read_state(c)) for n, c in fabric.items()}
    bad = route(fabric["s2"], "10.3.0.0", 16, 2)
    bad.table_entry.action.action.action_id = 12345  # no such action: the switch refuses it
    new = {
        "s1": [route(fabric["s1"], "10.0.0.0", 8, 2), route(fabric["s1"], "10.5.0.0", 16, 3)],
        "s2": [route(fabric["s2"], "10.0.0.0", 8, 3), bad, mcast(3, [1, 2])],
    }
    with pytest.raises(ApplyError, match="s2") as err:
        apply(fabric, {n: verify(fabric[n], new[n]) for n in new})
    assert "rolled back" in str(err.value) and not err.value.rollback_errors
    after = {n: sorted(x.SerializeToString() for x in read_state(c)) for n, c in fabric.items()}
    assert after == before


def test_a_restarted_controller_reads_back_and_finds_nothing_to_do(fabric):
    want = [route(fabric["s1"], f"10.4.{i}.0", 24, 1) for i in range(30)]
    apply(fabric, {"s1": verify(fabric["s1"], want)})
    addr, dev = fabric["s1"].address, fabric["s1"].device_id
    fabric["s1"].close()
    with SwitchConnection(addr, dev, (0, 11)) as again:
        again.fetch_pipeline()
        assert len(verify(again, want)) == 0
        fabric["s1"] = again
        # Reapplying the same desired state writes nothing.
        assert apply({"s1": again}, {"s1": verify(again, want)}).writes == 0


def test_the_desired_state_may_not_name_an_entity_twice(fabric):
    e = route(fabric["s1"], "10.0.0.0", 8, 1)
    with pytest.raises(ValueError, match="twice"):
        diff([], [e, e])


def test_a_restarted_controller_takes_over_but_never_preempts_a_live_primary(fabric):
    from p4rt.errors import P4RuntimeError

    addr, dev = fabric["s1"].address, fabric["s1"].device_id
    # The fixture's controller (election id 10) is alive: a lower id is refused.
    with pytest.raises(P4RuntimeError, match="not primary"):
        SwitchConnection(addr, dev, (0, 3))
    fabric["s1"].close()
    # Gone: a new controller with a lower id claims one above the highest the switch saw.
    again = SwitchConnection(addr, dev, (0, 3))
    assert again.election_id == (0, 11)
    fabric["s1"] = again
    with pytest.raises(P4RuntimeError, match="not primary"):
        SwitchConnection(addr, dev, (0, 4), claim=False)
