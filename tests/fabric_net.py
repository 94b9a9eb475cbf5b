"""A small fabric in one process for the tests and the benchmark: srem switches running
p4src/fabric.p4 behind their P4Runtime servers, in-process ports joined by wires, a
loopback port per switch, memory servers and software NFs attached to ports.

Topology (ports): H1 -1- S1 -2===2- S2 -1- H2 (10.0.2.2), S2 -5- H3 (10.0.2.3)
                  MS (memory server) -4- S1;  SRV (software NFs) -3- S2;  loop ports 9.
"""

from __future__ import annotations

import functools
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from emac.api import Emac, MemoryServer, RdmaClient
from emac.memserver import Responder
from emac.roce import Endpoint
from p4rt.client import SwitchConnection
from p4rt.entities import TableWrite
from p4target.compiler.driver import compile_p4
from p4target.runtime.server import serve
from p4target.switch.ports import Port, QueuePort
from p4target.switch.runner import Runner

FABRIC = Path(__file__).resolve().parent.parent / "p4src" / "fabric.p4"
LOOP = 9
MAC = {
    "H1": "02:00:00:00:01:01", "H2": "02:00:00:00:02:02", "H3": "02:00:00:00:02:03",
    "S1": "02:00:00:00:aa:01", "S2": "02:00:00:00:aa:02", "MS": "02:00:00:00:bb:01", "SRV": "02:00:00:00:cc:01",
}  # fmt: skip
S1_RDMA = Endpoint(MAC["S1"], "10.0.100.1", 0x100)
MS = Endpoint(MAC["MS"], "10.0.100.2", 0x200)
EMAC_EP = Endpoint("02:00:00:00:ee:01", "10.0.100.3", 0x300)
MS_BASE, MS_RKEY = 0x4000_0000, 0x1234


@functools.cache
def fabric():
    """The compiled fabric (BMv2 JSON bytes, P4Info)."""
    import json

    c = compile_p4(FABRIC)
    return json.dumps(c.json).encode(), c.p4info


class LoopPort(Port):
    """A port cabled to itself (a recirculation port): what leaves comes back in."""

    def __init__(self, number: int) -> None:
        super().__init__(number, f"loop{number}")
        self.q: queue.Queue[bytes] = queue.Queue()

    def _recv(self, timeout: float) -> bytes | None:
        try:
            return self.q.get(timeout=timeout)
        except queue.Empty:
            return None

    def _send(self, data: bytes) -> None:
        self.q.put(data)


@dataclass
class Sw:
    name: str
    runner: Runner
    ports: dict[int, QueuePort]
    server: object
    client: SwitchConnection


@dataclass
class Net:
    switches: dict[str, Sw] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    hosts: dict[str, queue.Queue] = field(default_factory=dict)
    handlers: dict[str, Callable[[bytes], list[bytes]] | None] = field(default_factory=dict)

    def add_switch(self, name: str, device_id: int, ports: list[int]) -> Sw:
        json_bytes, p4info = fabric()  # first: a P4 error leaves no server running
        r = Runner(device_id)
        qp = {n: QueuePort(n) for n in ports}
        for p in qp.values():
            r.add_port(p)
        r.add_port(LoopPort(LOOP))
        server, _service, port = serve(r, "127.0.0.1:0")
        r.start()
        c = SwitchConnection(f"127.0.0.1:{port}", device_id)
        c.set_pipeline(p4info, json_bytes)
        sw = Sw(name, r, qp, server, c)
        self.switches[name] = sw
        return sw

    def _pump(self, src: QueuePort, deliver: Callable[[bytes], None]) -> None:
        def run() -> None:
            while not self.stop.is_set():
                try:
                    data = src.tx.get(timeout=0.05)
                except queue.Empty:
                    continue
                deliver(data)

        t = threading.Thread(target=run, daemon=True)
        t.start()
        self.threads.append(t)

    def link(self, a: QueuePort, b: QueuePort) -> None:
        self._pump(a, b.rx.put)
        self._pump(b, a.rx.put)

    def host(self, name: str, port: QueuePort) -> None:
        """A host that records what it receives."""
        self.hosts[name] = q = queue.Queue()
        self._pump(port, q.put)

    def attach(self, name: str, port: QueuePort, handler: Callable[[bytes], list[bytes]]) -> None:
        """A server whose `handler` answers each frame (None: it stopped answering)."""
        self.handlers[name] = handler

        def deliver(data: bytes) -> None:
            h = self.handlers.get(name)
            for out in h(data) if h else []:
                port.rx.put(out)

        self._pump(port, deliver)

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=1)
        for sw in self.switches.values():
            sw.client.close()
            sw.server.stop(grace=0)
            sw.runner.stop()


def received(q: queue.Queue, n: int, timeout: float = 5.0) -> list[bytes]:
    """Exactly the next n frames (fewer if they do not come in time)."""
    out = []
    for _ in range(n):
        try:
            out.append(q.get(timeout=timeout))
        except queue.Empty:
            break
    return out


