"""P4Info from the reference compiler: names, ids and aliases as p4c gives them."""

from pathlib import Path

import pytest
from google.protobuf import text_format
from p4.config.v1 import p4info_pb2 as P

from p4target.compiler import P4Error, p4info, parse_file, parse_text
from p4target.compiler.semantics import elaborate

P4 = Path(__file__).parent / "p4"


def build(path_or_text) -> P.P4Info:
    prog = parse_file(path_or_text) if isinstance(path_or_text, Path) else parse_text(path_or_text, "t.p4")
    return p4info.build(elaborate(prog))


def by_name(items):
    return {x.preamble.name: x for x in items}


def test_ids_match_the_published_p4c_p4info_of_basic():
    # The P4 tutorials' basic.p4 P4Info, compiled by p4c, publishes these ids.
    info = build(P4 / "basic.p4")
    tables, actions = by_name(info.tables), by_name(info.actions)
    assert tables["MyIngress.ipv4_lpm"].preamble.id == 37375156
    assert {n: a.preamble.id for n, a in actions.items()} == {
        "MyIngress.ipv4_forward": 28792405,
        "MyIngress.drop": 25652968,
        "NoAction": 21257015,
    }
    t = tables["MyIngress.ipv4_lpm"]
    assert t.preamble.alias == "ipv4_lpm" and t.size == 1024
    (m,) = t.match_fields
    assert (m.id, m.name, m.bitwidth, m.match_type) == (1, "hdr.ipv4.dstAddr", 32, P.MatchField.LPM)
    fwd = actions["MyIngress.ipv4_forward"]
    assert [(p.id, p.name, p.bitwidth) for p in fwd.params] == [(1, "dstAddr", 48), (2, "port", 9)]
    assert info.pkg_info.arch == "v1model"


def test_jenkins_hash_and_probing():
    assert p4info.jenkins_hash("") == 0
    first = p4info.assign_ids("table", ["a.t"], {}, set())
    # A taken id pushes the next name with that hash one step further.
    taken = {first["a.t"]}
    again = p4info.assign_ids("table", ["a.t"], {}, taken)
    assert again["a.t"] == first["a.t"] + 1 and again["a.t"] >> 24 == P.P4Ids.TABLE


def test_aliases_are_shortest_unique_suffixes():
    al = p4info.aliases(["MyIngress.t", "MyEgress.t", "MyIngress.u", "NoAction"])
    assert al == {
        "MyIngress.t": "MyIngress.t",
        "MyEgress.t": "MyEgress.t",
        "MyIngress.u": "u",
        "NoAction": "NoAction",
    }


