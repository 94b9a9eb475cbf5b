"""From the model to the fabric: a day's chains, its NF instances and a placement as
the `controller.chains` inputs.

- NF instance i is NF id i + 1; the scenario's VNF type j is the NF kind
  `NF_KINDS[j % 4]` (firewall, NAT, load balancer, rate limiter).
- Chain r is SPI r + 1, sent between the servers the replay plan gives it, from UDP
  source port 10000 + r to port 9000.
- Each instance gets entries that let the replay's traffic through and do real work on
  it: the firewall permits UDP to port 9000 and denies the rest; the NAT rewrites each
  of its chains' source ports (+20000); the rate limiter's meter is far above the
  replay's rates; the load balancer has no VIP for replay traffic, so it passes it.
- A host index of the model is `Hop(kind, node)` by the substrate's host tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from controller.program.chains import Chain, ChainState, Hop, PlacementError, compile_chains
from controller.program.flows import DPORT, ChainFlow
from nfs.entries import NF, parse_nfs
from p4rt.schema import P4InfoIndex
from placement.model.domain import HostKind, Substrate
from placement.model.workload import Day
from topologies.addressing import FabricPlan

NF_KINDS = ("firewall", "nat", "lb", "ratelimit")
NAT_PORT_SHIFT = 20000
METER_PPS = 1_000_000
KIND = {HostKind.SERVER: "server", HostKind.LM: "lm", HostKind.EM: "em"}


def nf_id(instance: int) -> int:
    if not 0 <= instance < 255:
        raise ValueError(f"instance {instance}: the fabric numbers at most 255 NF instances")
    return instance + 1


def chains_of(day: Day, flows: Sequence[ChainFlow]) -> list[Chain]:
    out = []
    for f in flows:
        r = f.chain
        instances = [int(i) for i in day.assign[r] if i >= 0]
        out.append(
            Chain(
                spi=r + 1,
                src=f.src_server,
                dst=f.dst_server,
                sport=f.sport,
                dport=DPORT,
                nfs=tuple(nf_id(i) for i in instances),
            )
        )
    return out


def nfs_of(inst_type: np.ndarray, chains: Sequence[Chain], fabric: FabricPlan) -> dict[int, NF]:
    """Every instance's NF with entries for the chains that use it."""
    users: dict[int, list[Chain]] = {}
    for c in chains:
        for nf in c.nfs:
            users.setdefault(nf, []).append(c)
    items = []
    for i, t in enumerate(inst_type):
        nid, kind = nf_id(i), NF_KINDS[int(t) % len(NF_KINDS)]
        if kind == "firewall":
            items.append({"id": nid, "kind": kind, "default": "deny",
                          "rules": [{"priority": 10, "proto": 17, "dport": DPORT, "action": "permit"}]})  # fmt: skip
        elif kind == "nat":
            entries = []
            for c in users.get(nid, []):
                src, dst = fabric.servers[c.src].ip, fabric.servers[c.dst].ip
                match = {"src": src, "dst": dst, "proto": c.proto, "sport": c.sport, "dport": c.dport}
                entries.append({"match": match, "to": {"sport": c.sport + NAT_PORT_SHIFT}})
            items.append({"id": nid, "kind": kind, "entries": entries})
        elif kind == "lb":
            items.append({"id": nid, "kind": kind, "vips": []})
        else:
            items.append({"id": nid, "kind": kind, "cir": METER_PPS, "cburst": METER_PPS // 10,
                          "pir": METER_PPS, "pburst": METER_PPS // 10})  # fmt: skip
    return parse_nfs(items, "scenario NFs")


def hops_of(sub: Substrate, placement: np.ndarray) -> dict[int, Hop]:
    """The model's placement (host index per instance) as fabric hops."""
    out = {}
    for i, h in enumerate(placement):
        kind = HostKind(int(sub.host_kind[int(h)]))
        out[nf_id(i)] = Hop(nf_id(i), KIND[kind], sub.names[int(sub.host_node[int(h)])])
    return out


def placement_state(
    sub: Substrate,
    inst_type: np.ndarray,
    day: Day,
    flows: Sequence[ChainFlow],
    fabric: FabricPlan,
    index: P4InfoIndex,
    placement: np.ndarray,
    *,
    emac: bool = True,
) -> ChainState:
    """The fabric state of one step's placement (NFs of kinds the EM cannot hold are
    served from LM tables where the model put them in EM: `ChainState.em_in_lm`)."""
    missing = set(sub.names) - set(fabric.switches) - set(fabric.servers)
    if missing:
        raise PlacementError(f"the fabric has no node {sorted(missing)[0]!r} of the model's substrate")
    chains = chains_of(day, flows)
    nfs = nfs_of(inst_type, chains, fabric)
    return compile_chains(fabric, index, chains, hops_of(sub, placement), nfs, em_stand_in=True, emac=emac)
