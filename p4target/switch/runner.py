"""A running switch: one thread per port feeding packets through the pipeline.

The pipeline may be replaced at any time (P4Runtime SetForwardingPipelineConfig);
packets wait on a lock so that no packet sees half a pipeline. Packets for the CPU
port go to `on_packet_in` (the P4Runtime stream) instead of a port. A packet that makes
the pipeline, a port or a callback fail is dropped, counted in `counts["errors"]` and
logged once per kind of failure; the port goes on serving.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from .engine import Switch
from .ports import Port
from .queues import TrafficManager

log = logging.getLogger("srem.switch")


class Runner:
    def __init__(self, device_id: int = 0, cpu_port: int | None = None) -> None:
        self.device_id = device_id
        self.cpu_port = cpu_port
        self.switch: Switch | None = None
        self.ports: dict[int, Port] = {}
        self.lock = threading.RLock()
        self.on_packet_in: Callable[[bytes], None] | None = None
        self.on_digest: Callable[[str, list[int]], None] | None = None
        self._stop = threading.Event()
        self._queued = threading.Event()  # a packet waits in an egress queue
        # Queue settings as simple_switch's --priority-queues / set_queue_rate / set_queue_depth;
        # key None is every port.
        self.priority_queues = 1
        self.queue_rates: dict[int | None, float | None] = {}
        self.queue_depths: dict[int | None, int | None] = {}
        self._threads: list[threading.Thread] = []
        self.counts = {"rx": 0, "tx": 0, "dropped": 0, "to_cpu": 0, "errors": 0}
        self._logged: set[str] = set()

    def set_switch(self, sw: Switch | None) -> None:
        with self.lock:
            if sw is not None:
                sw.tm = self.traffic_manager()  # queue settings outlive a pipeline change
            self.switch = sw

    def traffic_manager(self) -> TrafficManager:
        """A traffic manager with this switch's queue settings (`srem switch` options)."""
        tm = TrafficManager(self.priority_queues)
        for port, pps in self.queue_rates.items():
            tm.set_queue_rate(pps, port)
        for port, depth in self.queue_depths.items():
            if depth is not None:
                tm.set_queue_depth(depth, port)
        return tm

    def add_port(self, port: Port) -> None:
        if port.number in self.ports:
            raise ValueError(f"port {port.number} is given twice")
        self.ports[port.number] = port
        if self._threads:
            self._start_port(port)

    def start(self) -> None:
        pacer = threading.Thread(target=self._pace, name="egress-pacer", daemon=True)
        pacer.start()
        self._threads.append(pacer)
        for p in self.ports.values():
            self._start_port(p)

    def _start_port(self, p: Port) -> None:
        t = threading.Thread(target=self._serve, args=(p,), name=f"port-{p.number}", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=2)
        for p in self.ports.values():
            p.close()

    def _serve(self, p: Port) -> None:
        while not self._stop.is_set():
            try:
                data = p.recv(0.2)
                if data is not None:
                    self.inject(p.number, data)
            except Exception as e:  # nothing may end a port's thread
                self._fault(f"port {p.number}: {type(e).__name__}: {e}")

    def _fault(self, what: str) -> None:
        self.counts["errors"] += 1
        kind = what.split(":", 2)[:2]
        key = ":".join(kind)
        if key not in self._logged and len(self._logged) < 1000:
            self._logged.add(key)
            log.warning("%s (logged once; counted in errors)", what)

    def _pace(self) -> None:
        """Let out packets that a queue's rate held back, when they are due (simple_switch's
        egress threads); idle while nothing is queued."""
        while not self._stop.is_set():
            sw = self.switch
            due = sw.tm.next_due() if sw is not None else None
            if due is None:
                self._queued.wait(0.05)
                self._queued.clear()
                continue
            delay = due - time.monotonic()
            if delay > 0:
                self._stop.wait(min(delay, 0.05))
                continue
            with self.lock:
                if self.switch is not sw:
                    continue
                out = sw.release(time.monotonic())
                digests, sw.digests = sw.digests, []
                faults, sw.errors = sw.errors, []
            self._emit(out, digests, faults)

    def inject(self, port: int, data: bytes) -> None:
        """Run one packet as if it arrived on `port` (packet-out uses the CPU port)."""
        with self.lock:
            sw = self.switch
            if sw is None:
                self.counts["dropped"] += 1
                return
            self.counts["rx"] += 1
            out = sw.process(port, data, time.monotonic())
            digests, sw.digests = sw.digests, []
            faults, sw.errors = sw.errors, []
            queued = sw.tm.pending()
        if queued:
            self._queued.set()
        elif not out:
            self.counts["dropped"] += 1
        self._emit(out, digests, faults)

    def _emit(self, out: list, digests: list, faults: list[str]) -> None:
        for f in faults:
            self._fault(f)
        for eport, pkt in out:
            try:
                if eport == self.cpu_port and self.on_packet_in is not None:
                    self.counts["to_cpu"] += 1
                    self.on_packet_in(pkt)
                elif eport in self.ports:
                    self.counts["tx"] += 1
                    self.ports[eport].send(pkt)
                else:
                    log.debug("packet for port %d, which does not exist: dropped", eport)
            except Exception as e:  # one failed send drops one packet
                self._fault(f"sending to port {eport}: {type(e).__name__}: {e}")
        if self.on_digest is not None:
            for name, values in digests:
                try:
                    self.on_digest(name, values)
                except Exception as e:
                    self._fault(f"digest {name}: {type(e).__name__}: {e}")
