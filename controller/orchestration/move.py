"""`move(flows, src, dst, guarantee)`: flows and their per-flow state from one NF instance
to another (OpenNF's northbound move), over the instances' southbound interface (the
control socket of `srem nf-host`, nfs/control.py) and the fabric's steering.

Guarantees and the protocol each runs (S = source instance, D = destination):

- none: get the state at S, delete it there, put it at D, steer the flows to D. Packets
  that reach S between the delete and the steering (or are in flight to S after it) are
  processed by S without the state: a NAT gives them a new mapping, a firewall drops
  replies. Fast; what it costs is counted by whoever watches the flow.
- loss-free: S holds the filter's packets (buffered in S's hold buffer, not processed),
  the state is read while nothing changes it and put at D, the flows are steered to D;
  then what S held is handed to D (through the controller) and processed there. Nothing
  is lost, but a packet held at S can reach D after later ones that took the new path.
- order-preserving: as loss-free, and D holds the moved flows' packets arriving by the new
  path until S's held packets are processed at D. The controller takes S's buffer once D
  has seen a packet by the new path (so earlier ones have left the switch toward S) plus
  `grace_s` for the last link, or after `first_wait_s` when the flows are idle; then, as
  the old path may be longer than the new one (several switches, each with its queue),
  until no packet of the moved flows has reached S for `quiet_s` (at most `settle_max_s`).

Buffers are the NFs' hold buffers: bounded by each NF's hold_limit (20,000 packets by
default); a packet past the bound is dropped and counted (`overflow` in the result: the
guarantee did not hold for it). A packet reaching S after its buffer was handed over is
injected at D too and counted as `late` (it may be out of order).

A move completes or is rolled back: any failure before the steering (D dead or refusing
the state, a P4Runtime error) deletes what was put at D, steers any flow back to S and
makes S process what it held, in order, with its state untouched. After the steering (the
commit point) a dead D is answered by steering the flows back to S, which still holds the
state as it was at the copy (S deletes it only at the very end); D's updates since are lost.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from controller.orchestration.steering import Steering
from nfs.control import ControlClient, ControlError
from nfs.flows import Flow, FlowFilter

GUARANTEES = ("none", "loss-free", "order-preserving")


class MoveError(Exception):
    """A move that cannot start (bad arguments, unreachable source): nothing changed."""


class NoRoom(Exception):
    """More steering entries than the switch can take: the move is refused and rolled back."""


@dataclass(frozen=True)
class Instance:
    """One NF instance: where its control socket is, its NF id there, and the service
    path (SPI) that reaches it."""

    name: str
    control: str
    nf: int
    spi: int
    lm: Any = field(default=None, compare=False)  # an LM endpoint (lm.LmNat) instead of a control socket
    # The MAC of the switch port the instance hangs off (what its frames come from); frames
    # held at another instance are re-addressed to it before they are injected here.
    gw_mac: str = field(default="", compare=False)

    def client(self, timeout_s: float) -> Any:
        return self.lm if self.lm is not None else ControlClient(self.control, timeout_s)


@dataclass
class MoveResult:
    guarantee: str
    src: str
    dst: str
    flows: int = 0
    held_src: int = 0  # packets S held and D processed
    held_dst: int = 0  # packets D held until S's were processed
    late: int = 0
    overflow: int = 0
    ok: bool = False
    rolled_back: bool = False
    error: str = ""
    duration_s: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)  # step -> seconds since start
    started: float = 0.0  # wall clock (time.time()) when it began: losses are matched against it
    sports: list[int] = field(default_factory=list)  # the moved flows' source ports (the first 10,000)

    def to_dict(self) -> dict:
        return asdict(self)


def readdress(frames: list[str], dst: Instance) -> list[str]:
    """Frames held at the source, as the destination would have received them: the service
    path through the destination (NSH SPI, the SI kept) and, when known, the destination's
    switch as the Ethernet source, which the NF answers to. Without it the processed frame
    would go back to the source's switch on the source's path: on one switch the same,
    across a fabric a loss (the destination's switch has no hop for the source's path)."""
    gw = bytes.fromhex(dst.gw_mac.replace(":", "")) if dst.gw_mac else b""
    spi = dst.spi.to_bytes(3, "big")
    out = []
    for h in frames:
        f = bytearray(bytes.fromhex(h))
        if len(f) >= 22:
            if gw:
                f[6:12] = gw
            f[18:21] = spi
        out.append(f.hex())
    return out


def _settle(s: Any, nf: int, mid: str, quiet_s: float, most_s: float) -> None:
    """Until S's hold has seen no new packet for quiet_s, or most_s in all."""
    end, last, since = time.monotonic() + most_s, -1, time.monotonic()
    while time.monotonic() < end:
        seen = s.call("held", nf=nf, move=mid)["seen"]
        if seen != last:
            last, since = seen, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
        time.sleep(0.01)


