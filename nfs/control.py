"""The control channel of `srem nf-host --control PATH`: the southbound interface of its
stateful NFs (get / put / delete of per-flow state by flow filter, holds for moves) and
their counters, over a local socket.

Protocol: one JSON object per line each way. A request names an `op` and, for NF ops, the
NF `nf` (its id); the answer is {"ok": true, ...} or {"ok": false, "error": "one line"}.

    {"op": "ping"}                                        -> {"ok", "pid", "nfs": [{id, kind}]}
    {"op": "stats"}                                       -> {"ok", "pid", "nfs": [counters], "rx_queue_bytes"}
    {"op": "get",    "nf": 7, "filter": {...}}            -> {"ok", "kind", "records": [...]}
    {"op": "put",    "nf": 7, "records": [...]}           -> {"ok", "count"}
    {"op": "delete", "nf": 7, "filter": {...}}            -> {"ok", "count"}
    {"op": "flows",  "nf": 7, "filter": {...}?, "limit": N?}
        -> {"ok", "kind", "window_s", "count", "truncated", "flows": [{flow, packets, bytes, pps, bps,
            age_s, idle_s}, ...]}   (busiest first; limit 10,000 by default, at most MAX_FRAMES)
    {"op": "hold",   "nf": 7, "move": "m1", "filter": {...}, "flows": [flow, ...]?}
    {"op": "narrow", "nf": 7, "move": "m1", "flows": [flow, ...]}  -> {"ok", "count"}
    {"op": "forget", "nf": 7, "flows": [flow, ...]}       -> {"ok", "count"}
    {"op": "held",   "nf": 7, "move": "m1"}               -> {"ok", "buffered", "seen"}
    {"op": "take",   "nf": 7, "move": "m1", "end": false} -> {"ok", "frames": [hex, ...]}  (end: the hold goes too)
    {"op": "inject", "nf": 7, "frames": [hex, ...]}       -> {"ok", "count"}
    {"op": "release","nf": 7, "move": "m1", "drop": false} -> {"ok", "count"}

Defences, since anything that can open the socket can send anything: the socket is made
mode 0600 (root's); a request line over MAX_REQUEST bytes is refused and the connection
closed (nothing read past the limit is parsed); at most MAX_CLIENTS connections at once;
a connection idle for IDLE_S is closed; every op validates its whole input before it
changes anything, and runs under the NF's lock, so racing requests see one after another.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import threading
import time
from pathlib import Path
from typing import Any

from nfs.flows import FilterError, Flow, FlowFilter
from nfs.stateful import RATE_WINDOW_S, StateError, StatefulNF

MAX_REQUEST = 32 << 20  # bytes in one request line (10,000 flows' state is ~2 MB)
MAX_FRAMES = 100_000
FLOWS_LIMIT = 10_000  # flows a `flows` answer lists unless told otherwise (the busiest first)
MAX_CLIENTS = 8
IDLE_S = 30.0
HOLD_LEASE_S = 60.0  # a hold no op touched for this long is released (its controller died mid-move)
OPS = (
    "ping",
    "stats",
    "get",
    "put",
    "delete",
    "flows",
    "forget",
    "hold",
    "narrow",
    "held",
    "take",
    "inject",
    "release",
)


class ControlError(Exception):
    """A refused request: its message is the one-line error sent back."""


class ControlServer:
    """Serves a SoftwareHost's control requests on a Unix socket, one thread per client."""

    def __init__(self, host: Any, path: str | Path, emit=None) -> None:
        self.host, self.path, self.emit = host, Path(path), emit
        self.stop = threading.Event()
        self.clients = threading.BoundedSemaphore(MAX_CLIENTS)
        if self.path.exists() or self.path.is_symlink():
            if not stat.S_ISSOCK(self.path.lstat().st_mode):
                raise OSError(f"{self.path} exists and is not a socket: not replacing it")
            self.path.unlink()  # a socket left by an earlier run
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # created 0600: no window in which others may connect
        try:
            self.sock.bind(str(self.path))
        finally:
            os.umask(old)
        self.sock.listen(16)
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.lease_s = HOLD_LEASE_S

    def start(self) -> ControlServer:
        self.thread.start()
        threading.Thread(target=self._reap, daemon=True).start()
        return self

    def _reap(self) -> None:
        while not self.stop.wait(min(1.0, self.lease_s / 4)):
            for nf in list(self.host.nfs.values()):
                if isinstance(nf, StatefulNF) and nf.holds:
                    nf.emit = self.emit
                    nf.expire(self.lease_s)

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
        with contextlib.suppress(OSError):
            self.path.unlink()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if not self.clients.acquire(blocking=False):
                _send(conn, {"ok": False, "error": f"busy: {MAX_CLIENTS} control connections already open"})
                conn.close()
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(IDLE_S)
        buf = bytearray()
        try:
            while not self.stop.is_set():
                nl = buf.find(b"\n")
                if nl < 0:
                    if len(buf) > MAX_REQUEST:
                        _send(conn, {"ok": False, "error": f"request over {MAX_REQUEST} bytes: refused"})
                        return
                    chunk = conn.recv(1 << 20)
                    if not chunk:
                        return
                    buf += chunk
                    continue
                line, buf = bytes(buf[:nl]), buf[nl + 1 :]
                if len(line) > MAX_REQUEST:
                    _send(conn, {"ok": False, "error": f"request over {MAX_REQUEST} bytes: refused"})
                    return
                _send(conn, self.answer(line))
        except (OSError, TimeoutError):
            pass
        finally:
            conn.close()
            self.clients.release()

    def answer(self, line: bytes) -> dict:
        try:
            try:
                req = json.loads(line)
            except (ValueError, UnicodeDecodeError):
                raise ControlError("request is not one JSON object") from None
            if not isinstance(req, dict):
                raise ControlError("request is not one JSON object")
            return {"ok": True, **self.do(req)}
        except (ControlError, StateError, FilterError) as e:
            return {"ok": False, "error": str(e).splitlines()[0] if str(e) else type(e).__name__}

    def _nf(self, req: dict) -> StatefulNF:
        nid = req.get("nf")
        if not isinstance(nid, int) or isinstance(nid, bool):
            raise ControlError(f"nf must be an NF id (an integer), not {nid!r}")
        nf = self.host.nfs.get(nid)
        if nf is None:
            raise ControlError(f"no NF instance {nid} on this host")
        if not isinstance(nf, StatefulNF):
            raise ControlError(f"NF {nid} is a stateless {nf.nf.kind}: it has no per-flow state")
        nf.emit = self.emit
        return nf

    def do(self, req: dict) -> dict:
        op = req.get("op")
        if op not in OPS:
            raise ControlError(f"unknown op {op!r} (ops: {', '.join(OPS)})")
        if op in ("ping", "stats"):
            nfs = [n for n in self.host.nfs.values() if isinstance(n, StatefulNF)]
            rows = [n.counters() if op == "stats" else {"id": n.id, "kind": n.kind} for n in nfs]
            if op == "stats":
                rows += [{"id": n.nf.id, "kind": n.nf.kind, **dict(n.stats)}
                         for n in self.host.nfs.values() if not isinstance(n, StatefulNF)]  # fmt: skip
            return {"pid": os.getpid(), "nfs": rows, "rx_queue_bytes": rx_queue_bytes()}
        nf = self._nf(req)
        move = req.get("move")
        if op in ("hold", "narrow", "held", "take", "release") and not (
            isinstance(move, str) and 0 < len(move) <= 64
        ):
            raise ControlError("move must be a name of 1 to 64 characters")
        if op == "get":
            return {"kind": nf.kind, "records": nf.get(FlowFilter.parse(req.get("filter")))}
        if op == "flows":  # per-flow counters and rates, for a planner that moves exact flows
            limit = req.get("limit", FLOWS_LIMIT)
            if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_FRAMES:
                raise ControlError(f"limit must be an integer in 1..{MAX_FRAMES}, not {limit!r}")
            count, rows = nf.flow_rates(FlowFilter.parse(req.get("filter")), limit)
            return {"kind": nf.kind, "window_s": RATE_WINDOW_S, "count": count, "truncated": count > len(rows),
                    "flows": rows}  # fmt: skip
        if op == "put":
            recs = req.get("records")
            if isinstance(recs, list) and len(recs) > MAX_FRAMES:
                raise ControlError(f"at most {MAX_FRAMES} records per put")
            return {"count": nf.put(recs)}
        if op == "delete":
            if "filter" not in req:
                raise ControlError("delete needs a filter ({} deletes every flow)")
            return {"count": nf.delete(FlowFilter.parse(req.get("filter")))}
        if op == "hold":
            flt = FlowFilter.parse(req.get("filter"))
            flows = _flows(req["flows"]) if "flows" in req else None
            nf.hold(move, flt)
            if flows is not None:
                nf.narrow(move, flows)
            return {}
        if op == "narrow":
            return {"count": nf.narrow(move, _flows(req.get("flows")))}
        if op == "forget":
            return {"count": nf.forget(_flows(req.get("flows")))}
        if op == "held":
            return nf.held(move)
        if op == "take":
            end = req.get("end", False)
            if not isinstance(end, bool):
                raise ControlError(f"end must be true or false, not {end!r}")
            return {"frames": [f.hex() for f in nf.take(move, end=end)]}
        if op == "inject":
            frames = req.get("frames")
            if not isinstance(frames, list) or len(frames) > MAX_FRAMES:
                raise ControlError(f"frames must be a list of at most {MAX_FRAMES} hex strings")
            try:
                raw = [bytes.fromhex(f) for f in frames]
            except (TypeError, ValueError):
                raise ControlError("frames must be hex strings") from None
            if any(len(f) > 9216 for f in raw):
                raise ControlError("a frame is over 9216 bytes")
            return {"count": nf.inject(raw)}
        return {"count": nf.release(move, drop=bool(req.get("drop", False)))}


