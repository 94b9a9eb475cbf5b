"""The fabric on Mininet: one P4 switch process per switch on veth links, servers as hosts.

Mininet's Python API (Debian's `mininet` package) builds the namespaces and links;
the switches are srem's reference switch (`srem switch`) or, when installed and
asked for, BMv2's `simple_switch_grpc`, each in the root namespace with its gRPC
server on 127.0.0.1 so that the controller, outside, reaches every one. Mininet
names stay short (`k2as3`, `k2ah7`: a tag that sets this emulation apart, then the
switch's device id or the server's index; Linux limits interface names to 15
characters); the plan maps them to the topology's names.

With `em=True` every switch also gets its external memory: a memory-server host
(`k2am3`) cabled to the switch's MEM_PORT, with a second link whose other end stays in
the root namespace for the EMAC (`k2ae3`), and a veth pair from LOOP_OUT to LOOP_IN as
the switch's loopback. The memory server processes are started on demand
(`start_memserver`) by whoever runs the EMAC.

`Emulation` is a context manager: leaving it, by return, error or Ctrl-C, stops
every switch process and every process it started in a host, and removes every
namespace and link it made.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from controller.fabric import targets
from controller.fabric.hosts import SREM, kill_in_namespaces, start_memserver
from p4target.switch.ports import wire_sized
from topologies.addressing import CPU_PORT, LOOP_IN, LOOP_OUT, MEM_PORT, FabricPlan, em_addresses
from topologies.errors import InputError

REPO = Path(__file__).resolve().parent.parent  # the checkout: child processes import srem from it
TARGETS = targets.TARGETS
LOOP_PPS = 1000  # passes/s the loopback carries


def missing() -> str | None:
    """Why the emulation cannot run here (None when it can)."""
    if os.geteuid() != 0:
        return "the emulation needs root (Mininet creates network namespaces and veth links)"
    for tool, package in (("mnexec", "mininet"), ("ethtool", "ethtool")):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian: apt-get install --no-install-recommends {package})"
    try:
        import mininet.net  # noqa: F401
    except ImportError:
        return "Mininet's Python API is not importable (run `make setup`, which links it into .venv)"
    return None


def free_ports(n: int) -> list[int]:
    """n TCP ports on 127.0.0.1 that are free now (the kernel picks them)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


_instances = itertools.count()


