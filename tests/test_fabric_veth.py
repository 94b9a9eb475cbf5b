"""`srem memserver` and `srem nf` as processes on veth interfaces of a network namespace
this test creates, answering frames built with scapy."""

import os
import shutil
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

SREM = str(Path(sys.executable).parent / "srem")


def sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


@pytest.fixture
def netns():
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 to create a network namespace")
    ns = f"srem-fab-{os.getpid()}"
    try:
        sh("ip", "netns", "add", ns)
    except subprocess.CalledProcessError as e:
        pytest.skip(f"cannot create a network namespace here: {e.stderr.decode().strip()}")
    try:
        sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
        for a, b in (("m0", "m1"), ("n0", "n1")):
            sh("ip", "netns", "exec", ns, "ip", "link", "add", a, "type", "veth", "peer", "name", b)
            for dev in (a, b):
                sh("ip", "netns", "exec", ns, "ip", "link", "set", dev, "up")
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


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
