"""BMv2 JSON from the reference compiler: consistent, and the constructs translated as
behavioral-model's JSON_format.md describes them."""

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from p4target.compiler import P4Error, bmv2, parse_file, parse_text
from p4target.compiler.driver import compile_p4
from p4target.compiler.semantics import elaborate

P4 = Path(__file__).parent / "p4"


def check_consistency(j: dict) -> None:
    """Every name and id the JSON references exists, with the right shape."""
    types = {t["name"]: t for t in j["header_types"]}
    headers = {h["name"]: types[h["header_type"]] for h in j["headers"]}
    stacks = {s["name"] for s in j["header_stacks"]}
    actions = {a["id"]: a for a in j["actions"]}
    calcs = {c["name"] for c in j["calculations"]}

    def field_ok(ref):
        inst, f = ref
        assert inst in headers, f"unknown header {inst}"
        assert f == "$valid$" or f in {x[0] for x in headers[inst]["fields"]}, f"{inst} has no field {f}"

    def walk(x, runtime=None):
        if isinstance(x, dict):
            t = x.get("type")
            if t == "field":
                field_ok(x["value"])
            elif t == "header":
                assert x["value"] in headers
            elif t in ("header_stack", "stack"):
                assert x["value"] in stacks
            elif t == "calculation":
                assert x["value"] in calcs
            elif t in ("local", "runtime_data") and runtime is not None:
                assert 0 <= x["value"] < len(runtime)
            for v in x.values():
                walk(v, runtime)
        elif isinstance(x, list):
            for v in x:
                walk(v, runtime)

    for a in j["actions"]:
        walk(a["primitives"], a["runtime_data"])
    for p in j["parsers"]:
        states = {s["name"] for s in p["parse_states"]}
        assert p["init_state"] in states
        for s in p["parse_states"]:
            walk(s["parser_ops"])
            for t in s["transitions"]:
                assert t["next_state"] is None or t["next_state"] in states
    for pl in j["pipelines"]:
        nodes = {t["name"] for t in pl["tables"]} | {c["name"] for c in pl["conditionals"]}
        assert pl["init_table"] is None or pl["init_table"] in nodes
        for t in pl["tables"]:
            assert all(a in actions for a in t["action_ids"])
            assert [actions[a]["name"] for a in t["action_ids"]] == t["actions"]
            for nxt in [*list(t["next_tables"].values()), t["base_default_next"]]:
                assert nxt is None or nxt in nodes
            for k in t["key"]:
                field_ok(k["target"])
            if "default_entry" in t:
                d = t["default_entry"]
                assert len(d["action_data"]) == len(actions[d["action_id"]]["runtime_data"])
        for c in pl["conditionals"]:
            walk(c["expression"])
            assert c["true_next"] is None or c["true_next"] in nodes
            assert c["false_next"] is None or c["false_next"] in nodes
    for c in j["checksums"]:
        field_ok(c["target"])
        assert c["calculation"] in calcs
    for d in j["deparsers"]:
        assert all(h in headers for h in d["order"])
    json.dumps(j)  # serialisable


def build(path: Path) -> dict:
    j, _ = bmv2.compile_program(elaborate(parse_file(path)))
    check_consistency(j)
    return j


