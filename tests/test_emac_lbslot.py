"""The load balancer's flow -> backend slot (emac/lbslot.py), which the LM tables, the EM
key, the EMAC and the software LB share: the switch's constant table is generated from it,
maps every hash exactly as the definition does, and spreads real flows."""

import zlib

import pytest

from emac import lbslot
from nfs.entries import EntryError, parse_nfs


def test_the_p4_slot_table_is_generated_from_the_definition():
    assert lbslot.main(["--check"]) == 0, "run python -m emac.lbslot"


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 16, 31, 32])
def test_the_ranges_give_every_hash_the_slot_of_the_definition(n):
    ranges = [lbslot.hash_range(s, n) for s in range(n)]
    assert ranges[0][0] == 0 and ranges[-1][1] == 0xFFFF
    assert all(ranges[s][1] + 1 == ranges[s + 1][0] for s in range(n - 1))  # no gap, no overlap
    for s, (lo, hi) in enumerate(ranges):
        assert lbslot.slot(lo, n) == s == lbslot.slot(hi, n)
        assert hi - lo + 1 in (65536 // n, 65536 // n + 1)  # as even as mod n


def test_a_flow_hash_is_the_low_half_of_crc32_of_its_five_tuple():
    key = bytes([10, 0, 1, 1, 10, 0, 2, 100, 6, 0x0B, 0xB8, 0, 80])
    assert lbslot.flow_hash(0x0A000101, 0x0A000264, 6, 3000, 80) == zlib.crc32(key) & 0xFFFF


@pytest.mark.parametrize("n", [2, 3, 4, 5, 8])
def test_consecutive_source_ports_spread_over_every_backend(n):
    """Why CRC-32 and not CRC-16: a range takes the high-order part of the hash, where
    CRC-16 leaves consecutive ephemeral ports in few slots."""
    counts = [0] * n
    for sport in range(40000, 40000 + 64 * n):
        counts[lbslot.flow_slot(0x0A000101, 0x0A000264, 6, sport, 80, n)] += 1
    assert min(counts) >= 0.6 * 64 and max(counts) <= 1.4 * 64


def test_a_vip_with_more_backends_than_the_slot_table_is_refused_in_one_line():
    backends = [[f"10.0.3.{i}", 80] for i in range(1, lbslot.MAX_BACKENDS + 2)]
    with pytest.raises(EntryError, match=r"nfs\[0\]\[id=3\]\.vips\[0\]: 33 backends; a VIP has at most 32$"):
        parse_nfs(
            [
                {
                    "id": 3,
                    "kind": "lb",
                    "vips": [{"vip": "10.0.2.100", "proto": 6, "port": 80, "backends": backends}],
                }
            ]
        )
    with pytest.raises(ValueError, match=r"1\.\.32 backends"):
        lbslot.slot(0, 33)