def _tag() -> str:
    """Three base-36 characters that set this emulation's node names apart from any
    other running on the machine (interface names are global in the root namespace)."""
    n = (os.getpid() * 64 + next(_instances)) % 36**3
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    return "".join(digits[(n // 36**i) % 36] for i in (2, 1, 0))


def _wait_listening(port: int, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"switch process exited with {proc.returncode}: {tail.strip()}")
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"switch did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


def _switch_class():
    """Mininet's Switch, subclassed for a P4 switch process (built lazily: Mininet is optional)."""
    from mininet.node import Switch

    class P4Switch(Switch):
        """A P4 switch process whose ports are this node's interfaces."""

        def __init__(
            self, name: str, *, grpc_port: int, thrift_port: int, device_id: int, target: str, log_dir: Path,
            trace: bool = False, **kw,
        ):  # fmt: skip
            kw["inNamespace"] = False  # gRPC on the root namespace's loopback
            super().__init__(name, dpid=f"{device_id + 1:x}", **kw)
            self.grpc_port, self.thrift_port, self.device_id = grpc_port, thrift_port, device_id
            self.target, self.trace = target, trace
            self.log_path = log_dir / f"{name}.log"
            self.proc: subprocess.Popen | None = None

        def spec(self) -> targets.SwitchSpec:
            ifaces = [(port, intf.name) for port, intf in sorted(self.intfs.items()) if intf.name != "lo"]
            # Packets waiting for a READ circle the loopback: pace it, so that waiting costs
            # the switch a bounded share of its time whatever the backlog.
            queues = {LOOP_OUT: (LOOP_PPS, 512)} if LOOP_OUT in self.intfs else {}
            return targets.SwitchSpec(
                self.device_id,
                self.grpc_port,
                self.thrift_port,
                ifaces,
                CPU_PORT,
                self.log_path,
                queues,
                self.trace,
            )

        def argv(self) -> list[str]:
            return targets.argv(self.target, self.spec(), SREM)

        def start(self, controllers) -> None:
            for intf in self.intfList():
                if intf.name != "lo":
                    # The kernel must not talk on a switch port (IPv6 router solicitations).
                    self.cmd(f"sysctl -qw net.ipv6.conf.{intf.name}.disable_ipv6=1")
                    # BMv2's libpcap ring holds 32 frames on a port with offloads on (issue 23)
                    wire_sized(intf.name)
            env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
            with open(self.log_path, "wb") as log:
                self.proc = subprocess.Popen(
                    self.argv(), stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
                )

        def wait_ready(self, timeout: float) -> None:
            assert self.proc is not None
            _wait_listening(self.grpc_port, self.proc, self.log_path, timeout)
            targets.configure(self.target, self.spec())

        def restart(self, timeout: float) -> None:
            """Kill the switch process and start a fresh one on the same ports (empty state)."""
            self.kill()
            self.start([])
            self.wait_ready(timeout)

        def kill(self) -> None:
            if self.proc is not None and self.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(timeout=5)

        def stop(self, deleteIntfs: bool = True) -> None:
            self.kill()
            super().stop(deleteIntfs)

    return P4Switch


@dataclass
class Emulation:
    """The fabric of a `FabricPlan` on Mininet; `with Emulation(plan) as emu: ...`."""

    plan: FabricPlan
    target: str = "srem"
    trace: bool = False  # BMv2: --log-console --log-level debug and --pcap, into log_dir
    log_dir: Path = field(default_factory=lambda: Path("results/emulation"))
    start_timeout: float = 60.0
    net: object = None
    grpc: dict[str, str] = field(default_factory=dict)  # switch name -> 127.0.0.1:port
    hosts: dict[str, object] = field(default_factory=dict)  # server name -> Mininet host
    switches: dict[str, object] = field(default_factory=dict)
    em: bool = False
    mem_hosts: dict[str, object] = field(default_factory=dict)  # switch name -> its memory server
    emac_intf: dict[str, str] = field(default_factory=dict)  # switch name -> the EMAC's interface
    procs: list[subprocess.Popen] = field(default_factory=list)  # started in hosts
    tag: str = ""

    def __enter__(self) -> Emulation:
        why = missing()
        if why:
            raise InputError("emulation", "machine", why)
        targets.check(self.target, "srem")
        self._old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        # Ctrl-C or a kill still runs __exit__: turn both into an exception.
        for s in self._old:
            signal.signal(s, _raise_interrupt)
        try:
            self._build()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _build(self) -> None:
        from mininet.log import setLogLevel
        from mininet.net import Mininet

        setLogLevel("warning")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        P4Switch = _switch_class()
        net = Mininet(topo=None, controller=None, build=False, autoSetMacs=False)
        self.net = net
        n = len(self.plan.switches)
        ports = free_ports(2 * n)  # gRPC and (BMv2) Thrift, one of each per switch
        self.tag = tag = _tag()
        for (name, sw), port, thrift in zip(
            sorted(self.plan.switches.items()), ports[:n], ports[n:], strict=True
        ):
            node = net.addSwitch(
                f"{tag}s{sw.device_id}",
                cls=P4Switch,
                grpc_port=port,
                thrift_port=thrift,
                trace=self.trace,
                device_id=sw.device_id,
                target=self.target,
                log_dir=self.log_dir,
            )
            self.switches[name] = node
            self.grpc[name] = f"127.0.0.1:{port}"
        for i, (name, srv) in enumerate(sorted(self.plan.servers.items())):
            self.hosts[name] = net.addHost(f"{tag}h{i}", ip=f"{srv.ip}/32", mac=srv.mac)
        if self.em:
            for name, sw in sorted(self.plan.switches.items()):
                em = em_addresses(self.plan, name)
                # No IP on the memory server's interfaces: its kernel must not answer RoCEv2
                # frames (ICMP port unreachable); the memory server process does.
                self.mem_hosts[name] = host = net.addHost(f"{tag}m{sw.device_id}", ip=None, mac=em.server_mac)
                net.addLink(self.switches[name], host, port1=MEM_PORT, port2=0)
                net.addLink(self.switches[name], self.switches[name], port1=LOOP_OUT, port2=LOOP_IN)
        done: set[frozenset[str]] = set()
        for name, sw in sorted(self.plan.switches.items()):
            for other, port in sorted(sw.ports.items()):
                key = frozenset((name, other))
                if key in done:
                    continue
                done.add(key)
                if other in self.plan.switches:
                    net.addLink(
                        self.switches[name],
                        self.switches[other],
                        port1=port,
                        port2=self.plan.switches[other].ports[name],
                    )
                else:
                    net.addLink(self.switches[name], self.hosts[other], port1=port, port2=0)
        net.build()
        for name, host in self.mem_hosts.items():
            self._emac_link(name, host)
        for sw in self.switches.values():
            sw.start([])
        for sw in self.switches.values():
            sw.wait_ready(self.start_timeout)
        for name, host in self.hosts.items():
            srv = self.plan.servers[name]
            gw = self.plan.switches[srv.edge]
            intf = host.defaultIntf().name
            # Servers send everything to their edge switch: no ARP across the fabric.
            host.cmd("sysctl -qw net.ipv6.conf.all.disable_ipv6=1")
            # veth leaves L4 checksums to the "NIC"; a switch that re-sends the frame
            # through a raw socket would deliver them unfinished.
            host.cmd(f"ethtool -K {intf} tx off")
            host.cmd(f"ip route replace 10.0.0.0/8 via 10.255.255.254 dev {intf} onlink")
            host.cmd(f"ip neigh replace 10.255.255.254 lladdr {gw.mac} dev {intf} nud permanent")

    def _emac_link(self, switch: str, host) -> None:
        """A veth from the root namespace (the EMAC's side) to the memory server's host."""
        d = self.plan.switches[switch].device_id
        here, there = f"{host.name[: -len(str(d)) - 1]}e{d}", f"{host.name}-mgmt"
        subprocess.run(["ip", "link", "add", here, "type", "veth", "peer", "name", there], check=True)
        self.emac_intf[switch] = here
        subprocess.run(["ip", "link", "set", there, "netns", str(host.pid)], check=True)
        subprocess.run(["sysctl", "-qw", f"net.ipv6.conf.{here}.disable_ipv6=1"], check=True)
        subprocess.run(["ip", "link", "set", here, "up"], check=True)
        host.cmd("sysctl -qw net.ipv6.conf.all.disable_ipv6=1")
        host.cmd(f"ip link set {there} up")

    def mem_intfs(self, switch: str) -> list[str]:
        """The memory server host's interfaces: toward the switch, toward the EMAC."""
        host = self.mem_hosts[switch]
        return [host.defaultIntf().name, f"{host.name}-mgmt"]

    def start_memserver(self, switch: str, *args: str, log: Path, timeout: float = 60.0) -> subprocess.Popen:
        """`srem memserver` on a switch's memory-server host, once it answers frames."""
        return self._track(
            start_memserver(self.mem_hosts[switch].pid, self.mem_intfs(switch), args, log, timeout)
        )

    def _popen(self, host, argv: list[str], **kw) -> subprocess.Popen:
        return self._track(subprocess.Popen(["mnexec", "-a", str(host.pid), *argv], **kw))

    def _track(self, p: subprocess.Popen) -> subprocess.Popen:
        """Remember a process started in a host (killed on exit); forget the finished ones."""
        self.procs = [q for q in self.procs if q.poll() is None] + [p]
        return p

    def __exit__(self, *exc) -> None:
        net, self.net = self.net, None
        try:
            for p in self.procs:  # whatever still runs in a host must not outlive it
                if p.poll() is None:
                    p.kill()
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        p.wait(timeout=5)
            if net is not None:
                # Processes other commands started in the hosts (srem control's memory
                # servers, srem replay's traffic) would keep the namespaces alive.
                kill_in_namespaces([h.pid for h in (*self.hosts.values(), *self.mem_hosts.values())])
                net.stop()
            for intf in self.emac_intf.values():
                subprocess.run(["ip", "link", "del", intf], capture_output=True)
        finally:
            for s, h in getattr(self, "_old", {}).items():
                signal.signal(s, h)

    def restart_switch(self, switch: str) -> None:
        """Kill a switch's process and start it again: it comes back with no pipeline."""
        self.switches[switch].restart(self.start_timeout)

    def host_cmd(self, server: str, *argv: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
        """Run a command inside a server's namespace and wait for it."""
        host = self.hosts[server]
        return subprocess.run(
            ["mnexec", "-a", str(host.pid), *argv], capture_output=True, text=True, timeout=timeout
        )

    def host_popen(self, server: str, *argv: str, **kw) -> subprocess.Popen:
        """Start a command inside a server's namespace (killed, if still running, on exit)."""
        return self._popen(self.hosts[server], list(argv), **kw)

    def intf(self, server: str) -> str:
        return self.hosts[server].defaultIntf().name


def _raise_interrupt(signum, _frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")
