"""External memory on the emulated fat-tree: a NAT read by the switch itself over RoCEv2
from a memory server process, next to a firewall in LM and a load balancer on a server.

A k=2 fat-tree on Mininet with a memory-server host per switch. The chain FW (LM of
edge0_0) -> NAT (EM of core0) -> LB (software, on the receiving server) must give,
byte for byte, the output of FW -> NAT -> LB all in LM; moving the NAT from LM to EM
while a chain's traffic flows loses nothing; each flow's first packet makes exactly one
READ and the rest hit the switch's RDMA-table cache. A restarted controller reads the EM
path and tables back and writes nothing; a restarted switch gets them back at the next
reconcile; the output stays the same through both.

Needs root and Mininet; skipped otherwise.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest
from scapy.all import IP, UDP, Ether, Raw, raw

from controller.fabric.em import EmFabric
from controller.fabric.servers import ServerNFs
from controller.fabric.switches import Fabric
from controller.program.chains import Chain, Hop, compile_chains
from controller.program.pipeline import fabric_pipeline
from controller.program.underlay import fabric_entities
from emulation.mininet import Emulation, missing
from emulation.traffic import start_receiver
from nfs.entries import parse_nfs
from tests.netns import in_netns
from topologies import kary_fattree
from topologies.addressing import plan

pytestmark = pytest.mark.skipif(missing() is not None, reason=str(missing()))

PROBES = (1, 2, 3, 4)  # chains 1-4: FW -> NAT -> LB, source ports 10001..10004
MOVED = 9  # chain 9: FW -> NAT, carries the traffic while the NAT moves
BACKENDS = (9001, 9002)


@pytest.fixture(scope="module")
def fab(tmp_path_factory):
    p = plan(kary_fattree(2))  # edge0_0 - agg0_0 - core0 - agg1_0 - edge1_0, a server each
    a, b = sorted(p.servers)
    ip_a, ip_b = p.servers[a].ip, p.servers[b].ip
    nat = [
        {"match": {"src": ip_a, "dst": ip_b, "proto": 17, "sport": 10000 + c, "dport": 9000},
         "to": {"sport": 30000 + c}}
        for c in (*PROBES, MOVED)
    ]  # fmt: skip
    nfs = parse_nfs(
        [
            {"id": 1, "kind": "firewall", "default": "deny",
             "rules": [{"priority": 10, "proto": 17, "dport": 9000, "action": "permit"}]},
            {"id": 2, "kind": "nat", "entries": nat},
            {"id": 3, "kind": "lb", "vips": [{"vip": ip_b, "proto": 17, "port": 9000,
                                              "backends": [[ip_b, port] for port in BACKENDS]}]},
        ]
    )  # fmt: skip
    chains = [Chain(spi=c, src=a, dst=b, sport=10000 + c, dport=9000, nfs=(1, 2, 3)) for c in PROBES]
    chains.append(Chain(spi=MOVED, src=a, dst=b, sport=10000 + MOVED, dport=9000, nfs=(1, 2)))
    pipeline, index = fabric_pipeline()
    log = tmp_path_factory.mktemp("emu-em")
    with Emulation(p, log_dir=log, em=True) as emu:
        servers = ServerNFs(emu, log)
        underlay = {n: fabric_entities(p, index, n) for n in p.switches}
        ctl: dict = {"state": None}

        def start_controller(recover: bool = False) -> None:
            ctl["fabric"] = Fabric({n: (emu.grpc[n], sw.device_id) for n, sw in p.switches.items()}, pipeline)
            ctl["emf"] = EmFabric(emu, ctl["fabric"], log, recover=recover)
            if recover:
                ctl["emf"].recover_all()

        def place(hops: dict[int, Hop]) -> dict:
            """Make-before-break to a placement: server NFs, EM tables, switches."""
            fabric, emf = ctl["fabric"], ctl["emf"]
            st = compile_chains(p, index, chains, hops, nfs)
            old = ctl["state"]
            both = {s: {**(old.server_hops.get(s, {}) if old else {}), **st.server_hops.get(s, {})}
                    for s in set(st.server_hops) | set(old.server_hops if old else {})}  # fmt: skip
            servers.configure(both, nfs)
            emf.prepare(st.em, nfs)
            extra = emf.entities(st.em)
            rep = fabric.reconcile({n: underlay[n] + st.switches[n] + extra.get(n, []) for n in p.switches})
            emf.finish(st.em, rep.pipelines_pushed)
            servers.configure(st.server_hops, nfs)
            ctl["state"] = st
            return rep.changes

        start_controller()
        f = {"plan": p, "emu": emu, "place": place, "ctl": ctl, "a": a, "b": b, "restart": start_controller}
        try:
            yield f
        finally:
            ctl["emf"].close()
            servers.close()
            ctl["fabric"].close()


ALL_LM = {1: Hop(1, "lm", "edge0_0"), 2: Hop(2, "lm", "core0"), 3: Hop(3, "lm", "agg1_0")}


def em_hops(b: str) -> dict[int, Hop]:
    return {1: Hop(1, "lm", "edge0_0"), 2: Hop(2, "em", "core0"), 3: Hop(3, "server", b)}


def probe(f) -> list[bytes]:
    """Three rounds of one packet per probe chain from the first server; what the second
    server's wire delivers (the chain's output), in send order."""
    p, emu, a, b = f["plan"], f["emu"], f["a"], f["b"]
    sa, sb = p.servers[a], p.servers[b]
    edge_mac = p.switches[sa.edge].mac

    def open_sock(server: str, timeout: float) -> socket.socket:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
        s.bind((emu.intf(server), 0))
        s.settimeout(timeout)
        return s

    tx = in_netns(f"/proc/{emu.hosts[a].pid}/ns/net", lambda: open_sock(a, 1.0))
    rx = in_netns(f"/proc/{emu.hosts[b].pid}/ns/net", lambda: open_sock(b, 0.2))
    out: dict[int, bytes] = {}
    try:
        for k in range(3):
            for c in PROBES:
                ident = k * 16 + c
                frame = (
                    Ether(src=sa.mac, dst=edge_mac)
                    / IP(src=sa.ip, dst=sb.ip, id=ident, ttl=64)
                    / UDP(sport=10000 + c, dport=9000)
                    / Raw(b"probe-%03d" % ident)
                )
                tx.send(raw(frame))
                deadline = time.monotonic() + 5
                while ident not in out and time.monotonic() < deadline:
                    try:
                        data, addr = rx.recvfrom(65535)
                    except TimeoutError:
                        continue
                    if addr[2] == socket.PACKET_OUTGOING:
                        continue
                    pkt = Ether(data)
                    if UDP in pkt and pkt[UDP].dport in BACKENDS:
                        out[pkt[IP].id] = data
                assert ident in out, f"probe {ident} (chain {c}) did not arrive"
    finally:
        tx.close()
        rx.close()
    return [out[k * 16 + c] for k in range(3) for c in PROBES]


def traffic(f, seconds: float, during) -> dict:
    """Chain 9's stamped traffic at 100 packets/s while `during()` runs."""
    p, emu, a, b = f["plan"], f["emu"], f["a"], f["b"]
    cmd = [sys.executable, "-m", "emulation.traffic"]
    recv = start_receiver(emu, b, 9000, seconds + 3)
    send = emu.host_popen(a, *cmd, "send", "--flow", f"{MOVED}:{p.servers[b].ip}:9000:{10000 + MOVED}:100",
                          "--seconds", str(seconds), stdout=subprocess.PIPE, text=True)  # fmt: skip
    time.sleep(1.0)
    during()
    sent = json.loads(send.communicate(timeout=60)[0])["sent"][str(MOVED)]
    got = json.loads(recv.communicate(timeout=60)[0])["flows"][str(MOVED)]
    return {"sent": sent, **got}