def rx_queue_bytes() -> int:
    """Bytes waiting in this process's packet sockets (the NF host's receive queue: what the
    packet loop has not read yet), from /proc/self/net/packet."""
    try:
        mine = set()
        for fd in os.listdir("/proc/self/fd"):
            try:
                link = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                mine.add(link[8:-1])
        total = 0
        for line in Path("/proc/self/net/packet").read_text().splitlines()[1:]:
            f = line.split()
            if len(f) >= 9 and f[8] in mine:
                total += int(f[6])
        return total
    except (OSError, ValueError):
        return 0


def _flows(items: Any) -> list[Flow]:
    if not isinstance(items, list) or len(items) > MAX_FRAMES:
        raise ControlError(f"flows must be a list of at most {MAX_FRAMES} 5-tuples")
    return [Flow.parse(f, f"flows[{k}]") for k, f in enumerate(items)]


def _send(conn: socket.socket, obj: dict) -> None:
    with contextlib.suppress(OSError):
        conn.sendall(json.dumps(obj, separators=(",", ":")).encode() + b"\n")


class ControlClient:
    """The controller's end of one NF host's control socket. Errors the host sends back
    raise ControlError with its line; a dead host raises ConnectionError."""

    def __init__(self, path: str | Path, timeout: float = 10.0) -> None:
        self.path, self.timeout = str(path), timeout
        self.lock = threading.Lock()
        self._connect()

    def _connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        try:
            self.sock.connect(self.path)
        except OSError as e:
            self.sock.close()
            raise ConnectionError(f"NF host control socket {self.path}: {e.strerror or e}") from None
        self.file = self.sock.makefile("rb")
        self.used = time.monotonic()

    def call(self, op: str, **args: Any) -> dict:
        data = json.dumps({"op": op, **args}, separators=(",", ":")).encode() + b"\n"
        with self.lock:
            if time.monotonic() - self.used > IDLE_S / 2:
                # The host closes connections idle for IDLE_S: open a new one before it does
                # (no op is tied to a connection: holds are named by their move).
                self.close()
                self._connect()
            self.used = time.monotonic()
            try:
                self.sock.sendall(data)
                line = self.file.readline()
            except OSError as e:
                raise ConnectionError(f"NF host {self.path}: {e.strerror or e}") from None
        if not line:
            raise ConnectionError(f"NF host {self.path} closed the control connection")
        ans = json.loads(line)
        if not ans.get("ok"):
            raise ControlError(ans.get("error", "refused"))
        return ans

    def close(self) -> None:
        self.file.close()
        self.sock.close()
