"""The fabric program on srem's switch, with real packets: an NSH chain of a firewall, a
NAT and a load balancer hosted in LM, in EM (read by the switch over RoCEv2 from a memory
server) and on a server (software NF), and the EM path's behaviour under misses, updates,
bad responses and a dead memory server."""

from __future__ import annotations

import time
import zlib

import pytest
import yaml
from scapy.all import IP, TCP, UDP, Ether, Raw, raw

from emac.layout import ACT_NAT, Entry, FlowKey, nat_data
from emac.roce import Endpoint
from nfs.entries import em_entries, lm_writes, parse_nfs, software_config
from nfs.software import SoftwareNF
from p4rt.entities import TableWrite, Ternary, update
from tests.fabric_net import MAC, MS, S1_RDMA, chain_path, ecmp_route, received, two_switches

NFS = yaml.safe_load(
    """
- {id: 1, kind: firewall, default: deny, rules: [
    {priority: 20, dport: 22, action: deny},
    {priority: 10, src: 10.0.1.0/24, proto: 6, dport: [1, 1023], action: permit},
    {priority: 5, src: 10.0.1.0/24, proto: 17, action: permit}]}
- {id: 2, kind: nat, entries: [
    {match: {src: 10.0.1.1, dst: 10.0.2.100, proto: 6, sport: 1000, dport: 80}, to: {src: 198.51.100.1, sport: 41000}},
    {match: {src: 10.0.1.1, dst: 10.0.2.100, proto: 6, sport: 1001, dport: 80}, to: {src: 198.51.100.1, sport: 41001}},
    {match: {src: 10.0.1.1, dst: 10.0.2.100, proto: 6, sport: 1002, dport: 80}, to: {src: 198.51.100.1, sport: 41002}},
    {match: {src: 10.0.1.1, dst: 10.0.2.100, proto: 6, sport: 1003, dport: 80}, to: {src: 198.51.100.1, sport: 41003}},
    {match: {src: 10.0.1.2, dst: 10.0.2.100, proto: 17, sport: 5000, dport: 80}, to: {src: 198.51.100.2, sport: 45000}}]}
- {id: 3, kind: lb, vips: [{vip: 10.0.2.100, proto: 6, port: 80, backends: [[10.0.2.2, 8080], [10.0.2.3, 8080]]},
                          {vip: 10.0.2.100, proto: 17, port: 80, backends: [[10.0.2.3, 9000]]}]}
"""
)
KIND = {1: "firewall", 2: "nat", 3: "lb"}


def flows() -> list[bytes]:
    """Packets from H1: four TCP flows to the VIP, one UDP flow, one denied by the firewall
    (ssh), one the firewall does not permit (port 8081), and one no NAT entry matches."""
    e = Ether(src=MAC["H1"], dst=MAC["S1"])
    out = [
        e / IP(src="10.0.1.1", dst="10.0.2.100", id=7 + k) / TCP(sport=1000 + k, dport=80) / f"p{k}"
        for k in range(4)
    ]
    out.append(e / IP(src="10.0.1.2", dst="10.0.2.100", id=20) / UDP(sport=5000, dport=80) / b"udp")
    out.append(e / IP(src="10.0.1.1", dst="10.0.2.100", id=21) / TCP(sport=1000, dport=22) / b"ssh")
    out.append(e / IP(src="10.0.1.1", dst="10.0.2.100", id=22) / TCP(sport=1000, dport=8081) / b"x")
    out.append(e / IP(src="10.0.1.1", dst="10.0.2.100", id=23) / TCP(sport=1999, dport=80) / b"nonat")
    return [raw(p) for p in out]


def expected() -> list[tuple[str, bytes]]:
    """The chain's output, worked out from the NF definitions (not from any NF code)."""
    out = []
    for k in range(4):
        sport = 41000 + k
        key = (
            bytes([198, 51, 100, 1])
            + bytes([10, 0, 2, 100])
            + b"\x06"
            + sport.to_bytes(2, "big")
            + (80).to_bytes(2, "big")
        )
        backend = ["10.0.2.2", "10.0.2.3"][(zlib.crc32(key) & 0xFFFF) * 2 >> 16]
        host = "H2" if backend.endswith(".2") else "H3"
        p = Ether(src=MAC["S2"], dst=MAC[host]) / IP(src="198.51.100.1", dst=backend, id=7 + k, ttl=63)
        out.append((host, raw(p / TCP(sport=sport, dport=8080) / f"p{k}")))
    p = Ether(src=MAC["S2"], dst=MAC["H3"]) / IP(src="198.51.100.2", dst="10.0.2.3", id=20, ttl=63)
    out.append(("H3", raw(p / UDP(sport=45000, dport=9000) / b"udp")))
    key = bytes([10, 0, 1, 1, 10, 0, 2, 100, 6]) + (1999).to_bytes(2, "big") + (80).to_bytes(2, "big")
    backend = ["10.0.2.2", "10.0.2.3"][(zlib.crc32(key) & 0xFFFF) * 2 >> 16]
    host = "H2" if backend.endswith(".2") else "H3"
    p = Ether(src=MAC["S2"], dst=MAC[host]) / IP(src="10.0.1.1", dst=backend, id=23, ttl=63)
    out.append((host, raw(p / TCP(sport=1999, dport=8080) / b"nonat")))
    return out


