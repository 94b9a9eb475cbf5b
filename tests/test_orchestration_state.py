"""Stateful software NFs (NAT, connection tracking) and their southbound interface over the
control socket of an NF host: get / put / delete by flow filter, holds, bad requests."""

import contextlib
import json
import socket
import threading
import time

import pytest
from scapy.all import IP, TCP, UDP, Ether, raw
from scapy.contrib.nsh import NSH

from nfs.control import MAX_CLIENTS, ControlClient, ControlError, ControlServer
from nfs.flows import FilterError, Flow, FlowFilter
from nfs.software import SoftwareHost

NAT = {"id": 7, "kind": "snat", "inside": "10.0.1.0/24", "public": "198.51.100.1", "ports": [40000, 40009]}
CT = {"id": 8, "kind": "conntrack", "inside": "10.0.1.0/24"}
FW = {"id": 1, "kind": "firewall", "default": "permit", "rules": []}


def frame(src, dst, sport, dport, spi=5, si=255, ident=0, udp=False):
    l4 = UDP(sport=sport, dport=dport) if udp else TCP(sport=sport, dport=dport)
    return raw(
        Ether(src="02:00:00:00:aa:01", dst="02:00:00:00:cc:01", type=0x894F)
        / NSH(mdtype=2, length=2, nextproto=1, spi=spi, si=si)
        / IP(src=src, dst=dst, id=ident)
        / l4
        / b"x"
    )


def ip_of(out: bytes) -> IP:
    return IP(out[22:])


@pytest.fixture
def host():
    h = SoftwareHost()
    h.load({"nfs": [NAT, CT, FW], "hops": [[5, 255, 7], [6, 255, 8], [9, 255, 1]]})
    return h


def test_nat_allocates_on_first_packet_translates_back_and_checksums_verify(host):
    out = host.process(frame("10.0.1.1", "10.0.2.2", 1000, 80))
    ip = ip_of(out)
    assert (ip.src, ip[TCP].sport) == ("198.51.100.1", 40000)
    assert out[21] == 254  # SI decremented
    again = ip_of(host.process(frame("10.0.1.1", "10.0.2.2", 1000, 80)))
    assert again[TCP].sport == 40000  # same flow, same mapping
    other = ip_of(host.process(frame("10.0.1.2", "10.0.2.2", 1000, 80)))
    assert other[TCP].sport == 40001
    back = ip_of(host.process(frame("10.0.2.2", "198.51.100.1", 80, 40000)))
    assert (back.dst, back[TCP].dport) == ("10.0.1.1", 1000)
    for p in (ip, again, other, back):  # scapy recomputes: equal means the NF's sums are right
        chk = p.chksum, p[TCP].chksum
        del p.chksum, p[TCP].chksum
        assert (IP(raw(p)).chksum, IP(raw(p))[TCP].chksum) == chk


def test_nat_port_exhaustion_is_counted_and_dropped(host):
    nat = host.nfs[7]
    for k in range(10):
        assert host.process(frame("10.0.1.1", "10.0.2.2", 2000 + k, 80)) is not None
    assert host.process(frame("10.0.1.1", "10.0.2.2", 3000, 80)) is None
    assert nat.stats["errors"] == 1 and nat.flows() == 10


def test_conntrack_admits_return_traffic_only_after_an_inside_open(host):
    back = frame("10.0.2.2", "10.0.1.1", 80, 1000, spi=6)
    assert host.process(back) is None  # nothing opened yet
    assert host.process(frame("10.0.1.1", "10.0.2.2", 1000, 80, spi=6)) is not None
    assert host.process(back) is not None
    ct = host.nfs[8]
    assert ct.get(FlowFilter()) == [
        {"flow": Flow.parse({"src": "10.0.1.1", "dst": "10.0.2.2", "proto": 6, "sport": 1000, "dport": 80})
         .to_dict(), "conn": {"packets": 1, "replies": 1}}
    ]  # fmt: skip


