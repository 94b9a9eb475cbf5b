"""Per-flow counters and rates of the stateful NFs and the `flows` op of their control
socket: what the DeepMigration planner reads to build its problem (issue 18 part 5)."""

import pytest
from scapy.all import IP, TCP, UDP, Ether, raw
from scapy.contrib.nsh import NSH

from nfs.control import ControlClient, ControlError, ControlServer
from nfs.flows import FlowFilter
from nfs.software import SoftwareHost
from nfs.stateful import RATE_WINDOW_S, FlowMeter

NAT = {"id": 7, "kind": "snat", "inside": "10.0.1.0/24", "public": "198.51.100.1", "ports": [40000, 40009]}
CT = {"id": 8, "kind": "conntrack", "inside": "10.0.1.0/24"}
FW = {"id": 1, "kind": "firewall", "default": "permit", "rules": []}


def frame(src, dst, sport, dport, spi=5, pad=b"x", udp=True):
    l4 = UDP(sport=sport, dport=dport) if udp else TCP(sport=sport, dport=dport)
    return raw(Ether(src="02:00:00:00:aa:01", dst="02:00:00:00:cc:01", type=0x894F)
               / NSH(mdtype=2, length=2, nextproto=1, spi=spi, si=255) / IP(src=src, dst=dst) / l4 / pad)  # fmt: skip


@pytest.fixture
def host():
    h = SoftwareHost()
    h.load({"nfs": [NAT, CT, FW], "hops": [[5, 255, 7], [6, 255, 8], [9, 255, 1]]})
    return h


def test_the_meter_measures_over_one_to_two_windows_and_decays_when_idle():
    m = FlowMeter(0.0)
    for k in range(300):  # 100 packets/s of 50 bytes for 3 s
        m.add(50, k / 100)
    pps, bps = m.rates(3.0)
    assert pps == pytest.approx(100, rel=0.02) and bps == pytest.approx(5000, rel=0.02)
    assert (m.packets, m.bytes) == (300, 15000)
    young = FlowMeter(10.0)
    for k in range(5):
        young.add(100, 10.0 + k / 100)
    assert young.rates(10.05)[0] == pytest.approx(5 / RATE_WINDOW_S)  # not 5 / 0.05 s: at least a window
    assert m.rates(3.0 + 2 * RATE_WINDOW_S)[0] == 0.0  # stopped: nothing in either window


def test_nat_counts_both_directions_per_inside_flow_and_forgets_with_the_state(host):
    nat = host.nfs[7]
    t = 100.0
    for k in range(40):  # flow A 3 packets for every 1 of flow B, A's replies too
        nat.process(frame("10.0.1.1", "10.0.2.2", 1000, 80), now=t + k / 40)
        if k % 3 == 0:
            nat.process(frame("10.0.1.2", "10.0.2.2", 1001, 80, pad=b"y" * 100), now=t + k / 40)
    nat.process(frame("10.0.2.2", "198.51.100.1", 80, 40000), now=t + 1.0)  # A's reply
    nat.process(frame("10.0.2.9", "198.51.100.1", 80, 45000), now=t + 1.0)  # nobody's: no state, not counted
    a, b = sorted(nat.meters.items())
    assert a[1].packets == 41 and b[1].packets == 14
    assert b[1].bytes == 14 * (20 + 8 + 100)  # IPv4 length
    count, rows = nat.flow_rates(FlowFilter(), 10)
    assert count == 2 and rows[0]["flow"]["src"] == "10.0.1.1"  # the busiest first
    assert nat.forget([a[0]]) == 1 and set(nat.meters) == {b[0]}


def test_the_flows_op_answers_rates_bounded_and_refuses_bad_requests(host, tmp_path):
    server = ControlServer(host, tmp_path / "c.sock").start()
    c = ControlClient(tmp_path / "c.sock")
    try:
        for k in range(5):
            for _ in range(k + 1):  # flow k sends k + 1 packets
                host.process(frame("10.0.1.1", "10.0.2.2", 2000 + k, 80))
        host.process(frame("10.0.1.1", "10.0.2.2", 3000, 80, spi=6))  # through the firewall
        ans = c.call("flows", nf=7, limit=2)
        assert ans["kind"] == "snat" and ans["count"] == 5 and ans["truncated"] is True
        assert [r["flow"]["sport"] for r in ans["flows"]] == [2004, 2003]
        assert ans["flows"][0]["packets"] == 5 and ans["flows"][0]["pps"] > 0
        assert ans["window_s"] == RATE_WINDOW_S
        only = c.call("flows", nf=7, filter={"sport": 2001})["flows"]
        assert [r["packets"] for r in only] == [2]
        ct = c.call("flows", nf=8)
        assert ct["kind"] == "conntrack" and ct["count"] == 1 and ct["flows"][0]["packets"] == 1
        # a flow put here (moved in) reads 0 until its first packet
        rec = c.call("get", nf=7, filter={"sport": 2000})["records"][0]
        rec["flow"]["sport"] = 2999
        rec["nat"]["sport"] = 40009
        c.call("put", nf=7, records=[rec])
        moved = c.call("flows", nf=7, filter={"sport": 2999})["flows"][0]
        assert moved["packets"] == 0 and moved["idle_s"] is None
        for bad, word in [({"limit": 0}, "limit"), ({"limit": True}, "limit"), ({"limit": 10**6}, "limit"),
                          ({"filter": {"src": "300.0.0.1"}}, "filter.src"), ({"nf": 1}, "stateless"),
                          ({"nf": 99}, "no NF instance")]:  # fmt: skip
            with pytest.raises(ControlError, match=word):
                c.call("flows", **{"nf": 7, **bad})
        assert c.call("ping")["ok"]  # the host lives on
    finally:
        c.close()
        server.close()
