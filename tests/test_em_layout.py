"""The EM layout and the one source of NF entries: slots, versions, overflow, rendering."""

import random

import pytest
import yaml

from emac.layout import (
    ACT_LB,
    ACT_NAT,
    BUCKET_BYTES,
    SLOTS,
    BucketFull,
    EmTable,
    Entry,
    FlowKey,
    bucket_of,
    lb_backend_counts,
    lb_data,
    lb_key,
    nat_data,
    parse_slot,
)
from nfs.entries import EntryError, em_entries, lm_writes, parse_nfs, software_config
from nfs.software import SoftwareNF


def key(k: int) -> FlowKey:
    return FlowKey.of("10.0.0.1", "10.0.0.2", 6, k, 80)


def entry(k: int, to: int = 1) -> Entry:
    return Entry(key(k), ACT_NAT, nat_data("192.0.2.1", "10.0.0.2", to, 80))


def test_slots_round_trip_and_versions_frame_every_write():
    t = EmTable(7, 8)
    w = t.put(entry(1, 5))
    assert [len(x.data) for x in w] == [4, 32, 4]
    assert w[0].offset + 40 == w[2].offset + 4  # head first, tail last, one slot
    image = bytearray(t.size_bytes)
    for x in w:
        image[x.offset : x.offset + len(x.data)] = x.data
    b = bucket_of(7, key(1), 8)
    head, nf, e, tail = parse_slot(bytes(image[b * BUCKET_BYTES : b * BUCKET_BYTES + 40]))
    assert (head, nf, e, tail) == (1, 7, entry(1, 5), 1)
    # Only the head of the next version written: the reader sees head != tail (torn).
    w2 = t.put(entry(1, 6))
    image[w2[0].offset : w2[0].offset + 4] = w2[0].data
    head, _, _, tail = parse_slot(bytes(image[b * BUCKET_BYTES : b * BUCKET_BYTES + 40]))
    assert head == 2 and tail == 1
    # A delete writes an empty slot with a new version; the slot is free again.
    d = t.delete(key(1))
    assert len(d) == 3 and parse_slot(d[0].data + d[1].data + d[2].data)[1:3] == (0, None)
    assert t.delete(key(1)) == []


def test_overflow_is_refused_and_nothing_is_recorded():
    t = EmTable(1, 2)
    placed, refused = 0, 0
    for k in range(40):
        try:
            t.put(entry(k))
            placed += 1
        except BucketFull as e:
            refused += 1
            assert "is full" in str(e) and key(k) not in t.slots
    assert placed == 2 * SLOTS and refused == 40 - 2 * SLOTS
    assert len(t.used) == 2 * SLOTS


def test_table_sizes_are_checked():
    with pytest.raises(ValueError, match="power of two"):
        EmTable(1, 6)
    EmTable(1, 1 << 24)  # 2.5 GiB: the most whose offsets the switch computes in 32 bits
    with pytest.raises(ValueError, match="at most 16777216"):
        EmTable(1, 1 << 25)
    with pytest.raises(ValueError, match=r"1\.\.255"):
        EmTable(0, 8)
    with pytest.raises(ValueError, match="12"):
        Entry(key(1), ACT_NAT, b"short")


NFS = yaml.safe_load(
    """
- {id: 1, kind: firewall, rules: [{priority: 3, src: 10.0.0.0/8, dport: [80, 90], action: permit}]}
- {id: 2, kind: nat, entries: [{match: {src: 10.0.0.1, dst: 10.0.0.2, proto: 6, sport: 1, dport: 2},
                               to: {src: 192.0.2.1, sport: 9}}]}
- {id: 3, kind: lb, vips: [{vip: 10.0.0.9, proto: 17, port: 53, backends: [[10.0.1.1, 53], [10.0.1.2, 5353]]}]}
- {id: 4, kind: ratelimit, cir: 1000, cburst: 1500, pir: 2000, pburst: 3000}
"""
)


def test_one_source_three_renderings():
    nfs = parse_nfs(NFS)
    fw = lm_writes(nfs[1])
    assert [(w.table, w.action, w.priority) for w in fw] == [("fw_acl", "fw_permit", 4)]
    (nat,) = lm_writes(nfs[2])
    assert dict(nat.params) == {"src": 0xC0000201, "dst": 0x0A000002, "sport": 9, "dport": 2}
    assert [e.data for e in em_entries(nfs[2])] == [nat_data("192.0.2.1", "10.0.0.2", 9, 2)]
    assert [w.table for w in lm_writes(nfs[3])] == ["lb_vip", "lb_backend", "lb_backend"]
    # The LB in EM: one entry per backend slot, keyed (0, VIP, proto, slot, VIP port).
    assert em_entries(nfs[3]) == [
        Entry(FlowKey.of("0.0.0.0", "10.0.0.9", 17, 0, 53), ACT_LB, lb_data("10.0.1.1", 53)),
        Entry(FlowKey.of("0.0.0.0", "10.0.0.9", 17, 1, 53), ACT_LB, lb_data("10.0.1.2", 5353)),
    ]
    assert lb_backend_counts(e.key for e in em_entries(nfs[3])) == {(0x0A000009, 17, 53): 2}
    for nf in (nfs[1], nfs[4]):  # ternary/range ACLs and meters are LM-only
        with pytest.raises(EntryError, match="cannot live in EM"):
            em_entries(nf)
    for nf in nfs.values():  # the software NF reads back exactly the NF it was rendered from
        assert SoftwareNF.from_config(software_config(nf)).nf == nf