def test_kitchen_sink_p4info():
    info = build(P4 / "kitchen_sink.p4")
    tables = by_name(info.tables)
    assert set(tables) == {f"MyIngress.{n}" for n in ("ipv4_lpm", "acl", "nat_table", "lb", "smac", "prio")}
    acl = tables["MyIngress.acl"]
    assert [m.match_type for m in acl.match_fields] == [
        P.MatchField.TERNARY,
        P.MatchField.TERNARY,
        P.MatchField.RANGE,
        P.MatchField.OPTIONAL,
    ]
    assert acl.const_default_action_id == by_name(info.actions)["MyIngress.acl_permit"].preamble.id
    dc, dm = (
        by_name(info.direct_counters)["MyIngress.acl_hits"],
        by_name(info.direct_meters)["MyIngress.acl_meter"],
    )
    assert set(acl.direct_resource_ids) == {dc.preamble.id, dm.preamble.id}
    assert dc.direct_table_id == dm.direct_table_id == acl.preamble.id
    assert dc.spec.unit == P.CounterSpec.PACKETS and dm.spec.unit == P.MeterSpec.PACKETS
    assert [m.name for m in tables["MyIngress.lb"].match_fields] == [
        "hdr.ipv4.dst"
    ]  # selector keys are not match fields
    prof = by_name(info.action_profiles)["MyIngress.lb_profile"]
    assert tables["MyIngress.lb"].implementation_id == prof.preamble.id and list(prof.table_ids) == [
        tables["MyIngress.lb"].preamble.id
    ]
    assert prof.size == 128 and not prof.with_selector
    nat = tables["MyIngress.nat_table"]
    assert nat.is_const_table and nat.has_initial_entries
    assert [r.scope for r in nat.action_refs] == [P.ActionRef.TABLE_AND_DEFAULT, P.ActionRef.DEFAULT_ONLY]
    assert tables["MyIngress.smac"].idle_timeout_behavior == P.Table.NOTIFY_CONTROL
    prio = tables["MyIngress.prio"]
    assert prio.has_initial_entries and not prio.is_const_table
    c = by_name(info.counters)["MyIngress.port_pkts"]
    assert (c.size, c.spec.unit) == (64, P.CounterSpec.BOTH)
    m = by_name(info.meters)["MyIngress.limiter"]
    assert (m.size, m.spec.unit) == (32, P.MeterSpec.BYTES)
    r = by_name(info.registers)["MyIngress.flow_bytes"]
    assert (r.size, r.type_spec.bitstring.bit.bitwidth) == (1024, 32)
    d = by_name(info.digests)["digest_t"]
    assert d.type_spec.struct.name == "digest_t"
    assert [
        (x.name, x.type_spec.bitstring.bit.bitwidth) for x in info.type_info.structs["digest_t"].members
    ] == [("src", 48), ("port", 9)]
    cpm = by_name(info.controller_packet_metadata)
    assert [(x.id, x.name, x.bitwidth) for x in cpm["packet_in"].metadata] == [
        (1, "ingress_port", 9),
        (2, "_pad", 7),
    ]
    assert cpm["packet_out"].preamble.id >> 24 == P.P4Ids.CONTROLLER_HEADER
    vs = by_name(info.value_sets)["MyParser.custom_types"]
    assert vs.size == 4 and [(x.id, x.bitwidth) for x in vs.match] == [(1, 16)]
    # Every id carries its resource prefix and is unique; text format round-trips.
    for items, kind in (
        (info.tables, P.P4Ids.TABLE),
        (info.actions, P.P4Ids.ACTION),
        (info.registers, P.P4Ids.REGISTER),
    ):
        assert all(x.preamble.id >> 24 == kind for x in items)
    again = text_format.Parse(p4info.to_text(info), P.P4Info())
    assert again == info and P.P4Info.FromString(info.SerializeToString()) == info


SRC = """
#include <v1model.p4>
struct m_t { } struct h_t { }
parser P(packet_in p, out h_t h, inout m_t m, inout standard_metadata_t s) { state start { transition accept; } }
control V(inout h_t h, inout m_t m) { apply { } }
control I(inout h_t h, inout m_t m, inout standard_metadata_t s) {
    @id(7) action a() { }
    @name(".global_b") action b() { }
    @name("renamed") table t { key = { s.ingress_port : exact; } actions = { a; b; } }
    apply { t.apply(); }
}
control E(inout h_t h, inout m_t m, inout standard_metadata_t s) { apply { } }
control C(inout h_t h, inout m_t m) { apply { } }
control D(packet_out p, in h_t h) { apply { } }
V1Switch(P(), V(), I(), E(), C(), D()) main;
"""


def test_id_and_name_annotations():
    info = build(SRC)
    actions = by_name(info.actions)
    assert actions["I.a"].preamble.id == (P.P4Ids.ACTION << 24) | 7
    assert "global_b" in actions  # a leading dot makes the name absolute
    assert "I.renamed" in by_name(info.tables)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("@id(7) action a", "@id(0x02000007) action a"), "wrong 8-bit prefix"),
        (("actions = { a; b; }", "actions = { a; b; c; }"), "unknown action 'c'"),
        (("s.ingress_port : exact", "s.ingress_port : fuzzy"), "unknown match kind 'fuzzy'"),
        (("s.ingress_port : exact", "s.nope : exact"), "has no field 'nope'"),
        (("V1Switch(P(), V(), I(), E(), C(), D())", "V1Switch(P(), V(), I(), E(), C())"), "takes 6 blocks"),
        (("actions = { a; b; }", "actions = { a; b; } colour = 3;"), "unknown table property 'colour'"),
    ],
)
def test_semantic_errors_are_located(change, message):
    with pytest.raises(P4Error) as e:
        build(SRC.replace(*change))
    assert message in e.value.message and e.value.loc is not None and e.value.loc.line > 1