def wire_flows(kind: str, records: list[dict]) -> list[Flow]:
    """The 5-tuples a moved flow's packets carry at the steering switch, both directions:
    the inside flow and its reply (for a NAT, the reply is addressed to the mapping)."""
    out = []
    for r in records:
        f = Flow.parse(r["flow"])
        out.append(f)
        if kind == "snat":
            pub = Flow.parse({**r["flow"], "src": r["nat"]["src"], "sport": r["nat"]["sport"]})
            out.append(pub.reverse())
        else:
            out.append(f.reverse())
    return out


def move(
    flows: FlowFilter | dict | list,
    src: Instance,
    dst: Instance,
    guarantee: str,
    steering: Steering,
    grace_s: float = 0.02,
    first_wait_s: float = 0.5,
    quiet_s: float = 0.1,
    settle_max_s: float = 2.0,
    timeout_s: float = 10.0,
    hook: Callable[[str], None] | None = None,
) -> MoveResult:
    """Move the flows of `src` matching `flows` (a filter, or a list of exact flows) to `dst`. Returns what happened; raises
    MoveError only when nothing was touched. `hook(step)` runs after each step (tests use
    it to kill an instance mid-move)."""
    if guarantee not in GUARANTEES:
        raise MoveError(f"guarantee must be one of {', '.join(GUARANTEES)}, not {guarantee!r}")
    if src.control == dst.control and src.nf == dst.nf and src.lm is dst.lm:
        raise MoveError(f"{src.name} and {dst.name} are the same instance")
    if guarantee == "order-preserving" and (src.lm is not None or dst.lm is not None):
        raise MoveError(
            "order-preserving moves need both instances to hold packets; LM cannot (loss-free can)"
        )
    only: list[dict] | None = None
    if isinstance(flows, list):  # exactly these flows (a planner's share of an instance's flows)
        only = [f.to_dict() if isinstance(f, Flow) else Flow.parse(f).to_dict() for f in flows]
        flt = FlowFilter()
    else:
        flt = flows if isinstance(flows, FlowFilter) else FlowFilter.parse(flows)
    res = MoveResult(guarantee, src.name, dst.name, started=time.time())
    t0 = time.monotonic()
    mark = lambda step: (res.steps.__setitem__(step, round(time.monotonic() - t0, 6)), hook and hook(step))
    try:
        s = src.client(timeout_s)
    except ConnectionError as e:
        raise MoveError(f"source {src.name}: {e}") from None
    d: ControlClient | None = None
    mid = f"move-{uuid.uuid4().hex[:12]}"
    held = steered = False
    snap: dict = {}
    recs: list[dict] = []
    wire: list[Flow] = []
    try:
        try:
            kind = _kind(s, src)
            d = dst.client(timeout_s)
            if _kind(d, dst) != kind:
                raise MoveError(f"{dst.name} is a {_kind(d, dst)}, {src.name} a {kind}: no state to move")
            if guarantee != "none" and src.lm is None:  # LM keeps translating until the steering: no hold
                extra = {} if only is None else {"flows": only}
                s.call("hold", nf=src.nf, move=mid, filter=flt.to_dict(), **extra)
                held = True
                mark("hold")
            recs = s.call("get", nf=src.nf, filter=flt.to_dict())["records"]
            if only is not None:
                wanted = {json.dumps(f, sort_keys=True) for f in only}
                recs = [r for r in recs if json.dumps(r["flow"], sort_keys=True) in wanted]
            res.flows = len(recs)
            moved = [r["flow"] for r in recs]
            res.sports = [int(f["sport"]) for f in moved[:10_000]]
            wire = wire_flows(kind, recs)
            room = getattr(steering, "room", None)
            if room is not None and len(wire) > room():
                # Refused before anything but S's hold changed (the rollback releases it).
                raise NoRoom(f"{len(recs)} flows need {len(wire)} steering entries; the switch has room "
                             f"for {room()} at most")  # fmt: skip
            mark("get")
            if held:
                s.call("narrow", nf=src.nf, move=mid, flows=moved)
            if not recs:
                if held:
                    s.call("release", nf=src.nf, move=mid)
                res.ok, res.duration_s = True, time.monotonic() - t0
                return res
            if guarantee == "none":
                s.call("forget", nf=src.nf, flows=moved)
            d.call("put", nf=dst.nf, records=recs)
            mark("put")
            if guarantee == "order-preserving":
                d.call("hold", nf=dst.nf, move=mid, filter=flt.to_dict(), flows=moved)
                mark("hold-dst")
            snap = steering.snapshot(wire)
            steered = True  # from here on a failure steers back
            steering.steer(wire, dst.spi)
            mark("steer")
        except MoveError:
            raise
        except Exception as e:  # ControlError, ConnectionError, P4Runtime errors: roll back
            undo = _safe_rollback(s, d, src, dst, mid, recs, snap, steering, held, steered, guarantee)
            res.rolled_back, res.error = True, _line(e) + undo
            res.overflow = _overflow(s, src)
            res.duration_s = time.monotonic() - t0
            return res
        if guarantee == "none":
            res.ok, res.duration_s = True, time.monotonic() - t0
            return res
        try:
            if guarantee == "order-preserving":
                end = time.monotonic() + first_wait_s
                while time.monotonic() < end and d.call("held", nf=dst.nf, move=mid)["seen"] == 0:
                    time.sleep(0.002)
            time.sleep(grace_s)
            if guarantee == "order-preserving" and held and src.lm is None:
                # Packets still on the old path would reach S after its buffer was taken and
                # be injected late (out of order): wait until S has been quiet for quiet_s.
                _settle(s, src.nf, mid, quiet_s, settle_max_s)
            mark("drain")
            if held and dst.lm is not None:
                # Into LM: S translates what it held itself (the mapping is the one LM has).
                res.held_src = s.call("release", nf=src.nf, move=mid)["count"]
                held = False
                mark("release-src")
            elif held:
                frames = s.call("take", nf=src.nf, move=mid)["frames"]
                res.held_src = len(frames)
                if frames:
                    d.call("inject", nf=dst.nf, frames=readdress(frames, dst))
                mark("inject")
            if guarantee == "order-preserving":
                res.held_dst = d.call("held", nf=dst.nf, move=mid)["buffered"]
                d.call("release", nf=dst.nf, move=mid)
                mark("release")
        except Exception as e:  # D died after the commit: the flows go back to S
            undo = _safe_rollback(s, d, src, dst, mid, recs, snap, steering, held, True, guarantee)
            res.rolled_back, res.error = True, f"after steering: {_line(e)}{undo}"
            res.overflow = _overflow(s, src)
            res.duration_s = time.monotonic() - t0
            return res
        # S: anything that still reached it goes to D too, then S forgets the flows. The move
        # is done whatever happens here (the flows are at D); a failure is reported.
        try:
            stats: dict = {}
            if held:
                # One step: what S still holds is handed over and the hold ends together, so
                # nothing arriving in between is dropped. A packet reaching S after it (and
                # before the forget) is translated by S with the state it still has.
                late = s.call("take", nf=src.nf, move=mid, end=True)["frames"]
                if late:
                    res.late = len(late)
                    d.call("inject", nf=dst.nf, frames=readdress(late, dst))
                stats = {n["id"]: n for n in s.call("stats")["nfs"]}
            s.call("forget", nf=src.nf, flows=[r["flow"] for r in recs])
            res.overflow = stats.get(src.nf, {}).get("hold_overflow", 0)
            if guarantee == "order-preserving":
                dstats = {n["id"]: n for n in d.call("stats")["nfs"]}
                res.overflow += dstats.get(dst.nf, {}).get("hold_overflow", 0)
        except (ControlError, ConnectionError) as e:
            res.error = f"moved; cleaning up the source failed: {_line(e)}"
        mark("done")
        res.ok, res.duration_s = True, time.monotonic() - t0
        return res
    finally:
        s.close()
        if d is not None:
            d.close()


