"""External memory on the emulated fabric: one EMAC per switch, each with its memory server.

A switch gets its EMAC the first time the placement puts an NF in its EM: the memory
server process starts on the switch's memory-server host (`Emulation(em=True)`), the
EMAC connects a QP of the switch to it and opens its own QP to write tables. The EMAC
writes through the controller's P4Runtime session with that switch, and what it
installs there (`Emac.entities`) is part of the switch's desired state, so that the
controller's reconcile keeps it and restores it after a restart.

A placement change is make-before-break across both:
1. `prepare`: every table that enters EM is written into its memory server (the switch
   is not told yet);
2. the controller reconciles the switches with `entities` in the desired state: the
   new em_config entries go in with the inserts, before the chain hops are switched to
   them, and the em_config of a table that leaves EM goes with the deletes, after;
3. `finish`: the tables that left EM free their space, and a switch that came back
   empty gets its cache registers again.
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from p4.v1 import p4runtime_pb2 as R

from controller.fabric.hosts import stop_all
from controller.fabric.switches import Fabric
from emac.api import Emac, EmacError, MemoryServer, RawTransport, RdmaClient
from emac.layout import SLOTS, BucketFull, EmTable, Entry
from emac.roce import Endpoint
from nfs.entries import NF, em_entries
from topologies.addressing import LOOP_IN, LOOP_OUT, MEM_PORT, EmAddresses, em_addresses

SWITCH_QPN, SERVER_QPN, EMAC_QPN = 0x100, 0x200, 0x300
BASE, RKEY = 0x4000_0000, 0x5EED
REGION = 1 << 20  # bytes of DRAM each memory server registers (tables are small here)


def buckets_for(nf: int, entries: list[Entry]) -> int:
    """The smallest power of two, from room for twice the entries up, whose buckets hold
    every entry: at half load one bucket of a few dozen still gets more keys than its
    slots often enough (the paper's days 1 and 2 met it), so a table that does not fit
    is sized again rather than refused."""
    buckets = 1 << max(0, math.ceil(math.log2(max(1, 2 * len(entries) / SLOTS))))
    for _ in range(6):
        try:
            EmTable(nf, buckets).image(entries)
            return buckets
        except BucketFull:
            buckets *= 2
    raise EmacError(f"NF {nf}: {len(entries)} entries do not fit {buckets // 2} buckets of {SLOTS} slots")


@dataclass
class EmFabric:
    emu: object  # emulation.mininet.Emulation, built with em=True
    fabric: Fabric
    log_dir: Path
    # A READ crosses two Python processes on a shared CPU: bounds in ms, not TEA's µs. The
    # emulation's own p99 delay reaches 0.6 s while the controller reconfigures (paper
    # day, 2 cores), so a shorter bound drops packets that the memory server did answer.
    bound_us: int = 1_500_000
    retry_us: int = 300_000
    cache_size: int = 1024
    recover: bool = False  # a restarted controller: find what the last one set up
    emacs: dict[str, Emac] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def emac(self, switch: str) -> Emac:
        """The switch's EMAC (its memory server started and connected on first use; with
        `recover`, a memory server that answers already is taken over instead)."""
        conn = self.fabric.connection(switch)
        if switch in self.emacs:
            self.emacs[switch].client = conn  # the session may have been renewed
            return self.emacs[switch]
        a = em_addresses(self.emu.plan, switch)
        me = Endpoint(a.emac_mac, a.emac_ip, EMAC_QPN)
        transport = RawTransport(self.emu.emac_intf[switch], me, timeout=2.0)
        writer = RdmaClient(me, Endpoint(a.server_mac, a.server_ip, SERVER_QPN + 1), transport)
        server = MemoryServer(
            Endpoint(a.server_mac, a.server_ip, SERVER_QPN), RKEY, BASE, REGION, MEM_PORT, writer
        )
        emac = Emac(
            conn,
            Endpoint(self.emu.plan.switches[switch].mac, a.switch_ip, SWITCH_QPN),
            LOOP_OUT,
            bound_us=self.bound_us,
            retry_us=self.retry_us,
            cache_size=self.cache_size,
            loop_in=LOOP_IN,
        )
        running = self.recover and self._answers(writer)
        if not running:
            self._start_memserver(switch, a)
        self.fabric.ensure_pipeline(switch)  # a fresh (or restarted) switch: its EM path needs the program
        if running and conn.read_table("rdma_endpoint"):
            # A restarted controller: the memory server lives on, and so does the switch's
            # EM path; its tables are read back rather than written again.
            emac.resume({0: server})
        else:  # a new EM path, or the switch restarted too (the tables get rewritten)
            emac.start()
            emac.attach(0, server)
        self.emacs[switch] = emac
        return emac

    @staticmethod
    def _answers(writer: RdmaClient) -> bool:
        try:
            writer.sync()
            return True
        except EmacError:
            return False

    def recover_all(self) -> None:
        """A restarted controller: take over every switch whose EM path is set up."""
        for switch in sorted(self.emu.plan.switches):
            if self.fabric.connection(switch).read_table("rdma_endpoint"):
                self.emac(switch)

    def _start_memserver(self, switch: str, a: EmAddresses) -> None:
        sw_mac = self.emu.plan.switches[switch].mac
        self.procs[switch] = self.emu.start_memserver(
            switch,
            "--ip", a.server_ip, "--mac", a.server_mac,
            "--region", f"{BASE:#x}:{REGION}:{RKEY:#x}",
            "--qp", f"{SERVER_QPN:#x}:{sw_mac}:{a.switch_ip}:{SWITCH_QPN:#x}",
            "--qp", f"{SERVER_QPN + 1:#x}:{a.emac_mac}:{a.emac_ip}:{EMAC_QPN:#x}",
            log=self.log_dir / f"memserver-{switch}.log",
        )  # fmt: skip

    def prepare(self, wanted: Iterable[tuple[str, int]], nfs: Mapping[int, NF]) -> None:
        """Write every table that enters EM into its switch's memory server."""
        for switch, nf in sorted(wanted):
            emac = self.emac(switch)
            if nf not in emac.placed:
                entries = em_entries(nfs[nf])
                emac.write_table(nf, entries, qp=0, buckets=buckets_for(nf, entries), kind=nfs[nf].kind)

    def entities(self, wanted: Iterable[tuple[str, int]]) -> dict[str, list[R.Entity]]:
        """Each switch's EMAC entries for a placement whose EM holds `wanted`."""
        keep: dict[str, set[int]] = {}
        for switch, nf in wanted:
            keep.setdefault(switch, set()).add(nf)
        return {s: e.entities(keep.get(s, set())) for s, e in self.emacs.items()}

    def finish(self, wanted: Iterable[tuple[str, int]], pushed: Iterable[str] = ()) -> None:
        """After the reconcile: tables no longer in EM free their space; a switch that got
        its pipeline again gets its registers again."""
        wanted, pushed = set(wanted), set(pushed)
        for switch, emac in self.emacs.items():
            emac.client = self.fabric.connection(switch)
            if switch in pushed:
                emac.restore()
            for nf in [n for n in emac.placed if (switch, n) not in wanted]:
                emac.forget(nf)

    def stats(self) -> dict[str, dict[str, float]]:
        return {s: e.stats() for s, e in sorted(self.emacs.items())}

    def detach(self) -> None:
        """Let go of the memory servers (their sockets closed), leaving them running with
        what they hold: a controller handing the fabric to the next one."""
        for emac in self.emacs.values():
            for srv in emac.servers.values():
                close = getattr(srv.writer.transport, "close", None)
                if close:
                    close()

    def close(self) -> None:
        """Let go of the memory servers and stop those this object started."""
        self.detach()
        stop_all(self.procs.values())
        self.emacs.clear()
        self.procs.clear()
