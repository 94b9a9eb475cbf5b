"""The L4 load balancer in external memory, on srem's switch with real packets: the switch
computes the key (VIP, flow slot = floor(crc32(5-tuple) mod 2^16 * n / 2^16)) itself and reads one bucket; a
flow gets the same backend in EM as in LM and on a server; the EMAC keeps the VIPs'
backend counts in step with the entries."""

from __future__ import annotations

import queue
import struct
import time
import zlib

import pytest
from scapy.all import IP, TCP, UDP, Ether, raw
from scapy.contrib.nsh import NSH

from emac.api import EmacError
from emac.layout import ACT_LB, ACT_NAT, Entry, lb_data, lb_key, nat_data
from nfs.entries import em_entries, lm_writes, parse_nfs, software_config
from nfs.software import SoftwareNF
from p4rt.entities import TableWrite, Ternary
from tests.fabric_net import MAC, Net, chain_path, two_switches

SPI = 12
VIP = "10.0.2.100"
TCP_BACKENDS = [("10.0.2.2", 8080), ("10.0.2.3", 8080), ("10.0.2.2", 8081)]
LB = {"id": 3, "kind": "lb", "vips": [
    {"vip": VIP, "proto": 6, "port": 80, "backends": [list(b) for b in TCP_BACKENDS]},
    {"vip": VIP, "proto": 17, "port": 53, "backends": [["10.0.2.3", 5353]]}]}  # fmt: skip


def ip_int(a: str) -> int:
    return struct.unpack("!I", bytes(int(x) for x in a.split(".")))[0]


def backend(src: str, sport: int, proto: int, dport: int, backends: list[tuple[str, int]]) -> tuple[str, int]:
    """The backend of a flow, worked out from the definition (slot floor(h * n / 65536), h the
    low 16 bits of the 5-tuple's crc32)."""
    key = struct.pack("!IIBHH", ip_int(src), ip_int(VIP), proto, sport, dport)
    return backends[(zlib.crc32(key) & 0xFFFF) * len(backends) >> 16]


def vip_pkt(sport: int, proto: int = 6, dport: int = 80, dst: str = VIP, src: str = "10.0.1.1") -> bytes:
    l4 = TCP(sport=sport, dport=dport) if proto == 6 else UDP(sport=sport, dport=dport)
    return raw(Ether(src=MAC["H1"], dst=MAC["S1"]) / IP(src=src, dst=dst, id=sport & 0xFFFF) / l4 / b"lb")


def out_of_either(net: Net, timeout: float = 5.0) -> tuple[str, bytes] | None:
    """The next frame that H2 or H3 receives."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for host in ("H2", "H3"):
            try:
                return host, net.hosts[host].get(timeout=0.005)
            except queue.Empty:
                pass
    return None


def send(net: Net, frame: bytes) -> tuple[str, bytes]:
    net.switches["S1"].ports[1].rx.put(frame)
    got = out_of_either(net)
    assert got is not None, "the packet did not come out"
    return got


def dst_of(frame: bytes) -> tuple[str, int]:
    p = Ether(frame)
    return p[IP].dst, p[IP].payload.dport


def checksums_right(frame: bytes) -> bool:
    p = Ether(frame)
    q = p.copy()
    del q[IP].chksum, q[IP].payload.chksum
    return raw(Ether(raw(q))) == frame


@pytest.fixture
def lb_net():
    """A chain of one load balancer (NF 3) in S1's EM."""
    nf = parse_nfs([LB])[3]
    net, emac, ms = two_switches(bound_us=3_000_000, retry_us=300_000)
    try:
        net.switches["S1"].client.insert(
            [TableWrite.of("classifier", {"sm.ingress_port": Ternary(1, 0x1FF)}, "classify", {"spi": SPI},
                           priority=1)]
        )  # fmt: skip
        emac.place(3, em_entries(nf), qp=0, buckets=64, kind="lb")
        chain_path(net, SPI, [(3, "lb", "S1:EM")])
        yield net, emac, ms, nf
    finally:
        net.close()