def _kind(c: ControlClient, inst: Instance) -> str:
    kinds = {n["id"]: n["kind"] for n in c.call("ping")["nfs"]}
    if inst.nf not in kinds:
        raise MoveError(f"{inst.name}: no stateful NF {inst.nf} on its host")
    return kinds[inst.nf]


def _safe_rollback(*args) -> str:
    """_rollback, and what it could not do (the source itself died, the switch refused)."""
    try:
        _rollback(*args)
        return ""
    except Exception as e:  # reported in the result: the move must not raise past this point
        return f"; rollback incomplete: {_line(e)}"


def _rollback(s, d, src, dst, mid, recs, snap, steering, held, steered, guarantee) -> None:
    """Both instances consistent again, the flows on S: each step best effort, in the
    order that keeps packets flowing (steer back first, then S processes what it held)."""
    if steered and snap:
        steering.restore(snap)  # entries the move added deleted, changed ones reset
    if guarantee == "none" and recs:
        s.call("put", nf=src.nf, records=recs)  # S had forgotten them already
    if d is not None:
        for op, args in (
            ("release", {"move": mid, "drop": True}),
            ("forget", {"flows": [r["flow"] for r in recs]}),
        ):
            with contextlib.suppress(ControlError, ConnectionError, OSError):  # D dead: nothing to undo
                d.call(op, nf=dst.nf, **args)
    if held:
        s.call("release", nf=src.nf, move=mid)


def _overflow(s: ControlClient, src: Instance) -> int:
    """Packets S dropped past its hold bound (counted since it started: a rolled-back move
    reports them, as they were lost to it or an earlier move)."""
    try:
        return {n["id"]: n for n in s.call("stats")["nfs"]}.get(src.nf, {}).get("hold_overflow", 0)
    except (ControlError, ConnectionError):
        return 0


def _line(e: Any) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"
