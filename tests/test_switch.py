"""The reference v1model switch: programs compiled by srem, packets built with scapy,
every output packet and port compared."""

import contextlib
import json
from pathlib import Path

import pytest
from scapy.all import IP, TCP, UDP, Dot1Q, Ether, Raw, raw

from p4target.compiler.driver import compile_p4
from p4target.switch import JsonError, load
from p4target.switch.tables import EntryError, Match

P4 = Path(__file__).parent / "p4"


@pytest.fixture(scope="module")
def basic_json():
    return compile_p4(P4 / "basic.p4").json


def ip_packet(dst="10.1.2.3", ttl=64, payload=b"hello"):
    return raw(
        Ether(dst="aa:bb:cc:dd:ee:ff", src="00:00:00:00:00:01")
        / IP(src="1.2.3.4", dst=dst, ttl=ttl)
        / UDP(sport=1, dport=2)
        / payload
    )


def test_lpm_forwarding_rewrites_and_recomputes_the_checksum(basic_json):
    sw = load(basic_json)
    t = sw.tables["MyIngress.ipv4_lpm"]
    fwd = t.actions["MyIngress.ipv4_forward"]
    t.add([Match(value=0x0A000000, prefix=8)], fwd, [0x001122334455, 3])
    t.add([Match(value=0x0A010000, prefix=16)], fwd, [0x0000000000AA, 4])
    ((port, data),) = sw.process(1, ip_packet("10.1.2.3"))
    assert port == 4  # the longest prefix wins
    p = Ether(data)
    assert (p.dst, p.src, p[IP].ttl) == ("00:00:00:00:00:aa", "aa:bb:cc:dd:ee:ff", 63)
    good = IP(raw(p[IP]))
    del good.chksum
    assert IP(raw(good)).chksum == p[IP].chksum
    assert bytes(p[UDP].payload) == b"hello"
    ((port, _),) = sw.process(1, ip_packet("10.9.9.9"))
    assert port == 3
    assert sw.process(1, ip_packet("192.168.1.1")) == []  # default action: drop
    # Not IPv4: the table is not applied, egress_spec stays 0, the packet leaves unchanged on port 0.
    arp = raw(Ether(dst="ff:ff:ff:ff:ff:ff", type=0x0806) / (b"\x00" * 28))
    assert sw.process(2, arp) == [(0, arp)]


def test_short_packet_is_a_parser_error_not_a_crash(basic_json):
    sw = load(basic_json)
    truncated = ip_packet()[:20]  # Ethernet and 6 bytes of IPv4
    assert sw.process(1, truncated) == [(0, truncated)]  # parser stops, the packet still goes on


def test_entries_are_checked(basic_json):
    sw = load(basic_json)
    t = sw.tables["MyIngress.ipv4_lpm"]
    fwd = t.actions["MyIngress.ipv4_forward"]
    with pytest.raises(EntryError, match="does not fit 9 bits"):
        t.add([Match(value=0x0A000000, prefix=8)], fwd, [1, 512])
    with pytest.raises(EntryError, match="prefix length 40"):
        t.add([Match(value=0x0A000000, prefix=40)], fwd, [1, 1])
    t.add([Match(value=0x0A000000, prefix=8)], fwd, [1, 1])
    with pytest.raises(EntryError, match="exists already"):
        t.add([Match(value=0x0A000000, prefix=8)], fwd, [2, 2])


@pytest.fixture(scope="module")
def sink_json():
    return compile_p4(P4 / "kitchen_sink.p4").json


def sink():
    return load(compile_p4(P4 / "kitchen_sink.p4").json)


def test_packet_out_from_the_cpu_port(sink_json):
    sw = load(sink_json)
    inner = raw(Ether(dst="02:00:00:00:00:02") / IP(dst="10.0.0.9") / TCP())
    out_hdr = (7 << 7).to_bytes(2, "big")  # egress_port 7, 7 bits of padding
    ((port, data),) = sw.process(255, out_hdr + inner)
    assert port == 7 and data == inner  # the packet_out header is removed, exit skips the rest