def test_lb_in_em_first_packet_misses_reads_once_then_hits(lb_net):
    net, emac, ms, _ = lb_net
    want = backend("10.0.1.1", 3000, 6, 80, TCP_BACKENDS)
    host, first = send(net, vip_pkt(3000))
    assert dst_of(first) == want and host == ("H2" if want[0].endswith(".2") else "H3")
    assert checksums_right(first)
    st = emac.stats()
    assert (st["miss"], st["read"], st["resp_ok"], st["hit"]) == (1, 1, 1, 0) and ms.stats["reads"] == 1
    for _ in range(4):
        assert dst_of(send(net, vip_pkt(3000))[1]) == want
    st = emac.stats()
    assert (st["miss"], st["read"], st["hit"]) == (1, 1, 4) and ms.stats["reads"] == 1


def test_lb_in_em_spreads_flows_as_the_lm_and_software_lbs_do(lb_net):
    net, emac, _ms, nf = lb_net
    s1 = net.switches["S1"]
    flows = [(3000 + k, 6, 80) for k in range(24)] + [(5000 + k, 17, 53) for k in range(3)]
    soft = SoftwareNF.from_config(software_config(nf))
    em_out = []
    for sport, proto, dport in flows:
        host, out = send(net, vip_pkt(sport, proto, dport))
        em_out.append((host, out))
        backends = TCP_BACKENDS if proto == 6 else [("10.0.2.3", 5353)]
        want = backend("10.0.1.1", sport, proto, dport, backends)
        assert dst_of(out) == want and checksums_right(out)
        # The software LB on the same packet (in NSH, as a server gets it) picks the same backend.
        inner = Ether(vip_pkt(sport, proto, dport))[IP]
        nsh = raw(Ether(src=MAC["S2"], dst=MAC["SRV"]) / NSH(mdtype=2, nextproto=1, spi=SPI, si=255) / inner)
        sw = Ether(soft.process(nsh))
        assert (sw[IP].dst, sw[IP].payload.dport) == want
    tcp_slots = {TCP_BACKENDS.index(dst_of(o)) for (_, o), f in zip(em_out, flows, strict=True) if f[1] == 6}
    assert tcp_slots == {0, 1, 2}  # every backend used
    st = emac.stats()
    # One READ per (VIP, slot): the cache entry of a slot serves every flow that hashes to it.
    assert (st["read"], st["miss"], st["hit"]) == (4, 4, len(flows) - 4)
    # A packet to no VIP passes untouched, without a READ (as in LM).
    host, out = send(net, vip_pkt(3100, dst="10.0.2.2"))
    assert host == "H2" and dst_of(out) == ("10.0.2.2", 80)
    assert emac.stats()["read"] == 4
    # The same LB moved to LM (make-before-break): byte-identical output for every flow.
    emac.move_to_lm(lm_writes(nf))
    s1.client.insert(
        [TableWrite.of("sff", {"hdr.nsh.spi": SPI, "hdr.nsh.si": 255}, "sff_local",
                       {"nfId": 3, "kind": 3, "where": 0})], "MODIFY",
    )  # fmt: skip
    emac.release(3)
    assert s1.client.read_table("lb_em_vip") == []
    lm_out = [send(net, vip_pkt(sport, proto, dport)) for sport, proto, dport in flows]
    assert lm_out == em_out
    assert emac.stats()["read"] == 4


def _vips(client) -> dict[tuple[int, int, int], int]:
    """The switch's lb_em_vip entries: (VIP, proto, port) -> n."""
    out = {}
    for e in client.read_table("lb_em_vip"):
        f = {m.field_id: int.from_bytes(m.exact.value, "big") for m in e.match}
        n = int.from_bytes(e.action.action.params[0].value, "big")
        out[(f[2], f[3], f[4])] = n
    return out


