"""The monitor: every period, one sample per NF instance.

From the instance's NF host (its control socket, `stats`): packets processed, drops
(dropped by the NF, lost past a hold bound, malformed), queue (packets held), the bytes
waiting in its packet sockets (the receive queue the packet loop has not read), flows with
state, NF errors (a NAT out of ports). From the host (psutil, the NF host's pid): CPU and
memory of the process, the machine's swap, the process's page faults. From the fabric
(optional): the P4 counters of the chains (`fabric_counters`).

The host metrics carry the names of the public vEPC failure data set
(../shared/data/vepc-failure/README.md) where they map, so a predictor trained there reads
them: column 2 CPU usage % -> cpu_pct, 3 memory usage % -> mem_pct, 4 swap usage % ->
swap_pct, 5 paging failures in the interval -> errors (the NF's own error count in the
period: the closest thing a NAT or firewall has to a vEPC's T3413 expiries).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from controller.orchestration.move import Instance
from nfs.control import ControlClient, ControlError

VEPC_FEATURES = ("cpu_pct", "mem_pct", "swap_pct", "errors")  # data.tsv columns 2, 3, 4, 5
# The failure predictor's feature names (prediction/data.py FEATURES) -> the sample's fields:
# the machine's CPU and memory as the vEPC's VM-level columns, and the NF's errors for the
# paging failures.
RISK_FEATURES = {"cpu_percent": "host_cpu_pct", "memory_percent": "host_mem_pct", "swap_percent": "swap_pct",
                 "paging_failures": "errors"}  # fmt: skip


@dataclass
class Sample:
    time: float
    instance: str
    alive: bool
    packets: int = 0  # processed in the period
    pps: float = 0.0
    drops: int = 0  # in the period
    queue: int = 0  # packets held now
    rx_queue_bytes: int = 0  # bytes the NF host has not read yet (its packet sockets)
    flows: int = 0
    errors: int = 0  # in the period
    cpu_pct: float = 0.0
    mem_pct: float = 0.0
    swap_pct: float = 0.0
    host_cpu_pct: float = 0.0  # the machine's (psutil.cpu_percent since the last sample)
    host_mem_pct: float = 0.0  # the machine's (psutil.virtual_memory().percent)
    page_faults: int = 0  # in the period (minor + major)

    def to_dict(self) -> dict:
        return asdict(self)


def _faults(pid: int) -> int:
    """Minor + major page faults of a process so far (/proc/PID/stat fields 10 and 12)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[7]) + int(fields[9])


class Monitor:
    """Samples instances; counters are turned into per-period deltas here."""

    def __init__(self, instances: list[Instance] | None = None, timeout_s: float = 2.0) -> None:
        self.instances: dict[str, Instance] = {i.name: i for i in instances or []}
        self.timeout_s = timeout_s
        self.last: dict[str, tuple[float, dict, int]] = {}  # name -> (time, counters, faults)
        self.procs: dict[int, psutil.Process] = {}

    def add(self, inst: Instance) -> None:
        self.instances[inst.name] = inst

    def remove(self, name: str) -> None:
        self.instances.pop(name, None)
        self.last.pop(name, None)

    def poll(self) -> list[Sample]:
        return [self.sample(i) for i in list(self.instances.values())]

    def sample(self, inst: Instance) -> Sample:
        now = time.monotonic()
        try:
            c = ControlClient(inst.control, self.timeout_s)
            try:
                ans = c.call("stats")
            finally:
                c.close()
        except (ConnectionError, ControlError, OSError, ValueError):
            return Sample(now, inst.name, alive=False)
        row: dict[str, Any] = next((n for n in ans["nfs"] if n["id"] == inst.nf), {})
        pid = int(ans["pid"])
        faults = _faults(pid)
        t0, prev, f0 = self.last.get(inst.name, (now, row, faults))
        self.last[inst.name] = (now, row, faults)
        delta = lambda *keys: sum(max(0, row.get(k, 0) - prev.get(k, 0)) for k in keys)
        dt = max(now - t0, 1e-9)
        s = Sample(now, inst.name, True)
        s.packets = delta("processed", "injected")
        s.pps = s.packets / dt if now > t0 else 0.0
        s.drops = delta("dropped", "hold_overflow", "malformed")
        s.errors = delta("errors")
        s.queue, s.flows = int(row.get("queue", 0)), int(row.get("flows", 0))
        s.rx_queue_bytes = int(ans.get("rx_queue_bytes", 0))
        s.page_faults = max(0, faults - f0)
        try:
            p = self.procs.get(pid) or self.procs.setdefault(pid, psutil.Process(pid))
            s.cpu_pct = p.cpu_percent(None)  # since the last call: the period
            s.mem_pct = p.memory_percent()
        except psutil.Error:
            pass
        s.swap_pct = psutil.swap_memory().percent
        s.host_cpu_pct = psutil.cpu_percent(None)
        s.host_mem_pct = psutil.virtual_memory().percent
        return s


def fabric_counters(conn: Any) -> dict[str, dict[int, tuple[int, int]]]:
    """The chains' P4 counters of one switch (packets, bytes per chain index)."""
    return {name: conn.counter_read(name) for name in ("chain_in", "chain_out")}