def test_vlan_stack_nat_and_digest(sink_json):
    sw = load(sink_json)
    lpm = sw.tables["MyIngress.ipv4_lpm"]
    lpm.add([Match(value=0xC0A80000, prefix=16)], lpm.actions["MyIngress.forward"], [5, 0x020000000005])
    pkt = (
        Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
        / Dot1Q(vlan=10)
        / Dot1Q(vlan=20)
        / IP(src="10.0.0.1", dst="192.168.7.7", tos=0xFF)
        / TCP(sport=80, dport=443)
    )
    out = sw.process(3, raw(pkt))
    assert [p for p, _ in out] == [5]
    p = Ether(out[0][1])
    assert p[Dot1Q].vlan == 20 and p[Dot1Q].payload[Dot1Q].vlan == 20  # vlan[0].vid = vlan[1].vid
    assert p[IP].src == "192.168.0.1"  # const entry of nat_table
    # The program's update_checksum_with_payload writes into l4.sport: a ones' complement
    # sum of (src, dst, 0, protocol), the l4 header as NAT left it (sport 8080), and the rest.
    after_nat = (8080).to_bytes(2, "big") + (443).to_bytes(2, "big") + raw(p[TCP])[4:]
    words = (
        bytes(map(int, ["192", "168", "0", "1"]))
        + bytes(map(int, ["192", "168", "7", "7"]))
        + b"\x00\x06"
        + after_nat
    )
    total = sum(int.from_bytes(words[i : i + 2], "big") for i in range(0, len(words), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    assert p[TCP].sport == ~total & 0xFFFF
    assert p[IP].tos == (0xFF & 0xFC) | 2
    # smac misses: its default action `learn` sent a digest of (src MAC, ingress port).
    assert sw.digests == [("digest_t", [0x020000000001, 3])]
    assert sw.counters["MyIngress.port_pkts"].packets[3] == 1


def test_bad_json_is_rejected_with_a_named_item(basic_json):
    with pytest.raises(JsonError, match="not JSON"):
        load("{nope")
    j = json.loads(json.dumps(basic_json))
    j["actions"][0]["primitives"][0]["parameters"][0]["value"] = ["nohdr", "x"]
    with pytest.raises(
        JsonError,
        match=r"action MyIngress.ipv4_forward, primitive 0 \(assign\): unknown header instance 'nohdr'",
    ):
        load(j)
    j = json.loads(json.dumps(basic_json))
    j["pipelines"][0]["tables"][0]["base_default_next"] = "ghost"
    with pytest.raises(JsonError, match="unknown next node 'ghost'"):
        load(j)
    j = json.loads(json.dumps(basic_json))
    j["actions"][0]["primitives"].append({"op": "teleport", "parameters": []})
    with pytest.raises(JsonError, match="unsupported primitive 'teleport'"):
        load(j)


# A program in p4c's own JSON dialect (2-tuple fields, untyped default transitions,
# the scalars header, a conditional on a field): written here by hand.
P4C_STYLE = {
    "header_types": [
        {"name": "scalars_0", "id": 0, "fields": [["tmp", 8, False], ["_padding_0", 0, False]]},
        {"name": "standard_metadata", "id": 1, "fields": [["ingress_port", 9], ["egress_spec", 9], ["egress_port", 9],
                                                           ["instance_type", 32], ["packet_length", 32], ["mcast_grp", 16],
                                                           ["egress_rid", 16], ["parser_error", 32], ["_padding", 3]]},
        {"name": "ethernet_t", "id": 2, "fields": [["dstAddr", 48], ["srcAddr", 48], ["etherType", 16]]},
    ],
    "headers": [
        {"name": "scalars", "id": 0, "header_type": "scalars_0", "metadata": True},
        {"name": "standard_metadata", "id": 1, "header_type": "standard_metadata", "metadata": True},
        {"name": "ethernet", "id": 2, "header_type": "ethernet_t", "metadata": False},
    ],
    "header_stacks": [], "errors": [["NoError", 0], ["PacketTooShort", 1]],
    "parsers": [{"name": "parser", "id": 0, "init_state": "start", "parse_states": [
        {"name": "start", "id": 0, "parser_ops": [{"op": "extract", "parameters": [{"type": "regular", "value": "ethernet"}]}],
         "transitions": [{"value": "default", "mask": None, "next_state": None}], "transition_key": []}]}],
    "deparsers": [{"name": "deparser", "id": 0, "order": ["ethernet"]}],
    "actions": [
        {"name": "reflect", "id": 0, "runtime_data": [], "primitives": [
            {"op": "assign", "parameters": [{"type": "field", "value": ["standard_metadata", "egress_spec"]},
                                            {"type": "field", "value": ["standard_metadata", "ingress_port"]}]},
            {"op": "assign", "parameters": [{"type": "field", "value": ["scalars", "tmp"]}, {"type": "hexstr", "value": "0x01"}]}]},
    ],
    "pipelines": [
        {"name": "ingress", "id": 0, "init_table": "node_2", "tables": [
            {"name": "tbl_reflect", "id": 0, "key": [], "match_type": "exact", "type": "simple", "max_size": 1024,
             "with_counters": False, "support_timeout": False, "direct_meters": None, "action_ids": [0], "actions": ["reflect"],
             "base_default_next": None, "next_tables": {"reflect": None},
             "default_entry": {"action_id": 0, "action_const": True, "action_data": [], "action_entry_const": True}}],
         "action_profiles": [], "conditionals": [
            {"name": "node_2", "id": 0, "expression": {"type": "expression", "value": {"op": "==", "left": {"type": "field", "value": ["ethernet", "etherType"]}, "right": {"type": "hexstr", "value": "0x88b5"}}},
             "true_next": "tbl_reflect", "false_next": None}]},
        {"name": "egress", "id": 1, "init_table": None, "tables": [], "action_profiles": [], "conditionals": []},
    ],
    "checksums": [], "calculations": [], "learn_lists": [], "field_lists": [], "counter_arrays": [], "meter_arrays": [],
    "register_arrays": [], "parse_vsets": [], "field_aliases": [], "__meta__": {"version": [2, 18], "compiler": "https://github.com/p4lang/p4c"},
}  # fmt: skip


def test_p4c_style_json_runs():
    sw = load(json.dumps(P4C_STYLE))
    frame = raw(Ether(dst="02:00:00:00:00:02", type=0x88B5) / Raw(b"x" * 20))
    assert sw.process(6, frame) == [(6, frame)]  # reflected to its ingress port
    other = raw(Ether(type=0x0800) / Raw(b"y" * 20))
    assert sw.process(6, other) == [(0, other)]


def test_lpm_index_matches_a_naive_longest_prefix_search(basic_json):
    import random

    rng = random.Random(4)
    sw = load(basic_json)
    t = sw.tables["MyIngress.ipv4_lpm"]
    fwd = t.actions["MyIngress.ipv4_forward"]
    routes = {}
    for k in range(300):
        plen = rng.choice([0, 8, 12, 16, 20, 24, 28, 32])
        net = rng.getrandbits(32) >> (32 - plen) << (32 - plen) if plen else 0
        if (net, plen) not in routes:
            routes[(net, plen)] = k % 500
            t.add([Match(value=net, prefix=plen)], fwd, [0, k % 500])
    for e in list(t.entries.values())[::7]:  # removal keeps the index right
        t.remove(e)
        del routes[(e.match[0].value, e.match[0].prefix)]
    for _ in range(300):
        dst = rng.getrandbits(32)
        best = max(
            ((p, port) for (n, p), port in routes.items() if p == 0 or dst >> (32 - p) == n >> (32 - p)),
            default=None,
        )
        out = sw.process(1, ip_packet(".".join(str(dst >> s & 255) for s in (24, 16, 8, 0))))
        assert [p for p, _ in out] == ([best[1]] if best else [])


def test_ternary_and_range_lookup_matches_a_naive_priority_scan(sink_json):
    import random

    rng = random.Random(9)
    sw = load(sink_json)
    t = sw.tables["MyIngress.acl"]  # ternary src, ternary dst, range dport, optional protocol
    permit, deny = t.actions["MyIngress.acl_permit"], t.actions["MyIngress.acl_deny"]
    for _ in range(400):
        src_mask = rng.choice([0, 0xFF000000, 0xFFFF0000, 0xFFFFFFFF])
        lo = rng.randrange(0, 65536, 64)
        hi = min(65535, lo + rng.choice([0, 63, 1023, 65535]))
        proto = rng.choice([None, 6, 17])
        match = [
            Match(value=rng.getrandbits(32) & src_mask, mask=src_mask),
            Match(value=0, mask=0),
            Match(lo=lo, hi=hi),
            Match(value=proto or 0, mask=0xFF if proto else 0),
        ]
        prio = rng.randrange(1, 50)  # ties: the older entry wins
        with contextlib.suppress(EntryError):  # the same key and priority twice
            t.add(match, rng.choice([permit, deny]), [], priority=prio)
    entries = sorted(t.entries.values(), key=lambda e: (-e.priority, e.handle))
    t._readers = [lambda phv, d, i=i: phv[i] for i in range(4)]  # the "phv" is the key values
    for _ in range(2000):
        vals = [rng.getrandbits(32), rng.getrandbits(32), rng.randrange(65536), rng.choice([6, 17, 1])]
        if rng.random() < 0.5:  # aim at an existing rule often
            e = rng.choice(entries)
            vals[0] = e.match[0].value | (rng.getrandbits(32) & ~e.match[0].mask & 0xFFFFFFFF)
            vals[2] = rng.randint(e.match[2].lo, e.match[2].hi)
        naive = next(
            (e for e in entries
             if (vals[0] & e.match[0].mask) == e.match[0].value and e.match[2].lo <= vals[2] <= e.match[2].hi
             and (vals[3] & e.match[3].mask) == e.match[3].value),
            None,
        )  # fmt: skip
        assert t.lookup(vals) is naive


@pytest.fixture(scope="module")
def replication_json():
    return compile_p4(P4 / "replication.p4").json


def frame(ether_type: int) -> bytes:
    return raw(Ether(dst="ff:ff:ff:ff:ff:ff", src="00:00:00:00:00:00", type=ether_type) / (b"p" * 30))


def stamped(data: bytes) -> tuple[int, int, int]:
    """(instance_type, egress_rid, src) as the egress program wrote them."""
    e = Ether(data)
    dst = int(e.dst.replace(":", ""), 16)
    return dst >> 16, dst & 0xFFFF, int(e.src.replace(":", ""), 16)


def test_ingress_clone_carries_its_field_list_only(replication_json):
    sw = load(replication_json)
    sw.clone_sessions[10] = [(9, 0)]
    out = sw.process(1, frame(0x1111))
    assert sorted(port for port, _ in out) == [2, 9]
    clone = next(d for p, d in out if p == 9)
    assert stamped(clone) == (1, 0, 7 << 8 | 0)  # INGRESS_CLONE, tag preserved, scratch not
    normal = next(d for p, d in out if p == 2)
    assert stamped(normal)[0] == 0
    sw2 = load(replication_json)  # an unconfigured session clones nothing
    assert [p for p, _ in sw2.process(1, frame(0x1111))] == [2]


def test_resubmit_reparses_the_original_with_preserved_fields(replication_json):
    sw = load(replication_json)
    ((port, data),) = sw.process(1, frame(0x2222))
    assert port == 3 and stamped(data) == (0, 0, 9)  # left as NORMAL, tag 9 came through


def test_multicast_replicas_get_their_rid(replication_json):
    sw = load(replication_json)
    sw.mcast_groups[1] = [(4, 100), (5, 101), (6, 102)]
    out = sw.process(1, frame(0x3333))
    assert [(p, stamped(d)[:2]) for p, d in out] == [(4, (5, 100)), (5, (5, 101)), (6, (5, 102))]


def test_recirculate_returns_the_deparsed_packet_to_ingress(replication_json):
    sw = load(replication_json)
    ((port, data),) = sw.process(1, frame(0x4444))
    # Ingress saw RECIRC (it wrote the tag, 5, set by the first egress pass); the
    # unicast that followed is NORMAL again in egress, as in simple_switch.
    assert port == 5 and stamped(data) == (0, 0, 5)


def test_egress_clone_survives_the_drop_of_the_original(replication_json):
    sw = load(replication_json)
    sw.clone_sessions[20] = [(8, 3)]
    ((port, data),) = sw.process(1, frame(0x5555))
    assert port == 8 and stamped(data)[:2] == (2, 3)  # EGRESS_CLONE with the session's rid


def test_header_union_json_is_checked():
    from p4target.compiler.driver import compile_p4

    j = json.loads(json.dumps(compile_p4(Path(__file__).parent / "p4" / "unions.p4").json))
    j["header_unions"][0]["header_ids"] = [2, 999]
    with pytest.raises(JsonError, match=r"header union ab: unknown header id 999"):
        load(j)
    j["header_unions"][0]["header_ids"] = [2, 3]
    j["header_unions"][1]["header_ids"] = [3, 6]
    with pytest.raises(JsonError, match=r"header id 3 is already in a union"):
        load(j)


def test_only_a_packet_from_a_port_is_stamped_as_in_simple_switch(tmp_path):
    """BMv2 stamps ingress_global_timestamp when a port receives a packet; a recirculated
    one starts from reset metadata, 0 (what p4src/em.p4 was found to rely on, on BMv2)."""
    prog = tmp_path / "ts.p4"
    prog.write_text(TIMESTAMPS_P4)
    sw = load(json.loads(json.dumps(compile_p4(prog).json)))
    sw.process(1, frame(0x0800), now=100.0)  # the clock starts at the first packet: stamp 0
    ((port, data),) = sw.process(1, frame(0x0800), now=100.5)
    assert port == 2  # in through port 1, recirculated from port 1's egress, out to port 2
    assert int.from_bytes(data[0:6], "big") == 500_000  # stamped when port 1 received it (µs)
    assert int.from_bytes(data[6:12], "big") == 0  # not stamped again on recirculation


TIMESTAMPS_P4 = """
#include <core.p4>
#include <v1model.p4>
header ethernet_t { bit<48> dst; bit<48> src; bit<16> type; }
struct headers { ethernet_t ethernet; }
struct metadata { }
parser P(packet_in pk, out headers h, inout metadata m, inout standard_metadata_t sm) {
    state start { pk.extract(h.ethernet); transition accept; }
}
control V(inout headers h, inout metadata m) { apply { } }
control I(inout headers h, inout metadata m, inout standard_metadata_t sm) {
    apply {
        if (sm.instance_type == 0) { h.ethernet.dst = sm.ingress_global_timestamp; sm.egress_spec = 1; }
        else { h.ethernet.src = sm.ingress_global_timestamp; sm.egress_spec = 2; }
    }
}
control E(inout headers h, inout metadata m, inout standard_metadata_t sm) {
    apply { if (sm.egress_port == 1) { recirculate_preserving_field_list(0); } }
}
control C(inout headers h, inout metadata m) { apply { } }
control D(packet_out pk, in headers h) { apply { pk.emit(h.ethernet); } }
V1Switch(P(), V(), I(), E(), C(), D()) main;
"""