def test_basic_translation():
    j = build(P4 / "basic.p4")
    assert j["__meta__"]["version"] == [2, 23]
    assert {h["name"]: h["header_type"] for h in j["headers"]}.items() >= {
        "ethernet": "ethernet_t",
        "ipv4": "ipv4_t",
        "standard_metadata": "standard_metadata_t",
    }.items()
    (parser,) = j["parsers"]
    eth = next(s for s in parser["parse_states"] if s["name"] == "parse_ethernet")
    assert eth["parser_ops"] == [{"op": "extract", "parameters": [{"type": "regular", "value": "ethernet"}]}]
    assert eth["transition_key"] == [{"type": "field", "value": ["ethernet", "etherType"]}]
    assert eth["transitions"][0] == {
        "type": "hexstr",
        "value": "0x0800",
        "mask": None,
        "next_state": "parse_ipv4",
    }
    assert eth["transitions"][1]["next_state"] is None and eth["transitions"][1]["value"] == "default"
    fwd = next(a for a in j["actions"] if a["name"] == "MyIngress.ipv4_forward")
    assert fwd["runtime_data"] == [{"name": "dstAddr", "bitwidth": 48}, {"name": "port", "bitwidth": 9}]
    assert fwd["primitives"][0] == {
        "op": "assign",
        "parameters": [
            {"type": "field", "value": ["standard_metadata", "egress_spec"]},
            {"type": "runtime_data", "value": 1},
        ],
    }
    # An `expression` parameter wraps a typed node (BMv2's add_primitive_to_action, p4c's shape).
    wrapped = fwd["primitives"][3]["parameters"][1]
    assert wrapped["type"] == "expression" and wrapped["value"]["type"] == "expression"
    ttl = wrapped["value"]["value"]
    assert ttl["op"] == "&" and ttl["right"] == {
        "type": "hexstr",
        "value": "0xff",
    }  # ttl - 1, truncated to 8 bits
    assert ttl["left"]["value"]["op"] == "-"
    ingress = j["pipelines"][0]
    cond = next(c for c in ingress["conditionals"] if c["name"] == ingress["init_table"])
    assert cond["expression"]["value"] == {
        "op": "d2b",
        "left": None,
        "right": {"type": "field", "value": ["ipv4", "$valid$"]},
    }
    assert cond["true_next"] == "MyIngress.ipv4_lpm" and cond["false_next"] is None
    lpm = ingress["tables"][0]
    assert lpm["match_type"] == "lpm" and lpm["key"][0]["target"] == ["ipv4", "dstAddr"]
    assert lpm["default_entry"]["action_id"] == next(
        a["id"] for a in j["actions"] if a["name"] == "MyIngress.drop"
    )
    (ck,) = j["checksums"]
    assert ck["target"] == ["ipv4", "hdrChecksum"] and ck["update"] and not ck["verify"]
    calc = next(c for c in j["calculations"] if c["name"] == ck["calculation"])
    assert calc["algo"] == "csum16" and len(calc["input"]) == 11
    assert j["deparsers"][0]["order"] == ["ethernet", "ipv4"]
    assert ["intrinsic_metadata.mcast_grp", ["standard_metadata", "mcast_grp"]] in j["field_aliases"]
    scalars = next(t for t in j["header_types"] if t["name"] == "scalars_0")
    assert sum(f[1] for f in scalars["fields"]) % 8 == 0


