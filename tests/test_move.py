"""move() with real packets: a srem switch process running fabric.p4 on veths of a network
namespace this module creates, two (three) `srem nf-host --control` processes each running
an instance of the stateful NAT, a sender at ~600 packets/s on one UDP flow and a receiver
that records what arrives. The flow's NAT mapping is made at instance A by its first
packet, then the flow is moved to B under traffic."""

import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from scapy.all import IP, UDP, Ether, raw

from controller.orchestration.move import Instance, move
from controller.orchestration.steering import ClassifierSteering
from tests.netns import in_netns, veth_namespace

SREM = str(Path(sys.executable).parent / "srem")
SW, H1, H2 = "02:00:00:00:aa:01", "02:00:00:00:01:01", "02:00:00:00:02:02"
SRV = {"a": "02:00:00:00:cc:0a", "b": "02:00:00:00:cc:0b", "c": "02:00:00:00:cc:0c"}
PORT = {"a": 3, "b": 4, "c": 5}
SPI = {"a": 5, "b": 6, "c": 7}
NAT = {"id": 7, "kind": "snat", "inside": "10.0.1.0/24", "public": "198.51.100.1"}
POOL = {"a": [40000, 40999], "b": [41000, 41999], "c": [42000, 42999]}
RATE = 600  # packets/s on the moved flow


def mac(m: str) -> int:
    return int(m.replace(":", ""), 16)


