"""Client streams and arbitration, as the P4Runtime 1.4 specification (section 5) and
Stratum's controller manager have it.

Per (device, role) the server remembers the highest election id it has ever seen; the
client holding it is primary. When the primary leaves there is no primary until a
client arrives with an id at least as high (a lower or older backup is not promoted).
A client without an election id is always a backup. Streams write into a bounded
outbox: a client that never reads loses its oldest packet-ins, counted, not the
server's memory.
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass

import grpc
from google.rpc import code_pb2
from p4.v1 import p4runtime_pb2 as R

from .pipeline import RuntimeErr

EId = tuple[int, int]


class StreamAbort(Exception):
    """Ends a stream with a gRPC status (bad device, duplicate election id, ...)."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class Outbox:
    """A stream's outgoing messages, `limit` at most. Packet-ins, digests and idle
    notifications are dropped (oldest first, counted) when the client does not keep up;
    arbitration updates and errors are kept up to twice the limit (a client that sends
    thousands of requests and reads nothing loses the rest); the end of the stream
    (`final`) always gets in."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: collections.deque = collections.deque()
        self.cond = threading.Condition()
        self.dropped = 0

    def put(self, item, droppable: bool = False, final: bool = False) -> None:
        with self.cond:
            if not final and len(self.items) >= self.limit:
                for k, (_, may_drop) in enumerate(self.items):
                    if may_drop:
                        del self.items[k]
                        break
                else:
                    if droppable or len(self.items) >= 2 * self.limit:
                        self.dropped += 1
                        return
                if droppable:
                    self.dropped += 1
            self.items.append((item, droppable))
            self.cond.notify()

    def get(self, timeout: float | None):
        """The next item, or raises TimeoutError."""
        with self.cond:
            if not self.cond.wait_for(lambda: self.items, timeout):
                raise TimeoutError
            return self.items.popleft()[0]


@dataclass(eq=False)
class Stream:
    peer: str
    out: Outbox
    election_id: EId | None = None
    role: str = ""
    arbitrated: bool = False
    closed: bool = False


class Arbiter:
    """Streams of one device. `lock` is a leaf lock: nothing else is taken under it."""

    def __init__(self, device_id: int, max_streams: int, max_per_client: int, outbox_limit: int) -> None:
        self.device_id = device_id
        self.max_streams, self.max_per_client, self.outbox_limit = max_streams, max_per_client, outbox_limit
        self.lock = threading.Lock()
        self.streams: list[Stream] = []
        self.highest: dict[str, EId] = {}  # role -> highest election id ever seen
        self.roles: set[str] = {""}

    # -- streams ---------------------------------------------------------------------
    def open(self, peer: str) -> Stream:
        with self.lock:
            live = [s for s in self.streams if not s.closed]
            if len(live) >= self.max_streams:
                raise StreamAbort(
                    grpc.StatusCode.RESOURCE_EXHAUSTED, f"the server takes {self.max_streams} streams at most"
                )
            if sum(s.peer == peer for s in live) >= self.max_per_client:
                raise StreamAbort(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"{self.max_per_client} streams per client connection at most",
                )
            s = Stream(peer, Outbox(self.outbox_limit))
            self.streams.append(s)
            return s

    def close(self, s: Stream) -> None:
        with self.lock:
            was_primary = self._is_primary(s)
            s.closed = True
            self.streams.remove(s)
            if was_primary:
                self._announce(s.role)

    # -- arbitration -----------------------------------------------------------------
    def arbitrate(self, s: Stream, a: R.MasterArbitrationUpdate) -> None:
        """Apply one MasterArbitrationUpdate; raises StreamAbort to end the stream."""
        if a.device_id != self.device_id:
            code = grpc.StatusCode.FAILED_PRECONDITION if s.arbitrated else grpc.StatusCode.NOT_FOUND
            raise StreamAbort(code, f"unknown device id {a.device_id} (this is device {self.device_id})")
        if a.role.HasField("config"):
            raise StreamAbort(grpc.StatusCode.UNIMPLEMENTED, "role configs are not supported")
        role = a.role.name
        eid = (a.election_id.high, a.election_id.low) if a.HasField("election_id") else None
        with self.lock:
            if s.arbitrated and role != s.role:
                raise StreamAbort(
                    grpc.StatusCode.FAILED_PRECONDITION, "a stream cannot change its role; open a new one"
                )
            if eid is not None and any(
                o is not s and not o.closed and o.arbitrated and o.role == role and o.election_id == eid
                for o in self.streams
            ):
                raise StreamAbort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"election id {eid} is taken by another client of role '{role}'",
                )
            was_primary = self._is_primary(s)
            s.role, s.election_id, s.arbitrated = role, eid, True
            self.roles.add(role)
            best = self.highest.get(role)
            if eid is not None and (best is None or eid >= best):
                self.highest[role] = eid
                self._announce(role)
            elif was_primary:
                self._announce(role)  # the primary stepped down: nobody is primary now
            else:
                self._tell(s)

    def _is_primary(self, s: Stream) -> bool:
        return s.arbitrated and s.election_id is not None and s.election_id == self.highest.get(s.role)

    def primary(self, role: str = "") -> Stream | None:
        with self.lock:
            return self._primary(role)

    def _primary(self, role: str) -> Stream | None:
        best = self.highest.get(role)
        if best is None:
            return None
        for s in self.streams:
            if not s.closed and s.arbitrated and s.role == role and s.election_id == best:
                return s
        return None

    def _announce(self, role: str) -> None:
        for s in self.streams:
            if s.arbitrated and not s.closed and s.role == role:
                self._tell(s)

    def _tell(self, s: Stream) -> None:
        m = R.StreamMessageResponse()
        a = m.arbitration
        a.device_id = self.device_id
        if s.role:
            a.role.name = s.role
        best = self.highest.get(s.role)
        if best is not None:
            a.election_id.high, a.election_id.low = best
        p = self._primary(s.role)
        if p is s:
            a.status.code, a.status.message = code_pb2.OK, "you are the primary client"
        elif p is not None:
            a.status.code, a.status.message = code_pb2.ALREADY_EXISTS, "you are a backup; a primary exists"
        else:
            a.status.code, a.status.message = code_pb2.NOT_FOUND, "you are a backup; there is no primary"
        s.out.put(m)

    def check(self, role: str, election_id: R.Uint128 | None) -> None:
        """A request that needs the primary: raises RuntimeErr otherwise."""
        if role not in self.roles:
            raise RuntimeErr(grpc.StatusCode.NOT_FOUND, f"unknown role '{role}'")
        eid = (election_id.high, election_id.low) if election_id is not None else None
        with self.lock:
            p = self._primary(role)
            if p is None or eid is None or p.election_id != eid:
                raise RuntimeErr(
                    grpc.StatusCode.PERMISSION_DENIED,
                    "only the primary client may do this (its election id is not the highest)",
                )

    def to_primary(self, m: R.StreamMessageResponse, role: str = "") -> bool:
        """Queue a packet-in, digest or notification for the primary; False if none."""
        with self.lock:
            p = self._primary(role)
        if p is None:
            return False
        p.out.put(m, droppable=True)
        return True

    def dropped(self) -> int:
        with self.lock:
            return sum(s.out.dropped for s in self.streams)