def ecmp_route(c: SwitchConnection, prefix: int, plen: int, group: int, members: dict[int, dict]) -> None:
    """An LPM route whose next hops are an action-selector group: member id -> `route` params."""
    from p4.v1 import p4runtime_pb2 as R

    from p4rt.entities import update

    index = c.index()
    pid = index.profiles["ecmp_selector"].preamble.id
    ups = []
    g = R.ActionProfileGroup(action_profile_id=pid, group_id=group, max_size=len(members))
    for mid, params in members.items():
        m = R.ActionProfileMember(action_profile_id=pid, member_id=mid)
        m.action.CopyFrom(index.action_call("route", params))
        ups.append(update("INSERT", R.Entity(action_profile_member=m)))
        g.members.add(member_id=mid, weight=1)
    ups.append(update("INSERT", R.Entity(action_profile_group=g)))
    ups.append(update("INSERT", index.table_entry("ipv4_lpm", {"hdr.ipv4.dst": (prefix, plen)}, group=group)))
    c.write(ups)


def route(sw: Sw, prefix: str, plen: int, port: int, dmac: str, group: int) -> None:
    """An underlay route: an ECMP group of one member (the action selector's shape)."""
    import ipaddress

    params = {"port": port, "smac": _mac(MAC[sw.name]), "dmac": _mac(dmac)}
    ecmp_route(sw.client, int(ipaddress.IPv4Address(prefix)), plen, group, {group: params})


def _mac(m: str) -> int:
    return int(m.replace(":", ""), 16)


def two_switches(cache_size: int = 1024, bound_us: int = 200_000, retry_us: int = 50_000):
    """The topology above with routes to H2/H3, a memory server on S1 and its EMAC.

    Returns (net, emac, responder)."""
    net = Net()
    try:  # a setup that fails (a P4 error) stops what it started: its servers would keep pytest alive
        return _two_switches(net, cache_size, bound_us, retry_us)
    except BaseException:
        net.close()
        raise


def _two_switches(net: Net, cache_size: int, bound_us: int, retry_us: int):
    s1 = net.add_switch("S1", 1, [1, 2, 4])
    s2 = net.add_switch("S2", 2, [1, 2, 3, 5])
    net.link(s1.ports[2], s2.ports[2])
    net.host("H2", s2.ports[1])
    net.host("H3", s2.ports[5])
    net.host("H1", s1.ports[1])
    route(s1, "10.0.2.0", 24, 2, MAC["S2"], 1)
    route(s2, "10.0.2.2", 32, 1, MAC["H2"], 1)
    route(s2, "10.0.2.3", 32, 5, MAC["H3"], 2)
    route(s2, "10.0.1.0", 24, 2, MAC["S1"], 3)
    route(s1, "10.0.1.0", 24, 1, MAC["H1"], 2)
    ms = Responder(MS)
    ms.register(MS_BASE, 1 << 20, MS_RKEY)
    ms.connect(MS.qpn, S1_RDMA, initial_psn=0)
    ms.connect(0x201, EMAC_EP, initial_psn=0)
    net.attach("MS", s1.ports[4], ms.handle)
    emac = Emac(s1.client, S1_RDMA, LOOP, bound_us=bound_us, retry_us=retry_us)
    emac.start(cache_size)
    writer = RdmaClient(EMAC_EP, Endpoint(MS.mac, MS.ip, 0x201), ms.handle)
    emac.attach(0, MemoryServer(MS, MS_RKEY, MS_BASE, 1 << 20, 4, writer))
    return net, emac, ms


def chain_path(
    net: Net, spi: int, hops: list[tuple[int, str, str]], nfs_at_srv: Callable | None = None
) -> None:
    """SFF entries for a chain entering at S1 and leaving at S2 toward H2/H3.

    hops: (nf id, kind, host) with host one of S1:LM, S1:EM, S2:LM, SRV."""
    kinds = {"firewall": 1, "nat": 2, "lb": 3, "ratelimit": 4}
    s1, s2 = net.switches["S1"], net.switches["S2"]
    where = "S1"
    si = 255
    entries: dict[str, list[TableWrite]] = {"S1": [], "S2": []}

    def fwd(at: str, to: str) -> None:
        entries[at].append(
            TableWrite.of("sff", {"hdr.nsh.spi": spi, "hdr.nsh.si": si}, "sff_forward",
                          {"port": 2, "smac": _mac(MAC[at]), "dmac": _mac(MAC[to]), "where": 3})
        )  # fmt: skip

    for nf, kind, host in hops:
        target = "S2" if host == "SRV" else host.split(":")[0]
        if target != where:
            fwd(where, target)
            where = target
        if host == "SRV":
            entries["S2"].append(
                TableWrite.of("sff", {"hdr.nsh.spi": spi, "hdr.nsh.si": si}, "sff_forward",
                              {"port": 3, "smac": _mac(MAC["S2"]), "dmac": _mac(MAC["SRV"]), "where": 2})
            )  # fmt: skip
        else:
            em = host.endswith(":EM")
            entries[where].append(
                TableWrite.of("sff", {"hdr.nsh.spi": spi, "hdr.nsh.si": si}, "sff_local",
                              {"nfId": nf, "kind": kinds[kind], "where": int(em)})
            )  # fmt: skip
        si -= 1
    if where != "S2":
        fwd(where, "S2")
    entries["S2"].append(TableWrite.of("sff", {"hdr.nsh.spi": spi, "hdr.nsh.si": si}, "sff_end"))
    s1.client.insert(entries["S1"])
    s2.client.insert(entries["S2"])
