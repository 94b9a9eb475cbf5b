"""A NAT whose state is a switch table the controller writes (LM over P4Runtime, EM through
the EMAC), as a move's endpoint: the subset of the NF host control channel (nfs/control.py)
that move() uses, ping, stats, get / put / forget by flow. The controller is the table's
only writer, so `map` is its state. Subclasses say how a flow's two entries (its direction
and the reply's) are written and removed."""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from nfs.control import ControlError
from nfs.flows import Flow, FlowFilter


class TableNat:
    kind = "snat"
    where: ClassVar[str] = ""  # "LM" or "EM", for errors
    errors: ClassVar[tuple[type[Exception], ...]] = ()  # the writer's own failures

    def __init__(self, nf: int, public: str) -> None:
        self.nf, self.public = nf, public
        self.map: dict[Flow, int] = {}  # inside flow -> public port, as written
        self.lock = threading.Lock()

    def _write(self, fresh: dict[Flow, int]) -> None:
        """Write the entries of these new mappings, all or nothing."""
        raise NotImplementedError

    def _remove(self, gone: list[Flow]) -> None:
        """Remove these mappings' entries (they are in `map`)."""
        raise NotImplementedError

    def call(self, op: str, **args: Any) -> dict:
        with self.lock:
            if op == "ping":
                return {"ok": True, "nfs": [{"id": self.nf, "kind": self.kind}]}
            if op == "stats":
                return {"ok": True, "nfs": [{"id": self.nf, "kind": self.kind, "flows": len(self.map)}]}
            if op == "get":
                flt = FlowFilter.parse(args.get("filter"))
                recs = [{"flow": f.to_dict(), "nat": {"src": self.public, "sport": p}}
                        for f, p in sorted(self.map.items()) if flt.matches(f)]  # fmt: skip
                return {"ok": True, "kind": self.kind, "records": recs}
            try:
                if op == "put":
                    new = {}
                    for k, r in enumerate(args.get("records") or []):
                        if not isinstance(r, dict) or "nat" not in r or r["nat"].get("src") != self.public:
                            raise ControlError(f"records[{k}]: not a NAT mapping to {self.public}")
                        new[Flow.parse(r["flow"], f"records[{k}].flow")] = int(r["nat"]["sport"])
                    self._write({f: p for f, p in new.items() if f not in self.map})
                    return {"ok": True, "count": len(new)}
                if op == "forget":
                    gone = [Flow.parse(f) for f in args.get("flows") or []]
                    gone = [f for f in gone if f in self.map]
                    self._remove(gone)
                    return {"ok": True, "count": len(gone)}
            except self.errors as e:
                raise ControlError(f"{self.where} NAT {self.nf}: {str(e).splitlines()[0]}") from None
            raise ControlError(
                f"{self.where} NAT {self.nf} cannot {op}: the switch holds no packets for a move"
            )

    def close(self) -> None:
        pass
