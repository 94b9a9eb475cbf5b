"""The monitor: every period, one sample per NF instance.

From the instance's NF host (its control socket, `stats`): packets processed, drops
(dropped by the NF, lost past a hold bound, malformed), queue (packets held), the bytes
waiting in its packet sockets (the receive queue the packet loop has not read), flows with
state, NF errors (a NAT out of ports). From the instance's own processes (`tree`: the
`srem nf-host` process the control socket names and its children, psutil and /proc): CPU,
resident and swapped-out memory, context switches and page faults in the period. These are
per instance: on Mininet every server shares the machine, and machine-wide figures would
show any host's stress on every instance. Machine-wide, and named so: `host_cpu_pct`,
`host_mem_pct`, `host_swap_pct` (kept for the timeline and for comparison; the failure
predictor no longer reads them). From the fabric (optional): the P4 counters of the chains
(`fabric_counters`).

The per-instance metrics carry the names of the public vEPC failure data set
(../shared/data/vepc-failure/README.md) where they map, so a predictor trained there reads
them (RISK_FEATURES), the NF host standing for the data set's VM: column 2 CPU usage % ->
cpu_pct (the tree's CPU time over the period, % of one CPU: a single-threaded NF saturating
its core reads 100, as a one-vCPU VM would), 3 memory usage % -> mem_pct (the tree's
resident memory, % of the machine's), 4 swap usage % -> swap_pct (the tree's swapped-out
memory, VmSwap, % of the machine's swap; 0 without swap), 5 paging failures in the interval
-> errors (the NF's own error count in the period: the closest thing a NAT or firewall has to
a vEPC's T3413 expiries; not page faults, which are `page_faults`). Stress started beside
the NF in its server's namespace but outside its process tree (`srem inject`'s cpu/memory
workers) is not the instance's and is not counted in these.
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
# the instance's own CPU, memory and swap as the vEPC's VM-level columns, and the NF's errors
# for the paging failures.
RISK_FEATURES = {"cpu_percent": "cpu_pct", "memory_percent": "mem_pct", "swap_percent": "swap_pct",
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
    cpu_pct: float = 0.0  # the NF's process tree, % of one CPU over the period
    mem_pct: float = 0.0  # its resident memory, % of the machine's
    swap_pct: float = 0.0  # its swapped-out memory, % of the machine's swap
    ctx_switches: int = 0  # its voluntary + involuntary context switches in the period
    page_faults: int = 0  # its minor + major page faults in the period
    procs: int = 0  # processes in its tree now
    host_cpu_pct: float = 0.0  # the machine's (psutil.cpu_percent since the last sample)
    host_mem_pct: float = 0.0  # the machine's (psutil.virtual_memory().percent)
    host_swap_pct: float = 0.0  # the machine's (psutil.swap_memory().percent)

    def to_dict(self) -> dict:
        return asdict(self)


def _faults(pid: int) -> int:
    """Minor + major page faults of a process so far (/proc/PID/stat fields 10 and 12)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[7]) + int(fields[9])


def _swapped(pid: int) -> int:
    """Bytes of a process swapped out now (/proc/PID/status VmSwap; cheap, unlike smaps)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmSwap:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


@dataclass(frozen=True)
class TreeUsage:
    """A process and its children, summed, at one moment: counters so far and levels now."""

    cpu_s: float  # user + system CPU seconds so far (the children they waited for included)
    rss: int  # resident bytes now
    swap: int  # swapped-out bytes now
    ctx: int  # context switches so far
    faults: int  # page faults so far
    procs: int
    pid: int = 0  # the root's


def tree(pid: int) -> TreeUsage:
    """The usage of `pid` and all its descendants (psutil.Error when pid itself is gone)."""
    root = psutil.Process(pid)
    cpu, rss, swap, ctx, faults, n = 0.0, 0, 0, 0, 0, 0
    for p in [root, *root.children(recursive=True)]:
        try:
            with p.oneshot():
                t = p.cpu_times()
                c = p.num_ctx_switches()
                m = p.memory_info()
        except psutil.Error:
            if p is root:
                raise
            continue  # a child that ended between the listing and the read
        cpu += t.user + t.system + t.children_user + t.children_system
        rss, ctx, n = rss + m.rss, ctx + c.voluntary + c.involuntary, n + 1
        swap, faults = swap + _swapped(p.pid), faults + _faults(p.pid)
    return TreeUsage(cpu, rss, swap, ctx, faults, n, pid)


def usage_sample(s: Sample, prev: TreeUsage | None, now: TreeUsage, dt: float) -> None:
    """Fill a sample's per-instance fields from two readings `dt` seconds apart (pure). A
    child that ended takes its counts with it: deltas are floored at 0."""
    total = psutil.virtual_memory().total
    swap_total = psutil.swap_memory().total
    s.mem_pct = 100.0 * now.rss / total if total else 0.0
    s.swap_pct = 100.0 * now.swap / swap_total if swap_total else 0.0
    s.procs = now.procs
    if prev is not None and dt > 0:
        s.cpu_pct = max(0.0, 100.0 * (now.cpu_s - prev.cpu_s) / dt)
        s.ctx_switches = max(0, now.ctx - prev.ctx)
        s.page_faults = max(0, now.faults - prev.faults)


class Monitor:
    """Samples instances; counters are turned into per-period deltas here."""

    def __init__(self, instances: list[Instance] | None = None, timeout_s: float = 2.0) -> None:
        self.instances: dict[str, Instance] = {i.name: i for i in instances or []}
        self.timeout_s = timeout_s
        self.last: dict[str, tuple[float, dict, TreeUsage | None]] = {}  # name -> (time, counters, usage)

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
        try:
            use: TreeUsage | None = tree(pid)
        except psutil.Error:
            use = None  # answered, then gone (or not visible from here): no process figures
        t0, prev, u0 = self.last.get(inst.name, (now, row, None))
        self.last[inst.name] = (now, row, use)
        delta = lambda *keys: sum(max(0, row.get(k, 0) - prev.get(k, 0)) for k in keys)
        dt = max(now - t0, 1e-9)
        s = Sample(now, inst.name, True)
        s.packets = delta("processed", "injected")
        s.pps = s.packets / dt if now > t0 else 0.0
        s.drops = delta("dropped", "hold_overflow", "malformed")
        s.errors = delta("errors")
        s.queue, s.flows = int(row.get("queue", 0)), int(row.get("flows", 0))
        s.rx_queue_bytes = int(ans.get("rx_queue_bytes", 0))
        if use is not None:
            # A restarted NF host (a new pid) starts its counters afresh: no delta across it.
            usage_sample(s, u0 if u0 is not None and u0.pid == use.pid else None, use, dt)
        s.host_swap_pct = psutil.swap_memory().percent
        s.host_cpu_pct = psutil.cpu_percent(None)
        s.host_mem_pct = psutil.virtual_memory().percent
        return s


def fabric_counters(conn: Any) -> dict[str, dict[int, tuple[int, int]]]:
    """The chains' P4 counters of one switch (packets, bytes per chain index)."""
    return {name: conn.counter_read(name) for name in ("chain_in", "chain_out")}
