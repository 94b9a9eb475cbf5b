"""move() with real packets: a srem switch process running fabric.p4 on veths of a network
namespace this module creates, two (three) `srem nf-host --control` processes each running
an instance of the stateful NAT, a sender at ~600 packets/s on one UDP flow and a receiver
that records what arrives. The flow's NAT mapping is made at instance A by its first
packet, then the flow is moved to B under traffic."""

import time

import pytest

from controller.orchestration.monitor import fabric_counters
from controller.orchestration.move import Instance, move
from tests.orch_fabric import FW_PORT, FW_SPI, LM_SPI, Traffic, nf_host, one_switch


@pytest.fixture(scope="module")
def fabric(tmp_path_factory):
    with one_switch(tmp_path_factory.mktemp("move")) as f:
        yield f


def run_move(fabric, sport: int, guarantee: str, dst: str = "b", hook=None):
    ns, _tmp, _c, inst, steering = fabric
    flt = {"src": "10.0.1.1", "proto": 17, "sport": sport}
    with Traffic(ns, sport) as tr:
        time.sleep(0.8)  # the flow's mapping is made at A, packets flow
        before = list(tr.got)
        res = move(flt, inst["a"], inst[dst], guarantee, steering, hook=hook)
        time.sleep(0.8)
    return tr, before, res


@pytest.mark.parametrize("guarantee", ["order-preserving", "loss-free"])
def test_a_nat_flow_moved_under_traffic_loses_nothing_and_keeps_its_mapping(fabric, guarantee):
    sport = 2000 if guarantee == "loss-free" else 2001
    tr, before, res = run_move(fabric, sport, guarantee)
    assert before, "no packet made it through A before the move"
    seqs = [g[2] for g in tr.got]
    src_ports = {g[1] for g in tr.got}
    assert res.ok and res.flows == 1, res
    assert tr.sent >= 800 and sorted(seqs) == list(range(tr.sent)), (tr.sent, len(seqs), res)
    assert len(src_ports) == 1 and {g[0] for g in tr.got} == {"198.51.100.1"}, (src_ports, res)
    if guarantee == "order-preserving":
        assert seqs == sorted(seqs), res
    assert res.held_src + res.held_dst > 0 or res.late == 0, res
    chains = fabric_counters(fabric[2])["chain_in"]  # the monitor's fabric counters: paths 5 (A) and 6 (B)
    assert chains[5][0] > 0 and chains[6][0] > 0 and chains[5][0] + chains[6][0] >= tr.sent, chains
    print(guarantee, res.to_dict())


def test_a_move_without_guarantee_shows_what_it_costs(fabric):
    tr, _before, res = run_move(fabric, 2002, "none")
    seqs = [g[2] for g in tr.got]
    lost = tr.sent - len(set(seqs))
    remapped = sum(1 for g in tr.got if g[1] != tr.got[0][1])
    print("none", res.to_dict(), "lost", lost, "remapped", remapped)
    assert res.ok and res.flows == 1, res
    assert lost + remapped > 0, (
        "a move without guarantee cost nothing here: the test would not see a regression"
    )


def test_a_destination_that_dies_mid_move_rolls_back_and_the_source_keeps_serving(fabric):
    ns, tmp, _c, _inst, _steering = fabric
    victim = nf_host(ns, tmp, "c")
    hook = lambda step: step == "put" and (victim.kill(), victim.wait())
    tr, _before, res = run_move(fabric, 2003, "order-preserving", dst="c", hook=hook)
    seqs = [g[2] for g in tr.got]
    assert res.rolled_back and not res.ok and res.error, res
    assert tr.sent >= 800 and sorted(seqs) == list(range(tr.sent)), (tr.sent, len(seqs), res)
    assert {g[1] for g in tr.got} == {tr.got[0][1]} and 40000 <= tr.got[0][1] <= 40999  # still A's mapping