def test_filters_parse_match_and_refuse_malformed_fields():
    f = FlowFilter.parse({"src": "10.0.1.0/24", "proto": 6, "dport": [80, 90]})
    assert f.matches(Flow.parse({"src": "10.0.1.9", "dst": "1.2.3.4", "proto": 6, "sport": 5, "dport": 85}))
    assert not f.matches(
        Flow.parse({"src": "10.0.2.9", "dst": "1.2.3.4", "proto": 6, "sport": 5, "dport": 85})
    )
    assert FlowFilter.parse(f.to_dict()) == f
    for bad, word in [({"src": "10.0.1.0/33"}, "src"), ({"dport": [90, 80]}, "empty"),
                      ({"proto": "tcp"}, "proto"), ({"port": 1}, "unknown field"), ([1], "mapping"),
                      ({"sport": True}, "sport")]:  # fmt: skip
        with pytest.raises(FilterError, match=word):
            FlowFilter.parse(bad)


@pytest.fixture
def channel(host, tmp_path):
    sent = []
    server = ControlServer(host, tmp_path / "c.sock", emit=sent.append).start()
    client = ControlClient(tmp_path / "c.sock")
    yield host, client, sent, server
    client.close()
    server.close()


def test_get_put_delete_move_a_mapping_between_two_hosts(channel, tmp_path):
    host, client, _sent, _ = channel
    host.process(frame("10.0.1.1", "10.0.2.2", 1000, 80))
    host.process(frame("10.0.1.2", "10.0.2.2", 1000, 80))
    got = client.call("get", nf=7, filter={"src": "10.0.1.1"})
    assert got["kind"] == "snat" and len(got["records"]) == 1
    assert got["records"][0]["nat"] == {"src": "198.51.100.1", "sport": 40000}
    other = SoftwareHost()
    other.load({"nfs": [{**NAT, "ports": [41000, 41009]}], "hops": [[5, 255, 7]]})
    dst = ControlServer(other, tmp_path / "d.sock").start()
    try:
        d = ControlClient(tmp_path / "d.sock")
        assert d.call("put", nf=7, records=got["records"])["count"] == 1
        out = ip_of(other.process(frame("10.0.1.1", "10.0.2.2", 1000, 80)))
        assert out[TCP].sport == 40000  # the moved mapping, not one of 41000..
        assert client.call("delete", nf=7, filter={"src": "10.0.1.1"})["count"] == 1
        assert [r["flow"]["src"] for r in client.call("get", nf=7, filter={})["records"]] == ["10.0.1.2"]
        d.close()
    finally:
        dst.close()


@pytest.mark.parametrize(
    "req, word",
    [
        ({"op": "get", "nf": 99, "filter": {}}, "no NF instance 99"),
        ({"op": "get", "nf": 1, "filter": {}}, "stateless firewall"),
        ({"op": "get", "nf": 7, "filter": {"src": "300.1.1.1"}}, "filter.src"),
        ({"op": "get", "nf": "7"}, "nf must be"),
        ({"op": "frobnicate"}, "unknown op"),
        (
            {
                "op": "put",
                "nf": 7,
                "records": [
                    {
                        "flow": {"src": "10.0.1.1", "dst": "10.0.2.2", "proto": 6, "sport": 1, "dport": 80},
                        "conn": {"packets": 1},
                    }
                ],
            },
            "holds conntrack state; NF 7 is a snat",
        ),
        ({"op": "put", "nf": 7, "records": [{"flow": {"src": "10.0.1.1"}, "nat": {}}]}, "dst is missing"),
        ({"op": "put", "nf": 8, "records": "all"}, "must be a list"),
        ({"op": "delete", "nf": 7}, "needs a filter"),
        ({"op": "take", "nf": 7, "move": "nope"}, "holds nothing"),
        ({"op": "take", "nf": 7, "move": "m", "end": "yes"}, "end must be true or false"),
        ({"op": "inject", "nf": 7, "frames": ["zz"]}, "hex"),
    ],
)
def test_bad_requests_get_one_line_and_change_nothing(channel, req, word):
    host, client, _, server = channel
    host.process(frame("10.0.1.1", "10.0.2.2", 1000, 80))
    before = client.call("get", nf=7, filter={})["records"]
    ans = server.answer(json.dumps(req).encode())
    assert not ans["ok"] and word in ans["error"] and "\n" not in ans["error"], ans
    assert client.call("get", nf=7, filter={})["records"] == before


