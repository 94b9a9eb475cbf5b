"""simple_switch's traffic manager timing: per-port egress queues with a rate (packets per
second, unlimited by default) and a depth (64 packets by default), optionally several
strict-priority queues per port (`--priority-queues`), as BMv2's egress buffers.

Time is given by the caller (seconds, any origin): a packet enqueued at `t` leaves at
the earliest when its queue's rate allows, and egress then runs at that moment. The
switch asks `pop_next(now)` for every packet due by `now`; packets not yet due stay
queued until a later call. With unlimited rates every packet is due when enqueued, so
behaviour without configuration is that of a switch without queues.

BMv2's semantics kept here (simple_switch.cpp): `enq_qdepth` is the number of packets
queued on the port before this one; `deq_qdepth` the number left on the port after it
leaves; queue index = queues - 1 - priority, queue 0 served first (a higher `priority`
value wins); a priority beyond the queues, or a full queue, drops the packet (counted).

The link's own backpressure (a port whose transmitter is still busy, e.g. a veth behind a
tc rate limit whose socket buffer is full) holds packets here too: such a port is in
`blocked` while its transmitter drains it (runner.py), so packets for it queue, count in
`enq_qdepth` and overflow the queue's depth, as on simple_switch, whose egress threads
stop dequeuing while its transmit thread blocks.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

DEFAULT_DEPTH = 64  # BMv2's default egress queue capacity, in packets
MAX_QUEUES = 8  # standard_metadata.priority has 3 bits


@dataclass
class Queue:
    depth: int = DEFAULT_DEPTH
    rate_pps: float | None = None  # None: no rate limit
    items: deque = field(default_factory=deque)  # (enqueued at, item)
    next_free: float = float("-inf")  # earliest time the next packet may leave

    def due(self) -> float | None:
        """When the head packet can leave (None: empty)."""
        if not self.items:
            return None
        return max(self.items[0][0], self.next_free)


class TrafficManager:
    def __init__(self, queues_per_port: int = 1) -> None:
        if not 1 <= queues_per_port <= MAX_QUEUES:
            raise ValueError(f"priority queues per port must be 1..{MAX_QUEUES}, got {queues_per_port}")
        self.nq = queues_per_port
        self.ports: dict[int, list[Queue]] = {}
        self.default_depth = DEFAULT_DEPTH
        self.default_rate: float | None = None
        self.rates: dict[tuple[int, int | None], float | None] = {}
        self.depths: dict[tuple[int, int | None], int] = {}
        self.drops = {"full": 0, "priority": 0}
        self.port_free: dict[int, float] = {}  # earliest time each port's transmitter is free
        self.busy: set[int] = set()  # ports with packets queued
        # Ports whose transmitter is busy: the runner drains them itself (pop_next(now, port)),
        # so they never pass through and the pacer leaves them alone. Shared with the runner.
        self.blocked: set[int] = set()
        self.limited = False  # some rate is set

    # -- configuration (simple_switch_CLI: set_queue_rate / set_queue_depth) -----------
    def set_queue_rate(self, pps: float | None, port: int | None = None, priority: int | None = None) -> None:
        """Packets per second: of a port's transmitter (shared by its priority queues, the
        highest priority served first), of one priority queue, or of every port."""
        if pps is not None and not 0 < pps <= 1e9:
            raise ValueError(f"queue rate must be in (0, 1e9] packets/s, got {pps}")
        self._check_priority(priority)
        if port is None:
            self.default_rate = pps
            self.rates = {}
        else:
            self.rates[(port, priority)] = pps
        self.limited = self.default_rate is not None or any(r is not None for r in self.rates.values())
        for p, qs in self.ports.items():
            for k, q in enumerate(qs):
                q.rate_pps = self.rates.get((p, self.nq - 1 - k))

    def set_queue_depth(self, depth: int, port: int | None = None, priority: int | None = None) -> None:
        if not 1 <= depth <= 1_000_000:
            raise ValueError(f"queue depth must be 1..1000000 packets, got {depth}")
        self._check_priority(priority)
        if port is None:
            self.default_depth = depth
            self.depths = {}
        else:
            self.depths[(port, priority)] = depth
        for p, qs in self.ports.items():
            for k, q in enumerate(qs):
                q.depth = self._depth(p, self.nq - 1 - k)

    def _check_priority(self, priority: int | None) -> None:
        if priority is not None and not 0 <= priority < self.nq:
            raise ValueError(f"priority {priority} out of range (0..{self.nq - 1})")

    def _port_rate(self, port: int) -> float | None:
        return self.rates.get((port, None), self.default_rate)

    def _depth(self, port: int, prio: int) -> int:
        for key in ((port, prio), (port, None)):
            if key in self.depths:
                return self.depths[key]
        return self.default_depth

    def _queues(self, port: int) -> list[Queue]:
        qs = self.ports.get(port)
        if qs is None:
            # queue k serves priority nq-1-k: queue 0 is the highest priority
            qs = [Queue(self._depth(port, p), self.rates.get((port, p))) for p in range(self.nq - 1, -1, -1)]
            self.ports[port] = qs
        return qs

    # -- packets ------------------------------------------------------------------------
    def size(self, port: int) -> int:
        """Packets queued on a port, all priorities."""
        return sum(len(q.items) for q in self.ports.get(port, ()))

    def pending(self) -> int:
        return sum(self.size(p) for p in self.busy)

    def next_due(self) -> float | None:
        """When the earliest queued packet may leave (None: nothing queued)."""
        best = None
        for port in self.busy - self.blocked:
            free = self.port_free.get(port, float("-inf"))
            for q in self.ports[port]:
                d = q.due()
                if d is not None and (best is None or max(d, free) < best):
                    best = max(d, free)
        return best

    def passthrough(self, port: int) -> bool:
        """No rate anywhere, nothing queued on the port and its transmitter free: the packet
        would leave as it arrives, so the switch may run egress at once (the common case,
        kept fast)."""
        return not self.limited and port not in self.busy and port not in self.blocked

    def enqueue(self, port: int, priority: int, item: Any, now: float) -> bool:
        """Queue a packet; False when it is dropped (priority out of range, queue full)."""
        if not 0 <= priority < self.nq:
            self.drops["priority"] += 1
            return False
        q = self._queues(port)[self.nq - 1 - priority]
        if len(q.items) >= q.depth:
            self.drops["full"] += 1
            return False
        q.items.append((now, item))
        self.busy.add(port)
        return True

    def pop_next(self, now: float, port: int | None = None) -> tuple[Any, int, float, float, int] | None:
        """The next packet due by `now`, earliest first (a higher priority first at a tie):
        (item, port, enqueued at, leaves at, packets left on the port). Of one port only
        when `port` is given (its transmitter asks), else of the ports not blocked."""
        best: tuple[float, int, int] | None = None
        ports = (self.busy & {port}) if port is not None else self.busy - self.blocked
        for port in ports:
            qs = self.ports[port]
            free = self.port_free.get(port, float("-inf"))
            for k, q in enumerate(qs):  # queue 0 is the highest priority
                d = q.due()
                if d is not None:
                    d = max(d, free)
                    if d <= now and (best is None or (d, k, port) < best):
                        best = (d, k, port)
        if best is None:
            return None
        d, k, port = best
        q = self.ports[port][k]
        enq, item = q.items.popleft()
        if q.rate_pps is not None:
            q.next_free = d + 1.0 / q.rate_pps
        rate = self._port_rate(port)
        if rate is not None:
            self.port_free[port] = d + 1.0 / rate
        left = self.size(port)
        if not left:
            self.busy.discard(port)
        return item, port, enq, d, left