def test_lb_backends_added_and_removed_in_em_keep_flows_on_backends_em_holds(lb_net):
    net, emac, _ms, _ = lb_net
    s1 = net.switches["S1"]
    vip = (ip_int(VIP), 6, 80)
    assert _vips(s1.client) == {vip: 3, (ip_int(VIP), 17, 53): 1}
    grown = [*TCP_BACKENDS, ("10.0.2.3", 8081)]
    emac.put(3, Entry(lb_key(VIP, 6, 80, 3), ACT_LB, lb_data("10.0.2.3", 8081)))  # slot 3: n 3 -> 4
    assert _vips(s1.client)[vip] == 4
    for sport in range(3000, 3012):
        assert dst_of(send(net, vip_pkt(sport))[1]) == backend("10.0.1.1", sport, 6, 80, grown)
    # A backend replaced in place: n stays, the flows of that slot move to the new one.
    emac.put(3, Entry(lb_key(VIP, 6, 80, 0), ACT_LB, lb_data("10.0.2.3", 9999)))
    assert _vips(s1.client)[vip] == 4
    grown[0] = ("10.0.2.3", 9999)
    for sport in range(3000, 3012):
        assert dst_of(send(net, vip_pkt(sport))[1]) == backend("10.0.1.1", sport, 6, 80, grown)
    emac.delete(3, lb_key(VIP, 6, 80, 3))  # the last slot: n 4 -> 3
    assert _vips(s1.client)[vip] == 3
    for sport in range(3000, 3012):
        assert dst_of(send(net, vip_pkt(sport))[1]) == backend("10.0.1.1", sport, 6, 80, grown[:3])
    # Refused, nothing applied: a gap in the slots, a NAT entry in an LB table, a bad kind.
    slots = dict(emac.placed[3].table.slots)
    with pytest.raises(EmacError, match=r"slots \[1, 2\] are not 0\.\.1"):
        emac.delete(3, lb_key(VIP, 6, 80, 0))
    with pytest.raises(EmacError, match=r"slots \[0, 1, 2, 5\]"):
        emac.put(3, Entry(lb_key(VIP, 6, 80, 5), ACT_LB, lb_data("10.0.2.3", 1)))
    with pytest.raises(EmacError, match="action id 2"):
        emac.put(3, Entry(lb_key(VIP, 6, 80, 3), ACT_NAT, nat_data("1.2.3.4", VIP, 1, 2)))
    assert emac.placed[3].table.slots == slots and _vips(s1.client)[vip] == 3
    lb_entries = em_entries(parse_nfs([{**LB, "id": 9}])[9])
    with pytest.raises(EmacError, match="action id 1"):
        emac.place(9, lb_entries, qp=0, buckets=16)  # an LB's entries placed as a NAT
    with pytest.raises(EmacError, match="not 'firewall'"):
        emac.place(9, [], qp=0, buckets=16, kind="firewall")
    assert 9 not in emac.placed and s1.client.read_table("em_config") and len(_vips(s1.client)) == 2
    # A restarted EMAC adopts the LB table (slots read back) and keeps n in step from there.
    from emac.api import Emac

    old = emac.placed[3]
    fresh = Emac(s1.client, emac.me, emac.loop_port, epoch=emac.epoch)
    fresh.servers, fresh.used = emac.servers, {0: 0}
    p = fresh.adopt(3, 0, old.base, old.table.buckets, kind="lb")
    assert (p.kind, p.table.slots) == ("lb", old.table.slots)
    fresh.put(3, Entry(lb_key(VIP, 6, 80, 3), ACT_LB, lb_data("10.0.2.3", 7000)))
    assert _vips(s1.client)[vip] == 4
    sport = next(sp for sp in range(3000, 3100) if backend("10.0.1.1", sp, 6, 80, [0, 1, 2, 3]) == 3)
    assert dst_of(send(net, vip_pkt(sport))[1]) == ("10.0.2.3", 7000)


def test_a_packet_waiting_for_em_when_its_hop_moves_to_lm_leaves_clean(lb_net):
    net, emac, ms, nf = lb_net
    s1 = net.switches["S1"]
    net.handlers["MS"] = None  # the memory server is silent: the packet circles, waiting
    s1.ports[1].rx.put(vip_pkt(3000))
    deadline = time.monotonic() + 3
    while emac.stats()["wait_pass"] < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert emac.stats()["wait_pass"] >= 2 and out_of_either(net, timeout=0.05) is None
    emac.move_to_lm(lm_writes(nf))
    s1.client.insert(
        [TableWrite.of("sff", {"hdr.nsh.spi": SPI, "hdr.nsh.si": 255}, "sff_local",
                       {"nfId": 3, "kind": 3, "where": 0})], "MODIFY",
    )  # fmt: skip
    got = out_of_either(net, timeout=3)
    assert got is not None
    # Served by the LM table on its next pass, and without the wait shim.
    want = backend("10.0.1.1", 3000, 6, 80, TCP_BACKENDS)
    assert Ether(got[1]).type == 0x0800 and dst_of(got[1]) == want and checksums_right(got[1])
    net.handlers["MS"] = ms.handle
