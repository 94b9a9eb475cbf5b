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

from controller.orchestration.tablenat import TableNat
from emac.api import Emac, EmacError
from emac.layout import ACT_NAT, Entry, FlowKey, nat_data
from nfs.flows import Flow


class EmNat(TableNat):
    where = "EM"
    errors = (EmacError,)

    def __init__(self, emac: Emac, nf: int, public: str) -> None:
        super().__init__(nf, public)
        self.emac = emac

    def _entries(self, f: Flow, port: int) -> list[Entry]:
        pub = Flow.parse({**f.to_dict(), "src": self.public, "sport": port})
        out = []
        for m, t in ((f, pub), (pub.reverse(), f.reverse())):  # the flow, then its reply
            key = FlowKey(m.src, m.dst, m.proto, m.sport, m.dport)
            out.append(Entry(key, ACT_NAT, nat_data(t.src, t.dst, t.sport, t.dport)))
        return out

    def _write(self, fresh: dict[Flow, int]) -> None:
        done: list[Flow] = []
        try:
            for f, p in fresh.items():
                for e in self._entries(f, p):
                    self.emac.put(self.nf, e)
                done.append(f)
                self.map[f] = p
        except EmacError:
            self._remove(done)  # all or nothing: what this put wrote goes again
            raise

    def _remove(self, gone: list[Flow]) -> None:
        for f in gone:
            for e in self._entries(f, self.map.pop(f)):
                self.emac.delete(self.nf, e.key)