def run_chain(hosting: dict[int, str]) -> dict[str, list[bytes]]:
    """Deploy the chain FW -> NAT -> LB with each NF hosted as given; send flows(); return
    what H2 and H3 received, in order."""
    nfs = parse_nfs(NFS)
    net, emac, _ms = two_switches()
    try:
        s1, s2 = net.switches["S1"], net.switches["S2"]
        s1.client.insert(
            [
                TableWrite.of(
                    "classifier", {"sm.ingress_port": Ternary(1, 0x1FF)}, "classify", {"spi": 7}, priority=1
                )
            ]
        )
        srv = {}
        for nf_id, host in hosting.items():
            nf = nfs[nf_id]
            if host == "SRV":
                srv[nf_id] = SoftwareNF.from_config(software_config(nf), MAC["SRV"])
            elif host.endswith(":EM"):
                emac.place(nf_id, em_entries(nf), qp=0, buckets=16, kind=nf.kind)
            else:
                net.switches[host.split(":")[0]].client.insert(lm_writes(nf))

        def server(frame: bytes) -> list[bytes]:
            si = frame[14 + 7]
            nf_id = _srv_nf(hosting, si)
            out = srv[nf_id].process(frame)
            return [out] if out is not None else []

        net.attach("SRV", s2.ports[3], server)
        chain_path(net, 7, [(h, KIND[h], hosting[h]) for h in (1, 2, 3)])
        got: dict[str, list[bytes]] = {"H2": [], "H3": []}
        outputs = iter(expected())
        for k, p in enumerate(flows()):
            s1.ports[1].rx.put(p)
            if k in (5, 6):  # the firewall drops these two
                continue
            # One packet in the chain at a time: flows that wait on different EM reads
            # could otherwise overtake each other.
            host, _ = next(outputs)
            got[host] += received(net.hosts[host], 1, timeout=5)
        assert (
            received(net.hosts["H2"], 1, timeout=0.3) == []
            and received(net.hosts["H3"], 1, timeout=0.1) == []
        )
        return got
    finally:
        net.close()


def _srv_nf(hosting: dict[int, str], si: int) -> int:
    # Hop k of the chain arrives with SI 255 - k.
    return (1, 2, 3)[255 - si]


def test_chain_fw_lm_nat_em_lb_server_gives_exactly_the_expected_packets():
    got = run_chain({1: "S1:LM", 2: "S1:EM", 3: "SRV"})
    want = expected()
    for host in ("H2", "H3"):
        mine = [p for h, p in want if h == host]
        assert got[host] == mine, f"{host}: {[Ether(p).summary() for p in got[host]]}"
    for _host, p in want:  # the expectation's checksums are scapy's own: check they are right
        q = Ether(p)
        l4 = q[IP].payload
        del q[IP].chksum, l4.chksum
        assert raw(Ether(raw(q))) == p


@pytest.mark.parametrize(
    "hosting",
    [
        {1: "SRV", 2: "S1:LM", 3: "S2:LM"},
        {1: "S1:LM", 2: "S1:LM", 3: "S1:LM"},
        {1: "SRV", 2: "SRV", 3: "SRV"},
        {1: "S2:LM", 2: "S1:EM", 3: "S2:LM"},
        {1: "S1:LM", 2: "S1:EM", 3: "S1:EM"},
        {1: "SRV", 2: "S1:LM", 3: "S1:EM"},
    ],
    ids=["srv-lm-lm", "all-lm", "all-server", "lm-em-lm", "lm-em-em", "srv-lm-em"],
)
def test_the_same_chain_hosted_otherwise_gives_byte_identical_output(hosting):
    want = expected()
    got = run_chain(hosting)
    for host in ("H2", "H3"):
        assert got[host] == [p for h, p in want if h == host]