def test_kitchen_sink_translation():
    j = build(P4 / "kitchen_sink.p4")
    states = {s["name"]: s for s in j["parsers"][0]["parse_states"]}
    eth = states["parse_ethernet"]["transitions"]
    assert eth[0] == {"type": "hexstr", "value": "0x8100", "mask": "0xefff", "next_state": "parse_vlan"}
    assert eth[2] == {
        "type": "parse_vset",
        "value": "MyParser.custom_types",
        "mask": None,
        "next_state": None,
    }
    assert eth[3] == {
        "type": "hexstr",
        "value": "0x0600",
        "mask": "0xff00",
        "next_state": None,
    }  # 0x0600 .. 0x06FF
    assert states["parse_vlan"]["parser_ops"][0]["parameters"][0] == {"type": "stack", "value": "vlan"}
    assert states["parse_vlan"]["transition_key"] == [
        {"type": "stack_field", "value": ["vlan", "ether_type"]}
    ]
    ipv4_ops = [o["op"] for o in states["parse_ipv4"]["parser_ops"]]
    assert ipv4_ops == ["extract", "verify", "extract_VL", "set", "set"]
    assert states["parse_ipv4"]["parser_ops"][3]["parameters"][1] == {"type": "lookahead", "value": [0, 32]}
    two = states["parse_ipv4"]["transitions"]
    assert two[0]["value"] == "0x060000" and two[0]["mask"] is None  # (TCP=6, frag 0): 1 byte + 2 bytes
    assert two[1] == {"type": "hexstr", "value": "0x110000", "mask": "0xff0000", "next_state": "parse_l4"}
    assert {v["name"]: v["compressed_bitwidth"] for v in j["parse_vsets"]} == {"MyParser.custom_types": 16}
    tables = {t["name"]: t for p in j["pipelines"] for t in p["tables"]}
    acl = tables["MyIngress.acl"]
    assert (
        acl["match_type"] == "range"
        and acl["with_counters"]
        and acl["direct_meters"] == "MyIngress.acl_meter"
    )
    assert acl["default_entry"]["action_const"]
    lb = tables["MyIngress.lb"]
    assert lb["type"] == "indirect" and lb["action_profile"] == "MyIngress.lb_profile"
    nat = tables["MyIngress.nat_table"]
    assert next(e["match_key"] for e in nat["entries"]) == [
        {"match_type": "exact", "key": "0x0a000001"},
        {"match_type": "exact", "key": "0x0050"},
    ]
    assert nat["entries"][0]["action_entry"]["action_data"] == ["0xc0a80001", "0x1f90"]
    assert set(nat["next_tables"]) == {"__HIT__", "__MISS__"}
    prio = tables["MyIngress.prio"]
    # P4 priorities 10 and 5, the largest winning (largest_priority_wins by default); BMv2's
    # JSON priority is the other way round (a lower number wins): 10 -> 1, 5 -> 6.
    assert [e["priority"] for e in prio["entries"]] == [1, 6]
    assert prio["entries"][1]["match_key"] == [{"match_type": "ternary", "key": "0x0000", "mask": "0x0000"}]
    assert set(tables["MyIngress.smac"]["next_tables"]) == {"__HIT__", "__MISS__"}
    lpm = tables["MyIngress.ipv4_lpm"]["next_tables"]
    assert lpm["MyIngress.forward"] == "MyIngress.acl" and lpm["MyIngress.drop"] != lpm["MyIngress.forward"]
    meters = {m["name"]: m for m in j["meter_arrays"]}
    assert (
        meters["MyIngress.acl_meter"]["is_direct"]
        and meters["MyIngress.acl_meter"]["binding"] == "MyIngress.acl"
    )
    assert meters["MyIngress.acl_meter"]["result_target"] == ["scalars", "meta.meter_color"]
    assert meters["MyIngress.limiter"] == {
        **meters["MyIngress.limiter"],
        "is_direct": False,
        "size": 32,
        "type": "bytes",
    }
    assert {r["name"]: (r["size"], r["bitwidth"]) for r in j["register_arrays"]} == {
        "MyIngress.flow_bytes": (1024, 32)
    }
    counters = {c["name"]: c for c in j["counter_arrays"]}
    assert (
        counters["MyIngress.acl_hits"]["binding"] == "MyIngress.acl"
        and counters["MyIngress.port_pkts"]["size"] == 64
    )
    (ll,) = j["learn_lists"]
    assert ll["name"] == "digest_t" and len(ll["elements"]) == 2
    (fl,) = j["field_lists"]
    assert fl["id"] == 1 and [e["value"][1] for e in fl["elements"]] == ["meta.saved_port"]
    ops = [p["op"] for a in j["actions"] for p in a["primitives"]]
    for op in ("clone_ingress_pkt_to_egress", "resubmit", "recirculate", "truncate", "generate_digest", "register_read",
               "register_write", "count", "execute_meter", "modify_field_with_hash_based_offset", "modify_field_rng_uniform",
               "log_msg", "exit", "add_header", "remove_header", "mark_to_drop", "_jump_if_zero"):  # fmt: skip
        assert op in ops, op
    assert [c["verify"] for c in j["checksums"]] == [True, False, False]
    backend = next(a for a in j["actions"] if a["name"] == "MyIngress.set_backend")["primitives"]
    assert [p["op"] for p in backend] == [
        "_jump_if_zero",
        "mark_to_drop",
        "_jump",
        "_jump",
        "assign",
        "assign",
    ]
    assert backend[0]["parameters"][1] == {"type": "hexstr", "value": "0x4"}  # else branch
    assert backend[2]["parameters"][0] == {"type": "hexstr", "value": "0x6"}  # return: past the end
    assert backend[3]["parameters"][0] == {"type": "hexstr", "value": "0x5"}  # end of then: after else
    payload = next(c for c in j["calculations"] if c["input"][-1]["type"] == "payload")
    assert payload["input"][2] == {"type": "hexstr", "value": "0x00", "bitwidth": 8}  # every byte (BMv2)
    assert j["deparsers"][0]["order"] == [
        "packet_in",
        "ethernet",
        "vlan[0]",
        "vlan[1]",
        "ipv4",
        "ipv4_options",
        "l4",
    ]


@pytest.mark.parametrize("w", [1, 3, 8])
def test_range_expansion_covers_exactly(w):
    for lo, hi in itertools.combinations_with_replacement(range(1 << w), 2):
        masks = bmv2._range_to_masks(lo, hi, w)
        covered = {x for x in range(1 << w) if any(x & m == v for v, m in masks)}
        assert covered == set(range(lo, hi + 1))