@pytest.mark.parametrize(
    "bad,msg",
    [
        ([{"id": 0, "kind": "nat"}], "id must be"),
        ([{"id": 1, "kind": "dpi"}], "kind must be"),
        ([{"id": 1, "kind": "nat"}, {"id": 1, "kind": "lb"}], "given twice"),
        ([{"id": 1, "kind": "firewall", "rules": [{"priority": 1, "action": "maybe"}]}], "permit or deny"),
        (
            [
                {
                    "id": 1,
                    "kind": "firewall",
                    "rules": [{"priority": 1, "src": "10.0.0.300/8", "action": "deny"}],
                }
            ],
            "rules",
        ),
        (
            [{"id": 1, "kind": "firewall", "rules": [{"priority": 1, "dport": [9, 2], "action": "deny"}]}],
            "ports",
        ),
        ([{"id": 2, "kind": "nat", "entries": [{"match": {"src": "x", "dst": "10.0.0.1"}}]}], "not an IPv4"),
        (
            [
                {
                    "id": 3,
                    "kind": "lb",
                    "vips": [{"vip": "10.0.0.9", "proto": 6, "port": 80, "backends": [["10.0.1.1", 70000]]}],
                }
            ],
            r"backend is \[address, port\]",
        ),
        (
            [
                {
                    "id": 3,
                    "kind": "lb",
                    "vips": [{"vip": "10.0.0.9", "proto": 6, "port": 80, "backends": [["10.0.1.1", 80]]}] * 2,
                }
            ],
            "two VIPs share",
        ),
    ],
)
def test_bad_nf_descriptions_name_what_is_wrong(bad, msg):
    with pytest.raises(EntryError, match=msg):
        parse_nfs(bad)


def test_nfs_load_from_a_list_or_a_scenario_mapping(tmp_path):
    from nfs.entries import load

    (tmp_path / "a.yaml").write_text(yaml.safe_dump(NFS))
    (tmp_path / "b.yaml").write_text(yaml.safe_dump({"name": "x", "nfs": NFS}))
    assert load(tmp_path / "a.yaml") == load(tmp_path / "b.yaml") == parse_nfs(NFS)
    (tmp_path / "c.yaml").write_text("name: x\n")
    with pytest.raises(EntryError, match="no nfs"):
        load(tmp_path / "c.yaml")
    with pytest.raises(EntryError, match=r"missing\.yaml"):
        load(tmp_path / "missing.yaml")


def test_software_nf_drops_what_is_cut_short():
    from scapy.all import IP, TCP, Ether, raw
    from scapy.contrib.nsh import NSH

    nf = SoftwareNF.from_config(software_config(parse_nfs(NFS)[2]))
    full = raw(
        Ether()
        / NSH(mdtype=2, nextproto=1, spi=1, si=9)
        / IP(src="10.0.0.1", dst="10.0.0.2")
        / TCP(sport=1, dport=2)
    )
    assert nf.process(full) is not None
    for n in range(len(full)):
        out = nf.process(full[:n])
        assert out is None or len(out) == n  # never an exception


def test_lb_keys_need_every_slot_of_a_vip():
    keys = [lb_key("10.0.0.9", 6, 80, s) for s in (0, 1, 2)]
    assert lb_backend_counts(keys) == {(0x0A000009, 6, 80): 3}
    with pytest.raises(ValueError, match=r"slots \[0, 2\] are not 0\.\.1"):
        lb_backend_counts([keys[0], keys[2]])
    with pytest.raises(ValueError, match="not a load balancer key"):
        lb_backend_counts([key(1)])
    with pytest.raises(ValueError, match="65535"):
        lb_key("10.0.0.9", 6, 80, 1 << 16)


def test_the_controller_sizes_a_table_again_when_a_bucket_would_overflow():
    """At half load a bucket still gets more keys than its slots now and then (the paper's
    days 1 and 2 did): the controller doubles the table until every entry fits."""
    from controller.fabric.em import buckets_for

    rng = random.Random(5)
    base = 8  # room for twice 16 entries
    for _ in range(5000):  # some 16 keys that overflow 8 buckets
        entries = [entry(k) for k in rng.sample(range(1, 65536), 16)]
        try:
            EmTable(3, base).image(entries)
        except BucketFull:
            break
    else:
        pytest.fail("no 16 keys overflow 8 buckets")
    b = buckets_for(3, entries)
    assert b > base and b & (b - 1) == 0
    t = EmTable(3, b)
    t.image(entries)
    assert len(t.slots) == 16
    assert buckets_for(3, entries[:1]) == 1