def test_fw_lm_nat_em_lb_server_gives_the_all_lm_output_through_moves_and_restarts(fab):
    place, b = fab["place"], fab["b"]
    emf = fab["ctl"]["emf"]
    place(ALL_LM)
    in_lm = probe(fab)
    for data in in_lm:  # NAT and LB did their work, checksums right
        pkt = Ether(data)
        assert pkt[UDP].sport == 30000 + int(pkt[Raw].load[-3:]) % 16
        assert pkt[UDP].dport in BACKENDS
        again = Ether(data)
        del again[IP].chksum, again[UDP].chksum
        assert raw(again) == data, "checksums are not what the headers give"
    for c in range(4):  # every packet of a flow goes to one backend
        assert len({Ether(in_lm[k * 4 + c])[UDP].dport for k in range(3)}) == 1

    changes: dict = {}
    got = traffic(fab, 4.0, lambda: changes.update(place(em_hops(b))))
    assert changes["core0"][0] > 0  # the EM path's entries went in
    assert got["sent"] == 400 and got["received"] == got["sent"] and got["lost"] == 0, got

    before = emf.stats()["core0"]
    in_em = probe(fab)
    after = emf.stats()["core0"]
    assert in_em == in_lm  # byte for byte, whichever way the NAT and the LB are hosted
    d = {k: after[k] - before[k] for k in after if isinstance(after[k], int | float)}
    assert d["read"] == len(PROBES) and d["resp_ok"] == len(PROBES)  # one READ per new flow
    assert d["hit"] >= 2 * len(PROBES)
    for bad in ("bad_psn", "bad_qp", "bad_icrc", "nak", "fallback"):
        assert d[bad] == 0, bad

    # The controller dies (its sessions and sockets go; memory servers and switches stay)
    # and a new one takes over: it reads the EM path and tables back and writes nothing.
    fab["ctl"]["fabric"].close()
    for emac in emf.emacs.values():
        emac.servers[0].writer.transport.close()
    fab["restart"](recover=True)
    emf = fab["ctl"]["emf"]
    assert emf.emacs["core0"].placed.keys() == {2}
    assert all(c == (0, 0, 0) for c in place(em_hops(b)).values())
    assert probe(fab) == in_lm

    # The switch holding the EM path restarts empty: the next reconcile gives it back its
    # pipeline, the EMAC's entries and registers; its READs restart at PSN 0, which the
    # memory server answers as duplicates until the PSNs meet again.
    fab["emu"].restart_switch("core0")
    assert place(em_hops(b))["core0"][0] > 0
    assert probe(fab) == in_lm

    place(ALL_LM)  # back to LM: the EM table is released and its space freed
    assert not fab["ctl"]["emf"].emacs["core0"].placed
    assert probe(fab) == in_lm
