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

from controller.orchestration.tablenat import TableNat
from nfs.flows import Flow
from p4rt.client import SwitchConnection
from p4rt.entities import TableWrite
from p4rt.errors import P4RuntimeError


class LmNat(TableNat):
    where = "LM"
    errors = (P4RuntimeError,)

    def __init__(self, conn: SwitchConnection, nf: int, public: str) -> None:
        super().__init__(nf, public)
        self.conn = conn

    def _entries(self, f: Flow, port: int) -> list[TableWrite]:
        pub = Flow.parse({**f.to_dict(), "src": self.public, "sport": port})
        out = []
        for m, t in ((f, pub), (pub.reverse(), f.reverse())):  # the flow, then its reply
            match = {"meta.nfId": self.nf, "hdr.ipv4.src": m.src, "hdr.ipv4.dst": m.dst,
                     "hdr.ipv4.proto": m.proto, "meta.sport": m.sport, "meta.dport": m.dport}  # fmt: skip
            out.append(TableWrite.of("nat", match, "nat_translate",
                                     {"src": t.src, "dst": t.dst, "sport": t.sport, "dport": t.dport}))  # fmt: skip
        return out

    def _write(self, fresh: dict[Flow, int]) -> None:
        self.conn.insert([w for f, p in fresh.items() for w in self._entries(f, p)])  # one batch
        self.map.update(fresh)

    def _remove(self, gone: list[Flow]) -> None:
        self.conn.insert([w for f in gone for w in self._entries(f, self.map[f])], "DELETE")
        for f in gone:
            del self.map[f]