PROGRAM = (P4 / "basic.p4").read_text()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            (
                "apply { if (hdr.ipv4.isValid()) { ipv4_lpm.apply(); } }",
                "apply { ipv4_lpm.apply(); ipv4_lpm.apply(); }",
            ),
            "applied more than once",
        ),
        (("key = { hdr.ipv4.dstAddr: lpm; }", "key = { hdr.ipv4.nope: lpm; }"), "has no field 'nope'"),
        (
            ("state start { transition parse_ethernet; }", "state start { transition nowhere; }"),
            "unknown state 'nowhere'",
        ),
        (
            ("packet.emit(hdr.ethernet);", "packet.emit(hdr.ethernet); hdr.ipv4.ttl = 1;"),
            "may only call packet.emit",
        ),
        (
            ("hdr.ipv4.ttl = hdr.ipv4.ttl - 1;", "hdr.ipv4.ttl = hdr.ipv4.ttl / port;"),
            "differ in width",
        ),
        (
            ("hdr.ipv4.ttl = hdr.ipv4.ttl - 1;", "hdr.ipv4.ttl = (bit<8>)((int<8>)hdr.ipv4.ttl % 3);"),
            "supported on unsigned bit<W> values and constants only",
        ),
    ],
)
def test_unsupported_or_invalid_is_a_located_error(change, message):
    assert change[0] in PROGRAM
    with pytest.raises(P4Error) as e:
        bmv2.compile_program(elaborate(parse_text(PROGRAM.replace(*change), "basic.p4")))
    assert message in e.value.message and e.value.loc.line > 1


def test_srem_p4c_command(tmp_path):
    srem = str(Path(sys.executable).parent / "srem")
    p = subprocess.run(
        [srem, "p4c", str(P4 / "basic.p4"), "-o", str(tmp_path)], capture_output=True, text=True
    )
    assert p.returncode == 0, p.stderr
    j = json.loads((tmp_path / "basic.json").read_text())
    check_consistency(j)
    assert "MyIngress.ipv4_lpm" in (tmp_path / "basic.p4info.txtpb").read_text()
    p = subprocess.run(
        [srem, "p4c", str(P4 / "basic.p4"), "-o", str(tmp_path), "--p4info-format", "binary"],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0 and (tmp_path / "basic.p4info.binpb").stat().st_size > 100
    bad = tmp_path / "bad.p4"
    bad.write_text("#include <v1model.p4>\nheader h_t { bit<8> a }\n")
    p = subprocess.run([srem, "p4c", str(bad), "-o", str(tmp_path)], capture_output=True, text=True)
    assert (
        p.returncode == 2 and f"{bad}:2:23: error: expected ';'" in p.stderr and "Traceback" not in p.stderr
    )
    c = compile_p4(P4 / "kitchen_sink.p4")
    assert any("reject" in w for w in c.warnings)


UNIONS = (P4 / "unions.p4").read_text()


def test_header_union_layout_follows_bmv2():
    j, _ = bmv2.compile_program(elaborate(parse_text(UNIONS, "unions.p4")))
    assert j["header_union_types"] == [{"name": "ab_t", "id": 0, "headers": [["a", "a_t"], ["b", "b_t"]]}]
    ids = {h["name"]: h["id"] for h in j["headers"]}
    unions = {u["name"]: u for u in j["header_unions"]}
    assert unions["ab"]["header_ids"] == [ids["ab.a"], ids["ab.b"]] and unions["ab"]["union_type"] == "ab_t"
    # emit(hdr.ab) lists every member; BMv2 skips the invalid ones.
    assert j["deparsers"][0]["order"] == ["eth", "ab.a", "ab.b", "out"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("copy.a.isValid()", "copy.c.isValid()"), "header union ab_t has no member 'c'"),
        (("out_t out; }", "out_t out; bit<8>[2] st; }"), "elements must be headers or header unions"),
        (("hdr.ab.b.setValid();", "hdr.ab.setValid();"), "unsupported call hdr.ab.setValid()"),
    ],
)
def test_header_union_misuse_is_a_located_error(change, message):
    assert change[0] in UNIONS
    with pytest.raises(P4Error) as e:
        bmv2.compile_program(elaborate(parse_text(UNIONS.replace(*change), "unions.p4")))
    assert message in e.value.message and e.value.loc.line > 1, str(e.value)