def nf_host(ns: str, tmp: Path, name: str) -> subprocess.Popen:
    cfg = tmp / f"{name}.yaml"
    cfg.write_text(yaml.safe_dump({"nfs": [{**NAT, "ports": POOL[name]}], "hops": [[SPI[name], 255, 7]]}))
    p = subprocess.Popen(
        ["ip", "netns", "exec", ns, SREM, "nf-host", "--iface", f"srv{name}", "--config", str(cfg),
         "--mac", SRV[name], "--control", str(tmp / f"{name}.sock")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert p.stdout.readline().startswith("loaded"), p.stderr.read()
    return p


def stop(p: subprocess.Popen) -> None:
    p.terminate()
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()


@pytest.fixture(scope="module")
def fabric(tmp_path_factory):
    import grpc

    from p4rt.client import SwitchConnection
    from p4rt.entities import TableWrite, Ternary
    from tests.fabric_net import ecmp_route, fabric

    tmp = tmp_path_factory.mktemp("move")
    pairs = [("h1", "p1"), ("h2", "p2"), ("srva", "p3"), ("srvb", "p4"), ("srvc", "p5")]
    with veth_namespace("srem-move", pairs) as ns:
        sock = f"unix:{tmp}/p4rt.sock"
        procs = [
            subprocess.Popen(
                ["ip", "netns", "exec", ns, SREM, "switch", "--device-id", "0", "--grpc-server-addr", sock,
                 "--log-level", "warning", *[x for k in range(1, 6) for x in ("-i", f"{k}@p{k}")]],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )
        ]  # fmt: skip
        try:
            grpc.channel_ready_future(grpc.insecure_channel(sock)).result(timeout=60)
            c = SwitchConnection(sock, 0)
            json_bytes, p4info = fabric()
            c.set_pipeline(p4info, json_bytes)
            ecmp_route(c, 0x0A000202, 32, 1, {1: {"port": 2, "smac": mac(SW), "dmac": mac(H2)}})
            c.insert([TableWrite.of("classifier", {"sm.ingress_port": Ternary(1, 0x1FF)}, "classify",
                                    {"spi": SPI["a"]}, priority=1)])  # fmt: skip
            hops = []
            for name in SPI:
                m = {"hdr.nsh.spi": SPI[name]}
                params = {"port": PORT[name], "smac": mac(SW), "dmac": mac(SRV[name]), "where": 2}
                hops.append(TableWrite.of("sff", {**m, "hdr.nsh.si": 255}, "sff_forward", params))
                hops.append(TableWrite.of("sff", {**m, "hdr.nsh.si": 254}, "sff_end", {}))
            c.insert(hops)
            procs += [nf_host(ns, tmp, "a"), nf_host(ns, tmp, "b")]
            inst = {n: Instance(n, str(tmp / f"{n}.sock"), 7, SPI[n]) for n in SPI}
            yield ns, tmp, c, inst, ClassifierSteering(c)
            c.close()
        finally:
            for p in procs:
                stop(p)


class Traffic:
    """One UDP flow h1 -> 10.0.2.2 at RATE packets/s, each carrying its sequence number;
    the receiver keeps (source, source port, sequence) of every packet, in arrival order."""

    def __init__(self, ns: str, sport: int) -> None:
        self.sport, self.stop, self.sent, self.got = sport, threading.Event(), 0, []

        def socks():
            a = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
            a.bind(("h1", 0))
            b = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
            b.bind(("h2", 0))
            b.settimeout(0.2)
            return a, b

        self.tx, self.rx = in_netns(ns, socks)
        self.threads = [threading.Thread(target=self._send), threading.Thread(target=self._recv)]

    def _send(self) -> None:
        base = raw(
            Ether(src=H1, dst=SW) / IP(src="10.0.1.1", dst="10.0.2.2") / UDP(sport=self.sport, dport=9000)
        )
        t, k = time.monotonic(), 0
        while not self.stop.is_set():
            self.tx.send(base + struct.pack("!I", k))
            k += 1
            t += 1 / RATE
            time.sleep(max(0.0, t - time.monotonic()))
        self.sent = k

    def _recv(self) -> None:
        end = None
        while end is None or time.monotonic() < end:
            if end is None and self.stop.is_set():
                end = time.monotonic() + 1.0  # what is still in flight
            try:
                data, addr = self.rx.recvfrom(65535)
            except TimeoutError:
                continue
            if addr[2] == 4 or data[12:14] != b"\x08\x00":
                continue
            ip = IP(data[14:])
            if UDP in ip and ip[UDP].dport == 9000:
                self.got.append((ip.src, ip[UDP].sport, struct.unpack("!I", bytes(ip[UDP].payload)[-4:])[0]))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()
        self.tx.close(), self.rx.close()


def run_move(fabric, sport: int, guarantee: str, dst: str = "b", hook=None):
    ns, _tmp, _c, inst, steering = fabric
    flt = {"src": "10.0.1.1", "proto": 17, "sport": sport}
    with Traffic(ns, sport) as tr:
        time.sleep(1.0)  # the flow's mapping is made at A, packets flow
        before = list(tr.got)
        res = move(flt, inst["a"], inst[dst], guarantee, steering, hook=hook)
        time.sleep(1.0)
    return tr, before, res


@pytest.mark.parametrize("guarantee", ["order-preserving", "loss-free"])
def test_a_nat_flow_moved_under_traffic_loses_nothing_and_keeps_its_mapping(fabric, guarantee):
    sport = 2000 if guarantee == "loss-free" else 2001
    tr, before, res = run_move(fabric, sport, guarantee)
    assert before, "no packet made it through A before the move"
    seqs = [g[2] for g in tr.got]
    src_ports = {g[1] for g in tr.got}
    assert res.ok and res.flows == 1, res
    assert tr.sent >= 1000 and sorted(seqs) == list(range(tr.sent)), (tr.sent, len(seqs), res)
    assert len(src_ports) == 1 and {g[0] for g in tr.got} == {"198.51.100.1"}, (src_ports, res)
    if guarantee == "order-preserving":
        assert seqs == sorted(seqs), res
    assert res.held_src + res.held_dst > 0 or res.late == 0, res
    print(guarantee, res.to_dict())


def test_a_move_without_guarantee_shows_what_it_costs(fabric):
    tr, _before, res = run_move(fabric, 2002, "none")
    seqs = [g[2] for g in tr.got]
    lost = tr.sent - len(set(seqs))
    remapped = sum(1 for g in tr.got if g[1] != tr.got[0][1])
    print("none", res.to_dict(), "lost", lost, "remapped", remapped)
    assert res.ok and res.flows == 1, res
    assert lost + remapped > 0, (
        "a move without guarantee cost nothing here: the test would not see a regression"
    )


def test_a_destination_that_dies_mid_move_rolls_back_and_the_source_keeps_serving(fabric):
    ns, tmp, _c, _inst, _steering = fabric
    victim = nf_host(ns, tmp, "c")
    hook = lambda step: step == "put" and (victim.kill(), victim.wait())
    tr, _before, res = run_move(fabric, 2003, "order-preserving", dst="c", hook=hook)
    seqs = [g[2] for g in tr.got]
    assert res.rolled_back and not res.ok and res.error, res
    assert tr.sent >= 1000 and sorted(seqs) == list(range(tr.sent)), (tr.sent, len(seqs), res)
    assert {g[1] for g in tr.got} == {tr.got[0][1]} and 40000 <= tr.got[0][1] <= 40999  # still A's mapping
