"""`srem memserver` and `srem nf` as processes on veth interfaces of a network namespace
this test creates, answering frames built with scapy."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from scapy.all import IP, TCP, Ether, raw
from scapy.contrib.nsh import NSH
from scapy.contrib.roce import AETH, BTH

from emac.roce import AETH_ACK, NAK_REMOTE_ACCESS, Endpoint, payload_of, read_request, write_only
from tests.netns import in_netns, raw_pair, sh, veth_namespace

SREM = str(Path(sys.executable).parent / "srem")


@pytest.fixture
def netns():
    with veth_namespace("srem-fab", [("m0", "m1"), ("n0", "n1")]) as ns:
        yield ns


# Sends each frame (hex arguments) on IFACE and prints the first frame that comes back
# for it (or "none"); the first frame is repeated until the server is up.
HELPER = textwrap.dedent(
    """
    import socket, sys, time
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)); s.bind((sys.argv[1], 0))
    s.settimeout(0.3)
    def reply(frame, tries):
        for _ in range(tries):
            s.send(frame)
            end = time.time() + 0.3
            while time.time() < end:
                try:
                    data, addr = s.recvfrom(65535)
                except TimeoutError:
                    break
                if addr[2] != 4 and data[12:14] in (b"\\x08\\x00", b"\\x89\\x4f"):
                    return data.hex()
        return "none"
    for k, h in enumerate(sys.argv[2:]):
        print(reply(bytes.fromhex(h), 60 if k == 0 else 3), flush=True)
    """
)


def exchange(ns: str, tmp_path: Path, iface: str, frames: list[bytes]) -> list[bytes | None]:
    (tmp_path / "helper.py").write_text(HELPER)
    got = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, str(tmp_path / "helper.py"), iface, *(f.hex() for f in frames)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert got.returncode == 0, got.stderr
    return [None if line == "none" else bytes.fromhex(line) for line in got.stdout.split()]


def run(ns: str, *argv: str) -> subprocess.Popen:
    return subprocess.Popen(
        ["ip", "netns", "exec", ns, SREM, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def stop(p: subprocess.Popen) -> None:
    p.terminate()
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()


def test_srem_memserver_answers_on_an_interface(netns, tmp_path):
    me = Endpoint("02:00:00:00:00:01", "10.7.0.1", 0x11)
    srv = Endpoint("02:00:00:00:00:02", "10.7.0.2", 0x22)
    p = run(netns, "memserver", "--iface", "m1", "--ip", srv.ip, "--mac", srv.mac,
            "--region", "0x1000:4096:0x77", "--qp", f"0x22:{me.mac}:{me.ip}:0x11:0")  # fmt: skip
    try:
        frames = [
            read_request(me, srv, 0, 0x1000, 0x77, 8),
            write_only(me, srv, 1, 0x1004, 0x77, b"WXYZ"),
            read_request(me, srv, 2, 0x1000, 0x77, 8),
            read_request(me, srv, 3, 0x1000, 0x78, 8),  # bad rkey
        ]
        r0, r1, r2, r3 = (Ether(x) if x else None for x in exchange(netns, tmp_path, "m0", frames))
    finally:
        stop(p)
    assert r0 is not None and r0[BTH].opcode == 0x10 and payload_of(r0) == bytes(8)
    assert r1 is not None and r1[BTH].opcode == 0x11 and r1[AETH].syndrome == AETH_ACK
    assert r2 is not None and payload_of(r2) == bytes(4) + b"WXYZ" and r2[BTH].psn == 2
    assert r3 is not None and r3[AETH].syndrome == NAK_REMOTE_ACCESS


def test_srem_nf_processes_nsh_on_an_interface(netns, tmp_path):
    cfg = {"id": 5, "kind": "nat", "entries": [
        {"match": {"src": "10.0.1.1", "dst": "10.0.2.2", "proto": 6, "sport": 1, "dport": 2},
         "to": {"src": "192.0.2.1", "dst": "10.0.2.2", "proto": 6, "sport": 100, "dport": 2}}]}  # fmt: skip
    (tmp_path / "nat.yaml").write_text(yaml.safe_dump(cfg))
    p = run(netns, "nf", "--kind", "nat", "--iface", "n1", "--config", str(tmp_path / "nat.yaml"),
            "--mac", "02:00:00:00:0f:0f")  # fmt: skip
    pkt = Ether(src="02:00:00:00:00:aa", dst="02:00:00:00:0f:0f") / NSH(mdtype=2, nextproto=1, spi=9, si=200)
    pkt = pkt / IP(src="10.0.1.1", dst="10.0.2.2") / TCP(sport=1, dport=2) / b"data"
    try:
        (out,) = exchange(netns, tmp_path, "n0", [raw(pkt)])
    finally:
        stop(p)
    assert out is not None
    q = Ether(out)
    assert (q.src, q.dst) == ("02:00:00:00:0f:0f", "02:00:00:00:00:aa")
    assert (q[NSH].spi, q[NSH].si) == (9, 199)
    assert (q[IP].src, q[TCP].sport) == ("192.0.2.1", 100)
    want = IP(raw(q[IP]))
    del want.chksum, want[TCP].chksum
    assert raw(IP(raw(want))) == raw(q[IP])


# Inside the namespace: the EMAC writes a table image through its raw-socket transport, then
# reads it back with a READ, as the switch would.
EMAC_HELPER = textwrap.dedent(
    """
    import sys, time
    from emac.api import RawTransport, RdmaClient
    from emac.layout import EmTable, Entry, FlowKey, nat_data, parse_slot, ACT_NAT
    from emac.roce import Endpoint, read_request, parse, payload_of
    me = Endpoint("02:00:00:00:00:01", "10.7.0.1", 0x11)
    srv = Endpoint("02:00:00:00:00:02", "10.7.0.2", 0x22)
    t = RawTransport("m0", me, timeout=0.5)
    for _ in range(40):  # until the server is up
        if t(read_request(me, srv, 0, 0x1000, 0x77, 4)):
            break
    w = RdmaClient(me, srv, t, psn=1)
    table = EmTable(3, 4)
    e = Entry(FlowKey.of("10.0.0.1", "10.0.0.2", 17, 5, 6), ACT_NAT, nat_data("192.0.2.1", "10.0.0.2", 7, 6))
    w.write(0x1000, 0x77, table.image([e]))
    (b, s), = table.slots.values()
    (resp,) = t(read_request(me, srv, w.psn, 0x1000 + b * 160, 0x77, 160))
    print(parse_slot(payload_of(parse(resp))[s * 40 : s * 40 + 40])[2] == e, w.writes)
    """
)


def test_the_emac_writes_a_table_to_srem_memserver_over_an_interface(netns, tmp_path):
    p = run(netns, "memserver", "--iface", "m1", "--ip", "10.7.0.2", "--mac", "02:00:00:00:00:02",
            "--region", "0x1000:4096:0x77", "--qp", "0x22:02:00:00:00:00:01:10.7.0.1:0x11:0")  # fmt: skip
    (tmp_path / "emac_helper.py").write_text(EMAC_HELPER)
    try:
        got = subprocess.run(
            ["ip", "netns", "exec", netns, sys.executable, str(tmp_path / "emac_helper.py")],
            capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
        )  # fmt: skip
    finally:
        stop(p)
    assert got.returncode == 0, got.stderr
    assert got.stdout.split() == ["True", "1"]


def wait_line(p: subprocess.Popen, timeout: float) -> bool:
    import threading

    got = threading.Event()
    threading.Thread(target=lambda: p.stdout.readline() and got.set(), daemon=True).start()
    return got.wait(timeout)


def test_chain_fw_lm_nat_em_lb_server_over_veths_with_srem_processes(netns, tmp_path):
    """One srem switch process (ports on veths, a veth pair as its loopback cable), srem
    memserver and srem nf processes; the controller side (P4Runtime, EMAC) from here."""
    import time

    from emac.api import Emac, MemoryServer, RawTransport, RdmaClient
    from nfs.entries import em_entries, lm_writes, parse_nfs, software_config
    from p4rt.client import SwitchConnection
    from p4rt.entities import TableWrite, Ternary
    from tests.fabric_net import ecmp_route, fabric

    for a, b in (("h1", "p1"), ("h2", "p2"), ("srv", "p3"), ("ms", "p4"), ("lb0", "lb1")):
        sh("ip", "netns", "exec", netns, "ip", "link", "add", a, "type", "veth", "peer", "name", b)
        for dev in (a, b):
            sh("ip", "netns", "exec", netns, "ip", "link", "set", dev, "up")
    sw_mac, h1_mac, h2_mac, srv_mac = (
        "02:00:00:00:aa:01",
        "02:00:00:00:01:01",
        "02:00:00:00:02:02",
        "02:00:00:00:cc:01",
    )
    me = Endpoint(sw_mac, "10.0.100.1", 0x100)
    ms = Endpoint("02:00:00:00:bb:01", "10.0.100.2", 0x200)
    emac_ep = Endpoint("02:00:00:00:ee:01", "10.0.100.3", 0x300)
    nfs = parse_nfs(
        [
            {"id": 1, "kind": "firewall", "rules": [{"priority": 1, "proto": 6, "dport": 80, "action": "permit"}]},
            {"id": 2, "kind": "nat", "entries": [
                {"match": {"src": "10.0.1.1", "dst": "10.0.2.100", "proto": 6, "sport": 1000, "dport": 80},
                 "to": {"src": "198.51.100.1", "sport": 41000}}]},
            {"id": 3, "kind": "lb", "vips": [{"vip": "10.0.2.100", "proto": 6, "port": 80,
                                              "backends": [["10.0.2.2", 8080]]}]},
        ]
    )  # fmt: skip
    (tmp_path / "lb.yaml").write_text(yaml.safe_dump(software_config(nfs[3])))
    sock = f"unix:{tmp_path}/p4rt.sock"
    procs = [
        run(netns, "switch", "--device-id", "0", "--grpc-server-addr", sock, "--log-level", "warning",
            *[x for p in ("1@p1", "2@p2", "3@p3", "4@p4", "9@lb0", "10@lb1") for x in ("-i", p)]),
        run(netns, "memserver", "--iface", "ms", "--ip", ms.ip, "--mac", ms.mac, "--region", "0x40000000:65536:0x77",
            "--qp", f"0x200:{sw_mac}:{me.ip}:0x100:0", "--qp", f"0x201:{emac_ep.mac}:{emac_ep.ip}:0x300:0"),
        run(netns, "nf", "--kind", "lb", "--iface", "srv", "--config", str(tmp_path / "lb.yaml"), "--mac", srv_mac),
    ]  # fmt: skip
    try:
        import grpc

        grpc.channel_ready_future(grpc.insecure_channel(sock)).result(timeout=60)
        for p in procs[1:]:  # memserver and nf print one line once their socket is open
            assert wait_line(p, 60), p.args
        c = SwitchConnection(sock, 0)
        json_bytes, p4info = fabric()
        c.set_pipeline(p4info, json_bytes)
        mac = lambda m: int(m.replace(":", ""), 16)
        ecmp_route(c, 0x0A000202, 32, 1, {1: {"port": 2, "smac": mac(sw_mac), "dmac": mac(h2_mac)}})
        c.insert(
            [
                TableWrite.of(
                    "classifier", {"sm.ingress_port": Ternary(1, 0x1FF)}, "classify", {"spi": 5}, priority=1
                )
            ]
        )
        c.insert(lm_writes(nfs[1]))
        transport = in_netns(netns, lambda: RawTransport("p4", emac_ep, timeout=1.0))
        emac = Emac(c, me, loop_port=9, bound_us=3_000_000, retry_us=1_000_000, loop_in=10)
        emac.start(64)
        for _ in range(30):  # the memory server may still be starting: a READ shows it is up
            try:
                RdmaClient(emac_ep, Endpoint(ms.mac, ms.ip, 0x201), transport).read(0x40000000, 0x77, 4)
                break
            except Exception:
                time.sleep(0.5)
        writer = RdmaClient(emac_ep, Endpoint(ms.mac, ms.ip, 0x201), transport, psn=1)
        emac.attach(0, MemoryServer(ms, 0x77, 0x40000000, 65536, 4, writer))
        emac.place(2, em_entries(nfs[2]), qp=0, buckets=16)
        hop = lambda si, action, params: TableWrite.of(
            "sff", {"hdr.nsh.spi": 5, "hdr.nsh.si": si}, action, params
        )
        c.insert([
            hop(255, "sff_local", {"nfId": 1, "kind": 1, "where": 0}),
            hop(254, "sff_local", {"nfId": 2, "kind": 2, "where": 1}),
            hop(253, "sff_forward", {"port": 3, "smac": mac(sw_mac), "dmac": mac(srv_mac), "where": 2}),
            hop(252, "sff_end", {}),
        ])  # fmt: skip

        h1, h2 = raw_pair(netns, "h1", "h2", timeout=0.5)
        frames = [
            Ether(src=h1_mac, dst=sw_mac)
            / IP(src="10.0.1.1", dst="10.0.2.100", id=k)
            / TCP(sport=1000, dport=80)
            / b"go"
            for k in range(3)
        ]
        got = []
        for f in frames:
            h1.send(raw(f))
            end = time.monotonic() + 8
            while time.monotonic() < end:
                try:
                    data, addr = h2.recvfrom(65535)
                except TimeoutError:
                    continue
                if addr[2] != 4:
                    got.append(data)
                    break
        h1.close(), h2.close(), transport.close()
        st = emac.stats()
    finally:
        for p in procs:
            stop(p)
    want = [
        raw(Ether(src=sw_mac, dst=h2_mac) / IP(src="198.51.100.1", dst="10.0.2.2", id=k, ttl=63)
            / TCP(sport=41000, dport=8080) / b"go")
        for k in range(3)
    ]  # fmt: skip
    assert got == want, (st, [IP(g[14:]).id for g in got])
    assert (st["read"], st["miss"], st["hit"], st["resp_ok"]) == (1, 1, 2, 1)