def test_a_firewall_connection_moved_under_reply_traffic_still_admits_its_replies(fabric):
    """Replies at 500 packets/s to a connection opened from inside: dropped before it is
    opened, admitted after, and still admitted at the other instance after an
    order-preserving move of the connection's state, none lost or reordered."""
    ns, _tmp, _c, inst, steering = fabric
    fw = {n: Instance(n, i.control, 8, FW_SPI[n]) for n, i in inst.items()}
    with Traffic(ns, 6000, rate=500, dport=FW_PORT, reverse=True) as replies:
        time.sleep(0.5)
        assert replies.got == []  # not opened from inside: every reply dropped
        opened_at = replies.sent
        with Traffic(ns, 6000, rate=50, dport=FW_PORT) as inside:
            time.sleep(0.7)
            res = move({"src": "10.0.1.1", "dport": FW_PORT}, fw["a"], fw["b"], "order-preserving", steering)
            time.sleep(0.7)
        time.sleep(0.3)
    seqs = [g[2] for g in replies.got]
    assert res.ok and res.flows == 1, res
    assert inside.got and replies.sent - opened_at >= 500
    first = seqs[0]
    assert opened_at <= first < opened_at + 500  # admitted once the inside packet opened it (within 1 s)
    assert seqs == list(range(first, replies.sent)), (first, replies.sent, len(seqs), res)


def test_a_destination_that_dies_after_the_steering_hands_the_flow_back_to_the_source(fabric):
    ns, tmp, _c, _inst, _steering = fabric
    victim = nf_host(ns, tmp, "c")
    hook = lambda step: step == "steer" and (victim.kill(), victim.wait())
    tr, before, res = run_move(fabric, 2004, "order-preserving", dst="c", hook=hook)
    assert res.rolled_back and res.error.startswith("after steering"), res
    a_port = before[0][1]
    tail = [g for g in tr.got if g[2] >= tr.sent - 300]  # the last half second: served by A again
    assert len(tail) >= 290 and {g[1] for g in tail} == {a_port}, (len(tail), {g[1] for g in tail})
    print("dies after steering", res.to_dict(), "lost", tr.sent - len({g[2] for g in tr.got}))


def test_a_nat_flow_moved_from_a_server_to_lm_and_back_keeps_its_mapping_and_loses_nothing(fabric):
    """Server → LM (fabric.p4's nat table, written over P4Runtime) and LM → server, both
    loss-free, under 600 packets/s; order-preserving to LM is refused (LM cannot hold)."""
    from controller.orchestration.lm import LmNat
    from controller.orchestration.move import MoveError

    ns, _tmp, c, inst, steering = fabric
    lm = Instance("lm", "", 7, LM_SPI, lm=LmNat(c, 7, "198.51.100.1"))
    flt = {"src": "10.0.1.1", "proto": 17, "sport": 2005}
    with pytest.raises(MoveError, match="order-preserving moves need both instances to hold"):
        move(flt, inst["a"], lm, "order-preserving", steering)
    with Traffic(ns, 2005) as tr:
        time.sleep(0.8)
        lm_before = c.counter_read("nf_packets").get(7, (0, 0))[0]
        there = move(flt, inst["a"], lm, "loss-free", steering)
        time.sleep(0.8)
        in_lm = c.counter_read("nf_packets").get(7, (0, 0))[0] - lm_before
        back = move(flt, lm, inst["a"], "loss-free", steering)
        time.sleep(0.8)
    seqs = [g[2] for g in tr.got]
    assert there.ok and back.ok and there.flows == back.flows == 1, (there, back)
    assert tr.sent >= 1000 and sorted(seqs) == list(range(tr.sent)), (tr.sent, len(seqs), there, back)
    assert len({(g[0], g[1]) for g in tr.got}) == 1, {(g[0], g[1]) for g in tr.got}  # one mapping throughout
    assert in_lm >= 300 and lm.lm.map == {}, in_lm  # LM translated the flow, then forgot it
    print("to LM", there.to_dict(), "back", back.to_dict())