# -- the EM path -----------------------------------------------------------------------------------
KEY = FlowKey.of("10.0.1.1", "10.0.2.2", 6, 1234, 80)
OLD = Entry(KEY, ACT_NAT, nat_data("198.51.100.1", "10.0.2.2", 40000, 80))
NEW = Entry(KEY, ACT_NAT, nat_data("198.51.100.9", "10.0.2.2", 49999, 80))


def pkt(sport: int = 1234, payload: bytes = b"hi") -> bytes:
    return raw(
        Ether(src=MAC["H1"], dst=MAC["S1"])
        / IP(src="10.0.1.1", dst="10.0.2.2")
        / TCP(sport=sport, dport=80)
        / payload
    )


def em_setup(bound_us: int = 2_000_000, retry_us: int = 300_000):
    """A chain of one NAT in S1's EM (flow KEY translated to OLD)."""
    net, emac, ms = two_switches(bound_us=bound_us, retry_us=retry_us)
    s1 = net.switches["S1"]
    classify = TableWrite.of(
        "classifier", {"sm.ingress_port": Ternary(1, 0x1FF)}, "classify", {"spi": 10}, priority=1
    )
    s1.client.insert([classify])
    emac.place(2, [OLD], qp=0, buckets=64)
    chain_path(net, 10, [(2, "nat", "S1:EM")])
    return net, emac, ms


@pytest.fixture
def em_net(request):
    net, emac, ms = em_setup(*getattr(request, "param", ()))
    yield net, emac, ms
    net.close()


def translated(frame: bytes) -> tuple[str, int]:
    p = Ether(frame)
    return p[IP].src, p[TCP].sport


def test_em_miss_makes_exactly_one_read_then_hits(em_net):
    net, emac, ms = em_net
    s1 = net.switches["S1"]
    s1.ports[1].rx.put(pkt())
    (first,) = received(net.hosts["H2"], 1)
    assert translated(first) == ("198.51.100.1", 40000)
    p = Ether(first)
    assert p[TCP].chksum == TCP(raw(p[TCP].__class__(raw(p[TCP])))).chksum
    for _ in range(5):
        s1.ports[1].rx.put(pkt())
        assert [translated(f) for f in received(net.hosts["H2"], 1)] == [("198.51.100.1", 40000)]
    st = emac.stats()
    assert (st["miss"], st["read"], st["hit"], st["resp_ok"]) == (1, 1, 5, 1)
    assert ms.stats["reads"] == 1
    assert st["fetches"] == 1 and st["fetch_us_mean"] > 0
    # A flush empties the cache: the next packet reads again.
    emac.flush()
    s1.ports[1].rx.put(pkt())
    assert [translated(f) for f in received(net.hosts["H2"], 1)] == [("198.51.100.1", 40000)]
    assert emac.stats()["read"] == 2 and ms.stats["reads"] == 2


def test_a_key_not_in_em_is_read_once_and_passes_untranslated(em_net):
    net, emac, _ = em_net
    s1 = net.switches["S1"]
    for _ in range(3):
        s1.ports[1].rx.put(pkt(sport=777))
        assert [translated(f) for f in received(net.hosts["H2"], 1)] == [("10.0.1.1", 777)]
    st = emac.stats()
    assert (st["read"], st["not_found"], st["hit"]) == (1, 1, 2)


