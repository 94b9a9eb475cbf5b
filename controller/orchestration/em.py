"""A NAT instance in a switch's external memory (EM), as a move's endpoint.

fabric.p4 reads a NAT placed in EM from a memory server by RDMA: an exact 5-tuple table the
EMAC writes (emac/api.py, through the controller's P4Runtime session and RDMA WRITEs). Like
the LM NAT (lm.py) it translates but cannot allocate a mapping on a first packet, and the
switch cannot hold a flow's packets: EM takes part in `none` and `loss-free` moves, with the
mapping written before the flows are steered to it (a packet that misses the switch's cache
is read from memory, so a written entry serves the next packet) and deleted after they left.

`EmNat` answers the subset of the NF host control channel that move() uses (ping, stats,
get / put / forget by flow); its state is what the controller wrote (it is the table's only
writer). Two entries per flow: its direction and the reply's, addressed to the mapping.
"""

from __future__ import annotations

import threading
from typing import Any

from emac.api import Emac, EmacError
from emac.layout import ACT_NAT, Entry, FlowKey, nat_data
from nfs.control import ControlError
from nfs.flows import Flow, FlowFilter


class EmNat:
    kind = "snat"

    def __init__(self, emac: Emac, nf: int, public: str) -> None:
        self.emac, self.nf, self.public = emac, nf, public
        self.map: dict[Flow, int] = {}  # inside flow -> public port, as written to memory
        self.lock = threading.Lock()

    def _entries(self, f: Flow, port: int) -> list[Entry]:
        pub = Flow.parse({**f.to_dict(), "src": self.public, "sport": port})
        out = []
        for m, t in ((f, pub), (pub.reverse(), f.reverse())):  # the flow, then its reply
            key = FlowKey(m.src, m.dst, m.proto, m.sport, m.dport)
            out.append(Entry(key, ACT_NAT, nat_data(t.src, t.dst, t.sport, t.dport)))
        return out

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
                    done: list[Flow] = []
                    try:
                        for f, p in new.items():
                            if f not in self.map:
                                for e in self._entries(f, p):
                                    self.emac.put(self.nf, e)
                                done.append(f)
                                self.map[f] = p
                    except EmacError:
                        for f in done:  # all or nothing: what this put wrote goes again
                            self._delete(f)
                        raise
                    return {"ok": True, "count": len(new)}
                if op == "forget":
                    gone = [Flow.parse(f) for f in args.get("flows") or []]
                    gone = [f for f in gone if f in self.map]
                    for f in gone:
                        self._delete(f)
                    return {"ok": True, "count": len(gone)}
            except EmacError as e:
                raise ControlError(f"EM NAT {self.nf}: {str(e).splitlines()[0]}") from None
            raise ControlError(f"EM NAT {self.nf} cannot {op}: the switch holds no packets for a move")

    def _delete(self, f: Flow) -> None:
        for e in self._entries(f, self.map.pop(f)):
            self.emac.delete(self.nf, e.key)

    def close(self) -> None:
        pass