def test_a_put_that_conflicts_half_way_applies_nothing(channel):
    host, client, _, _ = channel
    host.process(frame("10.0.1.1", "10.0.2.2", 1000, 80))  # holds port 40000
    flow = lambda s: {"src": s, "dst": "10.0.2.2", "proto": 6, "sport": 7, "dport": 80}
    recs = [{"flow": flow("10.0.1.5"), "nat": {"src": "198.51.100.1", "sport": 40005}},
            {"flow": flow("10.0.1.6"), "nat": {"src": "198.51.100.1", "sport": 40000}}]  # fmt: skip
    with pytest.raises(ControlError, match="already mapped"):
        client.call("put", nf=7, records=recs)
    assert len(client.call("get", nf=7, filter={})["records"]) == 1


def test_huge_garbage_and_too_many_clients_are_refused_and_the_server_lives_on(
    channel, tmp_path, monkeypatch
):
    import nfs.control as control

    _host, client, _, _ = channel
    monkeypatch.setattr(control, "MAX_REQUEST", 1 << 16)
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(tmp_path / "c.sock"))
    s.sendall(b"x" * (1 << 17))  # no newline, over the limit
    ans = json.loads(s.makefile("rb").readline())
    assert not ans["ok"] and "over" in ans["error"]
    s.close()
    g = socket.socket(socket.AF_UNIX)
    g.connect(str(tmp_path / "c.sock"))
    g.sendall(b"\xff\xfe{\n[1]\n")
    answers = g.makefile("rb")
    assert [json.loads(answers.readline())["error"] for _ in range(2)] == [
        "request is not one JSON object"
    ] * 2
    g.close()
    extra = [ControlClient(tmp_path / "c.sock") for _ in range(MAX_CLIENTS - 1)]
    late = socket.socket(socket.AF_UNIX)
    late.connect(str(tmp_path / "c.sock"))
    assert "busy" in json.loads(late.makefile("rb").readline())["error"]
    late.close()
    for c in extra:
        c.close()
    assert client.call("ping")["nfs"] == [{"id": 7, "kind": "snat"}, {"id": 8, "kind": "conntrack"}]


def test_racing_puts_and_packets_leave_a_consistent_table(channel, tmp_path):
    host, _client, _, _ = channel
    others = [ControlClient(tmp_path / "c.sock") for _ in range(3)]

    def put(c, k):
        for j in range(3):
            flow = {"src": f"10.0.1.{10 + k}", "dst": "10.0.2.2", "proto": 6, "sport": j, "dport": 80}
            with contextlib.suppress(ControlError):
                c.call("put", nf=7, records=[{"flow": flow, "nat": {"src": "198.51.100.1", "sport": 40003}}])

    ts = [threading.Thread(target=put, args=(c, k)) for k, c in enumerate(others)]
    for t in ts:
        t.start()
    for k in range(5):
        host.process(frame("10.0.1.1", "10.0.2.2", 5000 + k, 80))
    for t in ts:
        t.join()
    nat = host.nfs[7]
    assert len(set(nat.map.values())) == len(nat.map) == len(nat.rev)  # one flow per public port
    for c in others:
        c.close()


