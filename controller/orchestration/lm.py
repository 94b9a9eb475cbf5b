"""A NAT instance in a switch's local memory (LM), as a move's endpoint.

fabric.p4's LM NAT is the `nat` table (exact 5-tuple → rewritten 5-tuple) keyed by the NF
id. A flow's mapping is two table entries (its direction and the reply's), written and
deleted over P4Runtime: a flow moved from a server NAT keeps its (public, port) so. The
switch cannot pick a port itself; `lmalloc.AllocatingLmNat` adds the allocation on a flow's
first packet (punted to the controller, sent back by packet-out) on top of this class.

`LmNat` answers the subset of the NF host control channel (nfs/control.py) that move()
uses: ping, stats, get / put / forget by flow. Its state is what the controller wrote (it
is the table's only writer). The switch cannot hold a flow's packets, so LM takes part in
`none` and `loss-free` moves only: into LM, the source holds and processes its own held
packets once the flows are steered (the mapping does not change, so either instance
translates them alike); out of LM, nothing needs holding, since the table keeps translating
until the steering switches the flows away.
"""

from __future__ import annotations

import threading
from typing import Any

from nfs.control import ControlError
from nfs.flows import Flow, FlowFilter
from p4rt.client import SwitchConnection
from p4rt.entities import TableWrite


class LmNat:
    kind = "snat"

    def __init__(self, conn: SwitchConnection, nf: int, public: str) -> None:
        self.conn, self.nf, self.public = conn, nf, public
        self.map: dict[Flow, int] = {}  # inside flow -> public port, as written to the switch
        self.lock = threading.Lock()

    def _entries(self, f: Flow, port: int) -> list[TableWrite]:
        pub = Flow.parse({**f.to_dict(), "src": self.public, "sport": port})
        out = []
        for m, t in ((f, pub), (pub.reverse(), f.reverse())):  # the flow, then its reply
            match = {"meta.nfId": self.nf, "hdr.ipv4.src": m.src, "hdr.ipv4.dst": m.dst,
                     "hdr.ipv4.proto": m.proto, "meta.sport": m.sport, "meta.dport": m.dport}  # fmt: skip
            out.append(TableWrite.of("nat", match, "nat_translate",
                                     {"src": t.src, "dst": t.dst, "sport": t.sport, "dport": t.dport}))  # fmt: skip
        return out

    def call(self, op: str, **args: Any) -> dict:
        from p4rt.errors import P4RuntimeError

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
                    fresh = {f: p for f, p in new.items() if f not in self.map}
                    self.conn.insert([w for f, p in fresh.items() for w in self._entries(f, p)])
                    self.map.update(fresh)
                    return {"ok": True, "count": len(new)}
                if op == "forget":
                    gone = [Flow.parse(f) for f in args.get("flows") or []]
                    gone = [f for f in gone if f in self.map]
                    self.conn.insert([w for f in gone for w in self._entries(f, self.map[f])], "DELETE")
                    for f in gone:
                        del self.map[f]
                    return {"ok": True, "count": len(gone)}
            except P4RuntimeError as e:
                raise ControlError(f"LM NAT {self.nf}: {str(e).splitlines()[0]}") from None
            raise ControlError(f"LM NAT {self.nf} cannot {op}: the switch holds no packets for a move")

    def close(self) -> None:
        pass