# Bound 3 s, a READ again every 300 ms (at most 8 READs: 2.4 s) leave room for a loaded CI.
@pytest.mark.parametrize("em_net", [(3_000_000, 300_000)], indirect=True)
def test_a_half_written_entry_is_never_applied(em_net):
    net, emac, _ms = em_net
    s1 = net.switches["S1"]
    place = emac.placed[2]
    w_head, w_body, w_tail = place.table.put(NEW)
    writer = place.server.writer
    writer.write(place.base + w_head.offset, place.server.rkey, w_head.data)
    writer.write(place.base + w_body.offset, place.server.rkey, w_body.data)
    emac.flush()
    s1.ports[1].rx.put(pkt())  # reads a slot whose head and tail versions differ
    deadline = time.monotonic() + 3
    while emac.stats()["torn"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert emac.stats()["torn"] >= 1
    assert received(net.hosts["H2"], 1, timeout=0.05) == []  # still waiting, nothing applied
    writer.write(place.base + w_tail.offset, place.server.rkey, w_tail.data)
    (out,) = received(net.hosts["H2"], 1)
    assert translated(out) == ("198.51.100.9", 49999)  # the retry read the whole new entry


def test_updates_under_traffic_are_old_or_new_never_mixed(em_net):
    import threading

    net, emac, _ = em_net
    s1 = net.switches["S1"]
    stop = threading.Event()
    sent = [0]

    def traffic() -> None:
        while not stop.is_set() and sent[0] < 400:
            s1.ports[1].rx.put(pkt())
            sent[0] += 1
            time.sleep(0.003)

    t = threading.Thread(target=traffic)
    t.start()
    versions = [OLD, NEW]
    for k in range(12):
        emac.put(2, versions[(k + 1) % 2])
        time.sleep(0.02)
    stop.set()
    t.join()
    outs = received(net.hosts["H2"], sent[0], timeout=3)
    assert len(outs) == sent[0]
    seen = {translated(f) for f in outs}
    assert seen <= {("198.51.100.1", 40000), ("198.51.100.9", 49999)}
    assert len(seen) == 2
    for f in outs:  # and every packet's checksums are right for what it carries
        p = Ether(f)
        assert p[TCP].chksum == TCP(raw(p[TCP].__class__(raw(p[TCP])))).chksum


def _response(psn: int, dqpn: int, payload: bytes, src: Endpoint = MS) -> bytes:
    from scapy.contrib.roce import AETH, BTH

    from emac.roce import frame

    return frame(
        src,
        Endpoint(S1_RDMA.mac, S1_RDMA.ip, dqpn),
        BTH(opcode=0x10, psn=psn) / AETH(syndrome=0x1F) / Raw(payload),
    )


def _nak(psn: int, syndrome: int) -> bytes:
    from scapy.contrib.roce import AETH, BTH

    from emac.roce import frame

    return frame(MS, S1_RDMA, BTH(opcode=0x11, psn=psn) / AETH(syndrome=syndrome))


@pytest.mark.parametrize("em_net", [(5_000_000, 600_000)], indirect=True)
def test_bad_read_responses_are_ignored_and_counted(em_net):
    net, emac, ms = em_net
    s1 = net.switches["S1"]
    net.handlers["MS"] = None  # the memory server is silent for a while
    s1.ports[1].rx.put(pkt())
    deadline = time.monotonic() + 3
    while emac.stats()["read"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    # Forged answers to the outstanding READ (PSN 0) carrying a wrong translation.
    from emac.layout import EmTable

    t = EmTable(2, 64)
    bogus = Entry(KEY, ACT_NAT, nat_data("6.6.6.6", "10.0.2.2", 6666, 80))
    image = t.image([bogus])
    bucket = next(b for b in range(64) if any(image[b * 160 + 4 : b * 160 + 5]))
    good = _response(0, S1_RDMA.qpn, image[bucket * 160 : bucket * 160 + 160])
    bad_icrc = bytearray(good)
    bad_icrc[-1] ^= 1
    port = s1.ports[4]
    port.rx.put(bytes(bad_icrc))
    port.rx.put(_response(0, S1_RDMA.qpn + 5, image[bucket * 160 : bucket * 160 + 160]))  # QP not ours
    port.rx.put(_response(77, S1_RDMA.qpn, image[bucket * 160 : bucket * 160 + 160]))  # PSN not outstanding
    port.rx.put(_response(0, S1_RDMA.qpn, b"short"))  # not one bucket
    nak = bytearray(_nak(0, 0x62))  # a NAK for the outstanding READ, but its ICRC is wrong
    nak[-2] ^= 1
    port.rx.put(bytes(nak))
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        st = emac.stats()
        if st["bad_icrc"] == 2 and st["bad_qp"] and st["bad_psn"] and st["bad_len"]:
            break
        time.sleep(0.01)
    assert (st["bad_icrc"], st["bad_qp"], st["bad_psn"], st["bad_len"], st["resp_ok"], st["nak"]) == (
        2,
        1,
        1,
        1,
        0,
        0,
    )
    assert received(net.hosts["H2"], 1, timeout=0.05) == []
    net.handlers["MS"] = ms.handle  # back: the switch re-reads after retry_us and gets the truth
    (out,) = received(net.hosts["H2"], 1, timeout=3)
    assert translated(out) == ("198.51.100.1", 40000)


def test_a_nak_for_a_bad_rkey_takes_the_fallback_at_once(em_net):
    net, emac, ms = em_net
    s1 = net.switches["S1"]
    p = emac.placed[2]
    # The switch's copy of the rkey is wrong: the server refuses the READ (remote access NAK).
    ok = emac._read_qp(p.qp, p.server)
    wrong = TableWrite.of(ok.table, dict(ok.match), ok.action, {**dict(ok.params), "rkey": p.server.rkey + 1})
    s1.client.insert([wrong], "MODIFY")
    t0 = time.monotonic()
    s1.ports[1].rx.put(pkt())
    deadline = t0 + 3
    while emac.stats()["fallback"] == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    st = emac.stats()
    assert (st["nak"], st["fallback"]) == (1, 1) and ms.stats["nak_access"] == 1
    assert time.monotonic() - t0 < emac.bound_us / 1e6
    assert received(net.hosts["H2"], 1, timeout=0.2) == []  # a counted drop, never a wrong action


def _em_params(emac, p, detour: tuple[int, str] | None = None) -> dict:
    mac = lambda m: int(m.replace(":", ""), 16)
    return {
        "base": p.base, "bucketMask": p.table.buckets - 1, "qp": p.qp, "loopPort": emac.loop_port, "boundUs": emac.bound_us, "retryUs": emac.retry_us,
        "detour": int(detour is not None), "detourPort": detour[0] if detour else 0,
        "detourMac": mac(detour[1]) if detour else 0,
    }  # fmt: skip


@pytest.mark.parametrize("em_net", [(400_000, 100_000)], indirect=True)
@pytest.mark.parametrize("detour", [False, True], ids=["drop", "detour"])
def test_memory_server_killed_mid_flow_falls_back_within_the_bound(em_net, detour):
    net, emac, _ms = em_net
    s1 = net.switches["S1"]
    s1.ports[1].rx.put(pkt())
    assert [translated(f) for f in received(net.hosts["H2"], 1)] == [("198.51.100.1", 40000)]
    p = emac.placed[2]
    if detour:  # a server instance of the same NAT, on SRV behind S2... reached through S1's port 2
        srv = SoftwareNF.from_config(
            software_config(parse_nfs([{"id": 2, "kind": "nat", "entries": [
                {"match": {"src": "10.0.1.1", "dst": "10.0.2.2", "proto": 6, "sport": 1234, "dport": 80},
                 "to": {"src": "198.51.100.1", "sport": 40000}}]}])[2]),
            MAC["SRV"],
        )  # fmt: skip
        net.attach("SRV", net.switches["S2"].ports[3], lambda f: [o] if (o := srv.process(f)) else [])
        s2 = net.switches["S2"]
        s2.client.insert([TableWrite.of("sff", {"hdr.nsh.spi": 10, "hdr.nsh.si": 255}, "sff_forward",
                                        {"port": 3, "smac": 0x02000000AA02, "dmac": 0x02000000CC01, "where": 2})])  # fmt: skip
        s1.client.insert(
            [
                TableWrite.of(
                    "em_config",
                    {"meta.nfId": 2},
                    "em_set",
                    _em_params(emac, p, (2, MAC["S2"])),
                )
            ],
            "MODIFY",
        )
    net.handlers["MS"] = None  # killed
    emac.flush()
    t0 = time.monotonic()
    s1.ports[1].rx.put(pkt(payload=b"after"))
    bound = emac.bound_us / 1e6
    if detour:
        (out,) = received(net.hosts["H2"], 1, timeout=bound + 2)
        assert translated(out) == ("198.51.100.1", 40000) and Ether(out)[Raw].load == b"after"
    else:
        while emac.stats()["fallback"] == 0 and time.monotonic() - t0 < bound + 2:
            time.sleep(0.005)
        assert received(net.hosts["H2"], 1, timeout=0.1) == []
    elapsed = time.monotonic() - t0
    assert emac.stats()["fallback"] == 1
    assert bound * 0.9 <= elapsed < bound + 1.0, elapsed  # the bound, plus scheduling slack of a loaded CI
    # The QP is marked down: the next miss takes the fallback at once (and sends a probe READ):
    # it never waits on the loopback (told by the counter, not by a clock on a loaded CI).
    emac.flush()
    passes = emac.stats()["wait_pass"]
    t0 = time.monotonic()
    s1.ports[1].rx.put(pkt(payload=b"again"))
    if detour:
        (out,) = received(net.hosts["H2"], 1, timeout=2)
        assert translated(out) == ("198.51.100.1", 40000)
    else:
        while emac.stats()["fallback"] < 2 and time.monotonic() - t0 < 2:
            time.sleep(0.005)
    assert emac.stats()["fallback"] == 2 and emac.stats()["wait_pass"] == passes
    # The server is back: the next probe's answer clears the mark, then EM serves again.
    net.handlers["MS"] = _ms.handle
    emac.flush()
    s1.ports[1].rx.put(pkt(payload=b"probe"))
    if detour:
        assert len(received(net.hosts["H2"], 1, timeout=2)) == 1  # detoured
    time.sleep(0.3)
    s1.ports[1].rx.put(pkt(payload=b"back"))
    (out,) = received(net.hosts["H2"], 1, timeout=2)
    assert translated(out) == ("198.51.100.1", 40000) and Ether(out)[Raw].load == b"back"
    st = emac.stats()
    assert st["fallback"] == 3 and st["resp_ok"] >= 2


# -- rate limiter and counters ---------------------------------------------------------------------
RL = {"id": 4, "kind": "ratelimit", "cir": 1, "cburst": 4, "pir": 1, "pburst": 4}


@pytest.mark.parametrize("host", ["S1:LM", "SRV"])
def test_rate_limiter_drops_red_the_same_way_in_lm_and_on_a_server(host):
    nf = parse_nfs([RL])[4]
    net, _emac, _ms = two_switches()
    try:
        s1, s2 = net.switches["S1"], net.switches["S2"]
        s1.client.insert(
            [
                TableWrite.of(
                    "classifier", {"sm.ingress_port": Ternary(1, 0x1FF)}, "classify", {"spi": 3}, priority=1
                )
            ]
        )
        if host == "SRV":
            srv = SoftwareNF.from_config(software_config(nf), MAC["SRV"])
            net.attach("SRV", s2.ports[3], lambda f: [o] if (o := srv.process(f)) else [])
        else:
            s1.client.write([update("MODIFY", s1.client.index().meter_cell("rl_meter", 4, nf.meter))])
        chain_path(net, 3, [(4, "ratelimit", host)])
        for k in range(8):  # a burst of 4 packets passes, then red at 1 packet/s
            s1.ports[1].rx.put(pkt(sport=2000 + k, payload=b""))
        got = received(net.hosts["H2"], 8, timeout=1.5)
        assert [Ether(f)[TCP].sport for f in got] == [2000, 2001, 2002, 2003]
        if host == "S1:LM":
            assert s1.client.counter_read("nf_drops")[4][0] == 4
            assert s1.client.counter_read("nf_packets")[4][0] == 4
    finally:
        net.close()


def test_counters_per_nf_host_kind_and_chain_are_readable_over_p4runtime(em_net):
    net, emac, _ = em_net
    s1, s2 = net.switches["S1"], net.switches["S2"]
    for _ in range(3):
        s1.ports[1].rx.put(pkt())
        assert len(received(net.hosts["H2"], 1)) == 1
    assert s1.client.counter_read("chain_in")[10][0] == 3
    assert s2.client.counter_read("chain_out")[10][0] == 3
    assert s1.client.counter_read("nf_packets")[2][0] == 3
    kinds = s1.client.counter_read("host_kind")
    # Every pass of the EM hop counts as EM (waiting passes too), the hand-off to S2 as "switch".
    assert kinds[1][0] >= 3 and kinds[3][0] == 3 and kinds[0][0] == 0
    st = emac.stats()
    assert (st["miss"], st["hit"]) == (1, 2)


def test_moving_the_nat_from_em_to_lm_under_traffic_loses_nothing(em_net):
    import threading

    net, emac, _ = em_net
    s1 = net.switches["S1"]
    nat = parse_nfs([{"id": 2, "kind": "nat", "entries": [
        {"match": {"src": "10.0.1.1", "dst": "10.0.2.2", "proto": 6, "sport": 1234, "dport": 80},
         "to": {"src": "198.51.100.1", "sport": 40000}}]}])[2]  # fmt: skip
    sent = [0]
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set() and sent[0] < 300:
            s1.ports[1].rx.put(pkt())
            sent[0] += 1
            time.sleep(0.004)

    t = threading.Thread(target=traffic)
    t.start()
    time.sleep(0.1)
    emac.move_to_lm(lm_writes(nat))  # make: LM entries first
    s1.client.insert(
        [
            TableWrite.of(
                "sff", {"hdr.nsh.spi": 10, "hdr.nsh.si": 255}, "sff_local", {"nfId": 2, "kind": 2, "where": 0}
            )
        ],
        "MODIFY",
    )  # then the hop reads LM
    emac.release(2)  # break: the EM table is forgotten
    time.sleep(0.1)
    stop.set()
    t.join()
    outs = received(net.hosts["H2"], sent[0], timeout=3)
    assert len(outs) == sent[0]
    assert {translated(f) for f in outs} == {("198.51.100.1", 40000)}
    assert s1.client.counter_read("host_kind")[0][0] > 0  # the later packets ran in LM
    with pytest.raises(Exception, match="not in EM"):
        emac.release(2)


def test_cache_size_is_checked(em_net):
    from emac.api import EmacError

    _, emac, _ = em_net
    for bad in (0, 3, 32768):
        with pytest.raises(EmacError, match="power of two"):
            emac.set_cache_size(bad)
    emac.set_cache_size(2)
    assert emac.cache_settings()[0] == 2


def test_srem_p4c_builds_the_fabric(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    srem = str(Path(sys.executable).parent / "srem")
    fabric = Path(__file__).resolve().parent.parent / "p4src" / "fabric.p4"
    r = subprocess.run(
        [srem, "p4c", str(fabric), "-o", str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    info = (tmp_path / "fabric.p4info.txtpb").read_text()
    for name in (
        "FabricIngress.sff.sff",
        "FabricIngress.em.em_config",
        "FabricIngress.em.rdma_stats",
        "FabricIngress.em.rdma_outcome",
        "FabricIngress.em_key.lb_em_vip",
        "fw_acl",
    ):
        assert name in info
    assert (tmp_path / "fabric.json").stat().st_size > 10_000


def test_underlay_ecmp_keeps_a_flow_on_one_uplink_and_uses_both():
    import ipaddress

    net, _emac, _ms = two_switches()
    try:
        s2 = net.switches["S2"]
        c = s2.client
        mac = lambda m: int(m.replace(":", ""), 16)
        ecmp_route(c, int(ipaddress.IPv4Address("10.9.0.0")), 16, 9, {
            91: {"port": 1, "smac": mac(MAC["S2"]), "dmac": mac(MAC["H2"])},
            92: {"port": 5, "smac": mac(MAC["S2"]), "dmac": mac(MAC["H3"])}})  # fmt: skip
        where: dict[int, set[str]] = {}
        for _rep in range(2):
            for sport in range(20):
                p = (
                    Ether(src=MAC["S1"], dst=MAC["S2"])
                    / IP(src="10.0.1.1", dst="10.9.1.1", ttl=9)
                    / UDP(sport=sport, dport=7)
                )
                s2.ports[2].rx.put(raw(p))
                deadline = time.monotonic() + 3
                while time.monotonic() < deadline and not any(net.hosts[h].qsize() for h in ("H2", "H3")):
                    time.sleep(0.001)
                for host in ("H2", "H3"):
                    for f in received(net.hosts[host], net.hosts[host].qsize(), timeout=0.1):
                        assert Ether(f)[IP].ttl == 8
                        where.setdefault(sport, set()).add(host)
        assert len(where) == 20 and all(len(v) == 1 for v in where.values())  # one uplink per flow
        assert {h for v in where.values() for h in v} == {"H2", "H3"}  # and both are used
    finally:
        net.close()


def test_a_restarted_emac_adopts_the_table_and_updates_continue(em_net):
    from emac.api import Emac

    net, emac, _ = em_net
    s1 = net.switches["S1"]
    s1.ports[1].rx.put(pkt())
    assert [translated(f) for f in received(net.hosts["H2"], 1)] == [("198.51.100.1", 40000)]
    old = emac.placed[2]
    # A new EMAC (the controller restarted) reads the table back from the memory server.
    fresh = Emac(s1.client, emac.me, emac.loop_port, epoch=emac.epoch)
    fresh.servers, fresh.used = emac.servers, {0: 0}
    p = fresh.adopt(2, 0, old.base, old.table.buckets)
    assert p.table.slots == old.table.slots and p.table.version == old.table.version
    fresh.put(2, NEW)
    s1.ports[1].rx.put(pkt())
    assert [translated(f) for f in received(net.hosts["H2"], 1)] == [("198.51.100.9", 49999)]
    assert len(s1.client.read_table("em_config")) == 1


def test_an_entry_deleted_from_em_stops_applying(em_net):
    net, emac, _ = em_net
    s1 = net.switches["S1"]
    s1.ports[1].rx.put(pkt())
    assert [translated(f) for f in received(net.hosts["H2"], 1)] == [("198.51.100.1", 40000)]
    emac.delete(2, KEY)
    for _ in range(2):
        s1.ports[1].rx.put(pkt())
        assert [translated(f) for f in received(net.hosts["H2"], 1)] == [("10.0.1.1", 1234)]
    assert emac.stats()["not_found"] == 1  # read once after the delete, then cached as absent
    emac.put(2, NEW)
    s1.ports[1].rx.put(pkt())
    assert [translated(f) for f in received(net.hosts["H2"], 1)] == [("198.51.100.9", 49999)]


def _shim(phase: int, cidx: int, epoch: int, data: bytes) -> bytes:
    """The wait shim (p4src/headers.p4, wait_t) of the NAT's key, as a host could forge it."""
    import struct

    nf, src, dst = 2, bytes([10, 0, 1, 1]), bytes([10, 0, 2, 2])
    return (
        struct.pack("!IB", 0, 0) + bytes(4) + bytes([0, 0, phase, nf]) + src + dst
        + bytes([nf, 6]) + struct.pack("!HHII", 1234, 80, cidx, 0)
        + bytes([ACT_NAT]) + data + struct.pack("!IH", epoch, 0x894F)
    )  # fmt: skip


def test_a_cache_answer_from_a_host_port_is_dropped_and_the_cache_left_alone(em_net):
    """The EM path's FILL pass (an answer a waiting packet found, written to the cache next pass)
    is taken from a recirculation only: a host cannot hand the switch an entry for its cache."""
    from p4target.switch.hashes import crc16

    net, emac, _ = em_net
    s1 = net.switches["S1"]
    key = bytes([2]) + KEY.packed()  # the cache index, as the key pass computes it
    cidx = crc16(key) & (emac.cache_size - 1)
    bogus = nat_data("6.6.6.6", "10.0.2.2", 6666, 80)
    nsh = bytes([0x0F, 0xC2, 0x02, 0x01, 0, 0, 10, 255])  # SPI 10, SI 255: the EM NAT's hop
    inner = raw(IP(src="10.0.1.1", dst="10.0.2.2") / TCP(sport=1234, dport=80) / b"forged")
    forged = (
        raw(Ether(src=MAC["H1"], dst=MAC["S1"], type=0x88B5))
        + _shim(2, cidx, emac.epoch, bogus)
        + nsh
        + inner
    )
    s1.ports[1].rx.put(forged)
    assert received(net.hosts["H2"], 1, timeout=0.5) == []
    assert emac.stats()["bad_shim"] == 1
    # The flow's first packet still misses and reads the real entry: nothing was cached.
    s1.ports[1].rx.put(pkt())
    assert [translated(f) for f in received(net.hosts["H2"], 1)] == [("198.51.100.1", 40000)]
    st = emac.stats()
    assert (st["miss"], st["read"], st["hit"]) == (1, 1, 0)


def test_a_lookup_pass_from_a_host_port_is_dropped_not_looked_up(em_net):
    """A host that sends its packet behind a wait shim of its own, with another flow's key, does
    not get that flow's cached answer: the switch takes the shim only from a recirculation or
    its loopback (wait_port), and drops and counts any other."""
    from p4target.switch.hashes import crc16

    net, emac, _ = em_net
    s1 = net.switches["S1"]
    s1.ports[1].rx.put(pkt())  # KEY's answer is read and cached
    assert [translated(f) for f in received(net.hosts["H2"], 1)] == [("198.51.100.1", 40000)]
    cidx = crc16(bytes([2]) + KEY.packed()) & (emac.cache_size - 1)
    nsh = bytes([0x0F, 0xC2, 0x02, 0x01, 0, 0, 10, 255])  # SPI 10, SI 255: the EM NAT's hop
    inner = raw(IP(src="10.0.1.1", dst="10.0.2.2") / TCP(sport=777, dport=80) / b"forged")
    forged = (
        raw(Ether(src=MAC["H1"], dst=MAC["S1"], type=0x88B5)) + _shim(0, cidx, 0, bytes(12)) + nsh + inner
    )
    s1.ports[1].rx.put(forged)
    assert received(net.hosts["H2"], 1, timeout=0.5) == []
    st = emac.stats()
    assert (st["bad_shim"], st["hit"], st["read"]) == (1, 0, 1)
    s1.ports[1].rx.put(pkt())  # the flow itself still hits
    assert [translated(f) for f in received(net.hosts["H2"], 1)] == [("198.51.100.1", 40000)]
    assert emac.stats()["hit"] == 1