def test_hold_take_inject_release_keep_arrival_order(channel):
    host, client, sent, _ = channel
    client.call("hold", nf=7, move="m", filter={"src": "10.0.1.1"})
    for k in range(5):
        assert host.process(frame("10.0.1.1", "10.0.2.2", 1000, 80, ident=k)) is None
    assert host.process(frame("10.0.1.2", "10.0.2.2", 1000, 80)) is not None  # not held
    assert client.call("held", nf=7, move="m") == {"ok": True, "buffered": 5, "seen": 5}
    frames = client.call("take", nf=7, move="m")["frames"]
    assert [IP(bytes.fromhex(f)[22:]).id for f in frames] == list(range(5))
    host.process(frame("10.0.1.1", "10.0.2.2", 1000, 80, ident=9))  # still held
    assert client.call("inject", nf=7, frames=frames)["count"] == 5
    assert client.call("release", nf=7, move="m")["count"] == 1
    assert [ip_of(f).id for f in sent] == [0, 1, 2, 3, 4, 9]


def test_take_with_end_hands_over_the_rest_and_stops_holding_in_one_step(channel):
    host, client, _sent, _ = channel
    client.call("hold", nf=7, move="m", filter={"src": "10.0.1.1"})
    for k in range(3):
        host.process(frame("10.0.1.1", "10.0.2.2", 1000, 80, ident=k))
    frames = client.call("take", nf=7, move="m", end=True)["frames"]
    assert [IP(bytes.fromhex(f)[22:]).id for f in frames] == [0, 1, 2]
    # The hold is gone: a later packet is processed at once (not held, not dropped).
    assert host.process(frame("10.0.1.1", "10.0.2.2", 1000, 80, ident=7)) is not None
    with pytest.raises(ControlError, match="holds nothing"):
        client.call("held", nf=7, move="m")


def test_hold_overflow_is_bounded_and_counted(host):
    host.load({"nfs": [{**NAT, "hold_limit": 3}], "hops": [[5, 255, 7]]})
    nat = host.nfs[7]
    nat.hold("m", FlowFilter())
    for k in range(5):
        host.process(frame("10.0.1.1", "10.0.2.2", 1000, 80, ident=k))
    assert nat.held("m") == {"buffered": 3, "seen": 5} and nat.stats["hold_overflow"] == 2


def test_reload_with_the_same_config_keeps_state_and_a_bad_one_names_the_field(host):
    host.process(frame("10.0.1.1", "10.0.2.2", 1000, 80))
    host.load({"nfs": [NAT, CT, FW], "hops": [[5, 255, 7]]})
    assert host.nfs[7].flows() == 1
    with pytest.raises(ValueError, match=r"ports: must be \[low, high\]"):
        host.load({"nfs": [{**NAT, "ports": [5, 1]}], "hops": []})
    with pytest.raises(ValueError, match="unknown field 'colour'"):
        host.load({"nfs": [{**CT, "colour": 1}], "hops": []})


def test_a_hold_whose_controller_went_away_is_released_in_order(channel):
    host, client, sent, server = channel
    server.lease_s = 0.3
    client.call("hold", nf=7, move="m", filter={})
    for k in range(3):
        host.process(frame("10.0.1.1", "10.0.2.2", 1000, 80, ident=k))
    deadline = time.monotonic() + 5
    while len(sent) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [ip_of(f).id for f in sent] == [0, 1, 2] and host.nfs[7].stats["hold_expired"] == 1
    assert host.process(frame("10.0.1.1", "10.0.2.2", 1000, 80)) is not None  # no longer held


def test_stats_report_the_bytes_waiting_in_the_hosts_packet_sockets(channel):
    import os

    from nfs.control import rx_queue_bytes

    if os.geteuid() != 0:
        pytest.skip("packet sockets need root")
    _host, client, _sent, _ = channel
    rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    rx.bind(("lo", 0))
    tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    tx.bind(("lo", 0))
    try:
        before = rx_queue_bytes()
        for _ in range(5):
            tx.send(frame("10.0.1.1", "10.0.2.2", 1000, 80))
        time.sleep(0.1)
        assert client.call("stats")["rx_queue_bytes"] > before  # five frames nobody read
    finally:
        rx.close(), tx.close()
