"""What `srem deploy` publishes about the fabric it holds up (fabric.json), so that
`srem control`, `srem replay` and `srem shell` can work on it from other processes.

- every switch's gRPC address and device id (the controller reaches them on 127.0.0.1);
- every server's namespace pid (commands run on it with `mnexec -a PID`) and its
  `srem nf-host` (pid, config file, log: `controller.servers.NFHost`);
- with external memory, every switch's memory-server host (its namespace pid and
  interfaces) and the EMAC's interface to it, so that a controller in another process
  starts memory servers there and writes into them (`DeployedEm`);
- the scenario (a copy of its YAML next to fabric.json), the test day and the target,
  and the pid of the deploy itself, to tell a running fabric from a stale file.

`load` refuses, in one line, a missing or garbled file; `check_running` one whose
deploy is gone.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from controller.fabric.servers import NFHost
from topologies import InputError

FABRIC_FILE = Path("results/deploy/fabric.json")  # where srem deploy writes it by default

VERSION = 2


@dataclass(frozen=True)
class ServerHost:
    ns_pid: int  # a process inside the server's network namespace (Mininet's shell)
    nf: NFHost
    iface: str = ""  # its interface to the edge switch


@dataclass(frozen=True)
class MemHost:
    ns_pid: int  # the memory-server host's namespace (Mininet's shell)
    intfs: tuple[str, ...]  # its interfaces: toward the switch, toward the EMAC
    emac_intf: str  # the EMAC's end, in the root namespace


@dataclass
class Deployment:
    scenario: Path  # the scenario YAML the fabric was built from
    day: int  # test day whose initial placement was installed
    target: str
    pid: int  # the `srem deploy` process
    switches: dict[str, tuple[str, int]] = field(default_factory=dict)  # name -> (gRPC address, device id)
    servers: dict[str, ServerHost] = field(default_factory=dict)
    mem: dict[str, MemHost] = field(default_factory=dict)  # switch -> its EM side (empty: EM from LM)
    compiler: str = "srem"  # which compiler built the pipeline the switches run (control pushes the same)

    @property
    def em(self) -> bool:
        return bool(self.mem)

    def as_json(self) -> dict:
        return {
            "version": VERSION,
            "pid": self.pid,
            "scenario": str(self.scenario),
            "day": self.day,
            "target": self.target,
            "compiler": self.compiler,
            "switches": {n: {"grpc": a, "device_id": d} for n, (a, d) in sorted(self.switches.items())},
            "servers": {
                n: {
                    "ns_pid": h.ns_pid,
                    "iface": h.iface,
                    "nf_pid": h.nf.pid,
                    "nf_config": str(h.nf.config),
                    "nf_log": str(h.nf.log),
                }
                for n, h in sorted(self.servers.items())
            },
            "mem": {
                n: {"ns_pid": m.ns_pid, "intfs": list(m.intfs), "emac_intf": m.emac_intf}
                for n, m in sorted(self.mem.items())
            },
        }

    def write(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.as_json(), indent=2) + "\n")
        tmp.replace(path)  # readers never see half a file

    @classmethod
    def load(cls, path: Path) -> Deployment:
        try:
            data = json.loads(path.read_text())
        except OSError as e:
            raise InputError(str(path), "file", f"{e.strerror or e}; run srem deploy first") from None
        except ValueError:
            raise InputError(str(path), "JSON", "not a fabric.json written by srem deploy") from None
        try:
            if not isinstance(data, dict) or data.get("version") != VERSION:
                raise ValueError("version")
            switches = {
                str(n): (str(s["grpc"]), int(s["device_id"])) for n, s in dict(data["switches"]).items()
            }
            servers = {
                str(n): ServerHost(
                    int(s["ns_pid"]),
                    NFHost(int(s["nf_pid"]), Path(s["nf_config"]), Path(s["nf_log"])),
                    str(s.get("iface", "")),
                )
                for n, s in dict(data["servers"]).items()
            }
            mem = {
                str(n): MemHost(int(m["ns_pid"]), tuple(str(i) for i in m["intfs"]), str(m["emac_intf"]))
                for n, m in dict(data["mem"]).items()
            }
            dep = cls(Path(data["scenario"]), int(data["day"]), str(data["target"]), int(data["pid"]),
                      switches, servers, mem, str(data.get("compiler", "srem")))  # fmt: skip
        except (KeyError, TypeError, ValueError, AttributeError):
            raise InputError(
                str(path),
                "content",
                f"not a fabric.json of this srem (version {VERSION}); run srem deploy again",
            ) from None
        if not switches:
            raise InputError(str(path), "switches", "names no switch")
        return dep

    def check_running(self, path: Path) -> None:
        """Refuse a fabric.json whose `srem deploy` has stopped (or whose hosts are gone)."""
        if not _alive(self.pid, b"deploy"):
            raise InputError(str(path), "fabric", f"not running (srem deploy, pid {self.pid}, has stopped)")
        for name, h in sorted(self.servers.items()):
            if not _alive(h.ns_pid, b""):
                raise InputError(str(path), name, f"the server's namespace (pid {h.ns_pid}) is gone")
        for name, m in sorted(self.mem.items()):
            if not _alive(m.ns_pid, b""):
                raise InputError(str(path), name, f"its memory-server host (pid {m.ns_pid}) is gone")


@dataclass
class DeployedEm:
    """What `controller.fabric.em.EmFabric` needs of an emulation, for a deployed fabric seen
    from another process: the plan, the EMAC's interfaces, and memory servers started in
    the memory-server hosts (in their own session: they outlive the controller that
    started them, and the next one takes them over; srem deploy kills them on exit)."""

    plan: object  # topologies.addressing.FabricPlan
    mem: dict[str, MemHost]

    @property
    def emac_intf(self) -> dict[str, str]:
        return {n: m.emac_intf for n, m in self.mem.items()}

    def start_memserver(self, switch: str, *args: str, log: Path, timeout: float = 60.0):
        from controller.fabric.hosts import start_memserver

        m = self.mem[switch]
        return start_memserver(m.ns_pid, list(m.intfs), args, log, timeout, own_session=True)


def _alive(pid: int, word: bytes) -> bool:
    """A live (not zombie) process whose command line holds `word`."""
    if pid <= 0:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return bool(cmdline) and word in cmdline and os.path.exists(f"/proc/{pid}/ns/net")


def load_deployment(path: Path) -> tuple[Deployment, object, object, object]:
    """The deployment, its scenario, problem and fabric plan; refuses a bad file in one line."""
    from controller.fabric.hosts import missing
    from placement.model import scenario as sc
    from placement.model.workload import build_problem, build_topology
    from topologies.addressing import plan

    why = missing()
    if why:
        raise InputError("srem deploy's fabric", "machine", why)
    dep = Deployment.load(path)
    if not dep.scenario.exists():
        raise InputError(str(path), "scenario", f"{dep.scenario} is gone; run srem deploy again")
    s = sc.load(dep.scenario)
    problem = build_problem(s)
    fab = plan(build_topology(s))
    if set(fab.switches) != set(dep.switches) or set(fab.servers) != set(dep.servers):
        raise InputError(str(path), "switches", "do not match the scenario's fabric; run srem deploy again")
    if not 0 <= dep.day < problem.n_days("test"):
        raise InputError(str(path), "day", f"{dep.day} is not a test day of {s.name}")
    return dep, s, problem, fab
