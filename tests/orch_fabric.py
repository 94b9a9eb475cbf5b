"""A one-switch fabric for the orchestration tests and the move benchmark: a srem switch
process running fabric.p4 on veths of a network namespace, server slots a, b, c (ports 3-5,
SPIs 5-7) where `srem nf-host --control` instances of the stateful NAT run, a sender h1
(port 1) and a receiver h2 (port 2, 10.0.2.2)."""

import contextlib
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml
from scapy.all import IP, UDP, Ether, raw

from controller.orchestration.move import Instance
from controller.orchestration.steering import ClassifierSteering
from tests.netns import raw_pair, veth_namespace

SREM = str(Path(sys.executable).parent / "srem")
SW, H1, H2 = "02:00:00:00:aa:01", "02:00:00:00:01:01", "02:00:00:00:02:02"
SRV = {"a": "02:00:00:00:cc:0a", "b": "02:00:00:00:cc:0b", "c": "02:00:00:00:cc:0c"}
PORT = {"a": 3, "b": 4, "c": 5}
SPI = {"a": 5, "b": 6, "c": 7}
NAT = {"id": 7, "kind": "snat", "inside": "10.0.1.0/24", "public": "198.51.100.1"}
CT = {"id": 8, "kind": "conntrack", "inside": "10.0.1.0/24"}
FW_SPI = {n: spi + 10 for n, spi in {"a": 5, "b": 6, "c": 7}.items()}  # the firewall chain's paths
FW_PORT = 9100  # h1 -> h2:9100 and its replies take the firewall chain
LM_SPI = 8  # a path through the NAT in the switch's LM (fabric.p4's nat table, NF id 7)
POOL = {"a": [40000, 40999], "b": [41000, 41999], "c": [42000, 42999]}
RATE = 600  # packets/s on the moved flow


def mac(m: str) -> int:
    return int(m.replace(":", ""), 16)


def nf_host(ns: str, tmp: Path, name: str) -> subprocess.Popen:
    cfg = tmp / f"{name}.yaml"
    cfg.write_text(yaml.safe_dump({"nfs": [{**NAT, "ports": POOL[name]}, CT],
                                   "hops": [[SPI[name], 255, 7], [FW_SPI[name], 255, 8]]}))  # fmt: skip
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


@contextlib.contextmanager
def one_switch(tmp: Path, hosts: tuple[str, ...] = ("a", "b")):
    """(ns, tmp, switch connection, instances by slot, steering); `hosts` are started."""
    import grpc

    from p4rt.client import SwitchConnection
    from p4rt.entities import Range, TableWrite, Ternary
    from tests.fabric_net import ecmp_route, fabric

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
            ecmp_route(c, 0x0A000101, 32, 2, {2: {"port": 1, "smac": mac(SW), "dmac": mac(H1)}})
            fw = {"meta.dport": Range(FW_PORT, FW_PORT)}, {"meta.sport": Range(FW_PORT, FW_PORT)}
            c.insert(
                [
                    TableWrite.of(
                        "classifier",
                        {"sm.ingress_port": Ternary(port, 0x1FF), **m},
                        "classify",
                        {"spi": FW_SPI["a"]},
                        priority=2,
                    )
                    for port, m in ((1, fw[0]), (2, fw[1]))
                ]
            )
            hops = []
            for name, spi in [*SPI.items(), *FW_SPI.items()]:
                m = {"hdr.nsh.spi": spi}
                params = {"port": PORT[name], "smac": mac(SW), "dmac": mac(SRV[name]), "where": 2}
                hops.append(TableWrite.of("sff", {**m, "hdr.nsh.si": 255}, "sff_forward", params))
                hops.append(TableWrite.of("sff", {**m, "hdr.nsh.si": 254}, "sff_end", {}))
            hops.append(TableWrite.of("sff", {"hdr.nsh.spi": LM_SPI, "hdr.nsh.si": 255}, "sff_local",
                                      {"nfId": 7, "kind": 2, "where": 0}))  # fmt: skip
            hops.append(TableWrite.of("sff", {"hdr.nsh.spi": LM_SPI, "hdr.nsh.si": 254}, "sff_end", {}))
            c.insert(hops)
            procs += [nf_host(ns, tmp, n) for n in hosts]
            inst = {n: Instance(n, str(tmp / f"{n}.sock"), 7, SPI[n]) for n in SPI}
            yield ns, tmp, c, inst, ClassifierSteering(c)
            c.close()
        finally:
            for p in procs:
                stop(p)


class Traffic:
    """UDP flows h1:sport -> 10.0.2.2:9000 taking turns, `rate` packets/s in all (it may be
    changed while running), each packet carrying its flow's index and a sequence number
    over all flows; the receiver keeps (source, source port, sequence, flow index) of every
    packet, in arrival order."""

    def __init__(self, ns: str, sport: int | list[int], rate: float = RATE, dport: int = 9000,
                 reverse: bool = False) -> None:  # fmt: skip
        """reverse: h2 (10.0.2.2:dport) sends to h1 (10.0.1.1:sport), received at h1."""
        self.sports = [sport] if isinstance(sport, int) else list(sport)
        self.dport, self.reverse = dport, reverse
        self.rate, self.stop, self.sent, self.got = rate, threading.Event(), 0, []

        self.tx, self.rx = raw_pair(ns, "h2" if reverse else "h1", "h1" if reverse else "h2")
        self.threads = [threading.Thread(target=self._send), threading.Thread(target=self._recv)]

    def _send(self) -> None:
        if self.reverse:
            bases = [raw(Ether(src=H2, dst=SW) / IP(src="10.0.2.2", dst="10.0.1.1") / UDP(sport=self.dport, dport=p))
                     for p in self.sports]  # fmt: skip
        else:
            bases = [raw(Ether(src=H1, dst=SW) / IP(src="10.0.1.1", dst="10.0.2.2") / UDP(sport=p, dport=self.dport))
                     for p in self.sports]  # fmt: skip
        t, k = time.monotonic(), 0
        while not self.stop.is_set():
            i = k % len(bases)
            self.tx.send(bases[i] + struct.pack("!II", i, k))
            k += 1
            self.sent = k
            t += 1 / self.rate
            time.sleep(max(0.0, t - time.monotonic()))

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
            if UDP in ip and (ip[UDP].sport if self.reverse else ip[UDP].dport) == self.dport:
                i, k = struct.unpack("!II", bytes(ip[UDP].payload)[-8:])
                self.got.append((ip.src, ip[UDP].sport, k, i))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()
        self.tx.close(), self.rx.close()
