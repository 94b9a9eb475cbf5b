"""A running switch: one thread per port feeding packets through the pipeline.

The pipeline may be replaced at any time (P4Runtime SetForwardingPipelineConfig);
packets wait on a lock so that no packet sees half a pipeline. Packets for the CPU
port go to `on_packet_in` (the P4Runtime stream) instead of a port. A packet that makes
the pipeline, a port or a callback fail is dropped, counted in `counts["errors"]` and
logged once per kind of failure; the port goes on serving.

Transmission: a packet is sent at once without blocking while its port takes it. When
the port pushes back (a Linux interface whose socket buffer is full because the link
is slower than the traffic, e.g. behind a tc rate limit), the port becomes *blocked*:
its own transmitter thread sends the packet that did not go out, then runs egress for
the packets that queued meanwhile in the port's egress queue, one at a time as the link
takes them. So the egress queue fills as on simple_switch (enq_qdepth / deq_qdepth,
ECN marking, drops past the queue's depth), and the ports' receive threads never wait
for a slow link.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
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
        # Link backpressure: ports whose transmitter is busy (shared with every pipeline's
        # traffic manager), the packets that passed egress and wait for the link (BMv2's
        # output buffer), and one event per port's transmitter.
        self.blocked: set[int] = set()
        self._waiting: dict[int, deque[bytes]] = {}
        self._wake: dict[int, threading.Event] = {}
        self.counts = {"rx": 0, "tx": 0, "dropped": 0, "to_cpu": 0, "errors": 0, "blocked": 0}
        self._logged: set[str] = set()

    def set_switch(self, sw: Switch | None) -> None:
        with self.lock:
            if sw is not None:
                sw.tm = self.traffic_manager()  # queue settings outlive a pipeline change
            self.switch = sw

    def traffic_manager(self) -> TrafficManager:
        """A traffic manager with this switch's queue settings (`srem switch` options)."""
        tm = TrafficManager(self.priority_queues)
        tm.blocked = self.blocked
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
        self._waiting[p.number] = deque()
        self._wake[p.number] = threading.Event()
        t = threading.Thread(target=self._serve, args=(p,), name=f"port-{p.number}", daemon=True)
        t.start()
        tx = threading.Thread(target=self._transmit_loop, args=(p,), name=f"tx-{p.number}", daemon=True)
        tx.start()
        self._threads += [t, tx]

    def stop(self) -> None:
        self._stop.set()
        for ev in self._wake.values():
            ev.set()
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

    def _transmit_loop(self, p: Port) -> None:
        """A blocked port's transmitter: what waits for the link first, then the port's egress
        queue one packet at a time (egress runs as each leaves), until both are empty."""
        wake, waiting = self._wake[p.number], self._waiting[p.number]
        while not self._stop.is_set():
            wake.wait(0.2)
            wake.clear()
            while not self._stop.is_set():
                digests: list = []
                faults: list[str] = []
                with self.lock:
                    sw = self.switch
                    if waiting:
                        out = [(p.number, waiting.popleft())]
                    elif sw is None or not (before := sw.tm.size(p.number)):
                        self.blocked.discard(p.number)  # drained: packets pass through again
                        break
                    else:
                        out = sw.release(time.monotonic(), p.number)
                        digests, sw.digests = sw.digests, []
                        faults, sw.errors = sw.errors, []
                        if sw.tm.size(p.number) >= before:  # none due yet: a rate holds it (the pacer's)
                            self.blocked.discard(p.number)
                            self._queued.set()
                            break
                self._emit(out, digests, faults, own=p.number)

    def _send(self, eport: int, pkt: bytes, own: int | None) -> None:
        """Out of a port: blocking from the port's own transmitter, else without waiting;
        a port that pushes back becomes blocked and the packet waits for its transmitter."""
        port = self.ports[eport]
        if eport == own:
            port.send(pkt)
            self.counts["tx"] += 1
            return
        # Unlocked look first (the common case: the port keeps up); a thread's own packets
        # stay in order, since the thread that finds the port full marks it blocked itself.
        if eport not in self.blocked and port.try_send(pkt):
            self.counts["tx"] += 1
            return
        with self.lock:
            if eport not in self.blocked:
                self.counts["blocked"] += 1
                self.blocked.add(eport)
            self._waiting[eport].append(pkt)
            self._wake[eport].set()

    def _emit(self, out: list, digests: list, faults: list[str], own: int | None = None) -> None:
        for f in faults:
            self._fault(f)
        for eport, pkt in out:
            try:
                if eport == self.cpu_port and self.on_packet_in is not None:
                    self.counts["to_cpu"] += 1
                    self.on_packet_in(pkt)
                elif eport in self.ports:
                    self._send(eport, pkt, own)
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
