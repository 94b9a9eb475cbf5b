"""`make bench`, EM part: an NF in external memory against the same NF in local memory,
on the reference target (p4src/fabric.p4, in-process ports, memory server in process).

1. Per-packet latency (one packet in flight) and packets/s (bursts) through a chain of one
   NAT hosted in LM, in EM with the entry cached (hit), and in EM on a cache miss (every
   packet a new flow: one RDMA READ each), as ratios to LM in the same run; the same for
   an L4 load balancer (LB in LM, in EM hit, in EM miss: every packet to a VIP not seen
   yet, since the LB's cache entry is per (VIP, backend slot), not per flow).
2. RDMA-table hit ratio against cache size for a Zipf(1.1) mix of 100,000 flows: a replay
   of the switch's cache policy (direct-mapped, index crc16(nf, 5-tuple) mod size, filled
   on every answered miss), checked in the same run against the switch itself on a sample
   (its hit/miss counters must equal the replay's).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import json
import statistics
import struct
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from scapy.all import IP, TCP, Ether, raw

from emac.layout import ACT_NAT, BucketFull, EmTable, Entry, FlowKey, nat_data
from nfs.entries import em_entries, lm_writes, parse_nfs
from p4rt.entities import Range, TableWrite, Ternary
from p4target.switch.hashes import crc16
from tests.benchmarks.report import report
from tests.fabric_net import MAC, chain_path, received, two_switches

NF = 2
NF_LM = 5
LB_EM, LB_LM = 6, 7  # load balancers: VIPs 10.0.2.2:1000.. in EM, 10.0.2.2:2000.. in LM
LB_HOT = 8  # VIPs with 2 backends each that hot flows use; the rest have one, each used once
FLOWS = 100_000
OUT = "results/bench/em.json"


def key(i: int, dport: int = 81) -> FlowKey:
    return FlowKey(0x0A010000 | (i >> 14), 0x0A000202, 6, 1024 + (i & 0x3FFF), dport)


def frame(i: int, dport: int = 81) -> bytes:
    k = key(i, dport)
    ip = lambda v: ".".join(str(b) for b in struct.pack("!I", v))
    return raw(
        Ether(src=MAC["H1"], dst=MAC["S1"])
        / IP(src=ip(k.src), dst=ip(k.dst))
        / TCP(sport=k.sport, dport=k.dport)
        / b"x"
    )


def nat(i: int, dport: int = 81) -> Entry:
    return Entry(key(i, dport), ACT_NAT, nat_data("198.51.100.1", "10.0.2.2", 20000 + (i & 0x7FFF), 80))


def fits(entries: list[Entry], buckets: int) -> list[Entry]:
    t, out = EmTable(NF, buckets), []
    for e in entries:
        try:
            t.put(e)
            out.append(e)
        except BucketFull:
            pass  # the layout's overflow policy: refused (kept out of this run)
    return out


def lbs(cold: int) -> tuple:
    """The load balancers in EM (LB_HOT + cold VIPs) and in LM (LB_HOT VIPs)."""
    vip = lambda port, n: {"vip": "10.0.2.2", "proto": 6, "port": port,
                           "backends": [["10.0.2.2", 8080 + b] for b in range(n)]}  # fmt: skip
    em = [vip(1000 + k, 2 if k < LB_HOT else 1) for k in range(LB_HOT + cold)]
    lm = [vip(2000 + k, 2) for k in range(LB_HOT)]
    nfs = parse_nfs([{"id": LB_EM, "kind": "lb", "vips": em}, {"id": LB_LM, "kind": "lb", "vips": lm}])
    return nfs[LB_EM], nfs[LB_LM]


def setup(em: list[Entry], lm: list[Entry] = (), cache: int = 16384, lb_cold: int | None = None):
    """One network with both: dport 81 flows go through a NAT in EM (NF 2, chain 10),
    dport 80 flows through the same NAT in LM (NF 5, chain 11); with lb_cold, dports
    1000.. through an LB in EM (chain 12) and 2000.. through an LB in LM (chain 13)."""
    # A long bound: a burst of misses keeps many packets circling, which slows the READs down
    # on this Python target; the benchmark measures the rate, not the fallback.
    net, emac, _ms = two_switches(cache_size=cache, bound_us=30_000_000, retry_us=5_000_000)
    s1 = net.switches["S1"]
    cls = lambda port, spi, hi=None: TableWrite.of(
        "classifier", {"sm.ingress_port": Ternary(1, 0x1FF), "meta.dport": Range(port, hi or port)}, "classify",
        {"spi": spi}, priority=1,
    )  # fmt: skip
    s1.client.insert([cls(81, 10), cls(80, 11)])
    emac.place(NF, em, qp=0, buckets=4096)
    if lb_cold is not None:
        lb_em, lb_lm = lbs(lb_cold)
        s1.client.insert([cls(1000, 12, 1999), cls(2000, 13, 2999)])
        emac.place(LB_EM, em_entries(lb_em), qp=0, buckets=1024, kind="lb")
        s1.client.insert(lm_writes(lb_lm))
        chain_path(net, 12, [(LB_EM, "lb", "S1:EM")])
        chain_path(net, 13, [(LB_LM, "lb", "S1:LM")])
    s1.client.insert(
        [
            TableWrite.of(
                "nat",
                {"meta.nfId": NF_LM, "hdr.ipv4.src": e.key.src, "hdr.ipv4.dst": e.key.dst, "hdr.ipv4.proto": 6,
                 "meta.sport": e.key.sport, "meta.dport": e.key.dport},
                "nat_translate",
                dict(zip(("src", "dst", "sport", "dport"), struct.unpack("!IIHH", e.data), strict=True)),
            )
            for e in lm
        ]
    )  # fmt: skip
    chain_path(net, 10, [(NF, "nat", "S1:EM")])
    chain_path(net, 11, [(NF_LM, "nat", "S1:LM")])
    return net, emac


def one(net, f: bytes) -> float:
    s1, h2 = net.switches["S1"], net.hosts["H2"]
    t = time.perf_counter()
    s1.ports[1].rx.put(f)
    if len(received(h2, 1, timeout=5)) != 1:
        raise RuntimeError("a packet did not come out")
    return time.perf_counter() - t


def burst_rate(net, frames: list[bytes]) -> float:
    s1, h2 = net.switches["S1"], net.hosts["H2"]
    t = time.perf_counter()
    for f in frames:
        s1.ports[1].rx.put(f)
    got = received(h2, len(frames), timeout=30)
    if len(got) != len(frames):
        raise RuntimeError(f"{len(frames) - len(got)} packets of the burst did not come out")
    return len(frames) / (time.perf_counter() - t)


def latency_and_rate() -> tuple[dict, dict, dict]:
    """LM, EM hit and EM miss measured interleaved in one network, so that a machine's
    changing load weighs on all three alike."""
    n_lat, n_burst, rounds = 60, 150, 3
    hot = list(range(8))
    cold = list(range(100, 100 + n_lat + rounds * n_burst))
    em = fits([nat(i) for i in hot + cold], 4096)
    cold = [i for i in cold if nat(i) in em]
    lm = [nat(i, 80) for i in hot]
    names = ["LM", "EM hit", "EM miss", "LB LM", "LB EM hit", "LB EM miss"]
    lat: dict[str, list[float]] = {k: [] for k in names}
    pps: dict[str, list[float]] = {k: [] for k in names}
    lb_cold = [1000 + LB_HOT + k for k in range(n_lat + rounds * n_burst)]  # one VIP each: a miss
    net, emac = setup(em, lm, lb_cold=len(lb_cold))
    try:
        for i in hot:  # warm up, fill the cache
            one(net, frame(i, 80))
            one(net, frame(i))
            for k in range(LB_HOT):  # every backend slot of every hot VIP
                one(net, frame(i, 1000 + k))
                one(net, frame(i, 2000 + k))
        for k in range(n_lat):
            lat["LM"].append(one(net, frame(hot[k % 8], 80)))
            lat["EM hit"].append(one(net, frame(hot[k % 8])))
            lat["EM miss"].append(one(net, frame(cold[k])))
            lat["LB LM"].append(one(net, frame(hot[k % 8], 2000 + k % LB_HOT)))
            lat["LB EM hit"].append(one(net, frame(hot[k % 8], 1000 + k % LB_HOT)))
            lat["LB EM miss"].append(one(net, frame(hot[k % 8], lb_cold[k])))
        st = emac.stats()  # fetch latency with one packet in flight
        nxt = n_lat
        for r in range(rounds):
            bursts = {
                "LM": [frame(hot[k % 8], 80) for k in range(n_burst)],
                "EM hit": [frame(hot[k % 8]) for k in range(n_burst)],
                "EM miss": [frame(i) for i in cold[nxt : nxt + n_burst]],
                "LB LM": [frame(hot[k % 8], 2000 + k % LB_HOT) for k in range(n_burst)],
                "LB EM hit": [frame(hot[k % 8], 1000 + k % LB_HOT) for k in range(n_burst)],
                "LB EM miss": [frame(hot[k % 8], p) for p in lb_cold[nxt : nxt + n_burst]],
            }
            nxt += n_burst
            for name in names[r % 3 :] + names[: r % 3]:  # a different one goes first each round
                pps[name].append(burst_rate(net, bursts[name]))
    finally:
        net.close()
    return (
        {k: statistics.median(v) for k, v in lat.items()},
        {k: statistics.median(v) for k, v in pps.items()},
        st,
    )


def zipf_trace(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = np.arange(1, FLOWS + 1, dtype=float) ** -1.1
    p /= p.sum()
    return rng.choice(FLOWS, size=n, p=p)


def cache_index(i: int) -> int:
    k = key(i)
    return crc16(bytes([NF]) + k.packed())


def replay(trace: np.ndarray, size: int, index: dict[int, int]) -> tuple[int, int]:
    """Hits and misses of the switch's direct-mapped cache over a trace, one packet at a time."""
    slots = np.full(size, -1, dtype=np.int64)
    hits = 0
    for i in trace.tolist():
        c = index[i] & (size - 1)
        if slots[c] == i:
            hits += 1
        else:
            slots[c] = i
    return hits, len(trace) - hits


def check_replay_against_switch(n: int = 200, size: int = 128) -> tuple[int, int, int, int]:
    trace = zipf_trace(n, seed=1) % 1000  # 1,000 flows: their entries fit one EM table
    entries = fits([nat(i) for i in sorted(set(trace.tolist()))], 4096)
    placed = {e.key for e in entries}
    trace = np.array([i for i in trace.tolist() if key(i) in placed])
    index = {i: cache_index(i) for i in set(trace.tolist())}
    net, emac = setup(entries, cache=size)
    try:
        for i in trace.tolist():
            one(net, frame(i))
        st = emac.stats()
    finally:
        net.close()
    hits, misses = replay(trace, size, index)
    return int(st["hit"]), int(st["miss"]), hits, misses


def main() -> None:
    lat, pps, st = latency_and_rate()
    c = Console()
    t = Table(
        title="NAT and LB lookup on the reference target: per-packet latency, one packet in flight (lower is better)"
    )
    for h in ("where", "median latency (ms)", "ratio to LM", "ratio to the same NF in LM"):
        t.add_column(h, justify="right")
    for name, v in lat.items():
        own = lat["LB LM"] if name.startswith("LB") else lat["LM"]
        t.add_row(name, f"{v * 1e3:.2f}", f"{v / lat['LM']:.2f}", f"{v / own:.2f}")
    c.print(t)
    report(
        "NAT and LB lookup on the reference target, packets per second (higher is better)",
        pps,
        "LM",
        "packets/s",
        OUT,
    )
    c.print(f"LB in EM against LB in LM, packets/s: hit {pps['LB EM hit'] / pps['LB LM']:.2f}x, "
            f"miss {pps['LB EM miss'] / pps['LB LM']:.2f}x")  # fmt: skip
    c.print(f"EM fetch latency, one packet in flight (switch's clock, READ out -> response in): "
            f"mean {st['fetch_us_mean'] / 1e3:.2f} ms, max {st['fetch_us_max'] / 1e3:.2f} ms over {int(st['fetches'])} READs (NAT and LB)")  # fmt: skip
    sw_hits, sw_misses, rp_hits, rp_misses = check_replay_against_switch()
    ok = (sw_hits, sw_misses) == (rp_hits, rp_misses)
    c.print(f"cache replay vs the switch on 200 packets, cache 128: switch {sw_hits} hits / {sw_misses} misses, "
            f"replay {rp_hits} / {rp_misses}: {'equal' if ok else 'DIFFERENT'}")  # fmt: skip
    trace = zipf_trace(200_000)
    index = {i: cache_index(i) for i in set(trace.tolist())}
    ratios = {}
    t = Table(
        title="RDMA-table hit ratio, Zipf(1.1) over 100,000 flows, 200,000 packets (replay of the switch's cache)"
    )
    for h in ("cache entries", "hit ratio", "ratio to 16,384 entries"):
        t.add_column(h, justify="right")
    sizes = [256, 1024, 4096, 16384]
    for size in sizes:
        h, m = replay(trace, size, index)
        ratios[size] = h / (h + m)
    for size in sizes:
        t.add_row(f"{size:,}", f"{ratios[size]:.3f}", f"{ratios[size] / ratios[16384]:.2f}")
    c.print(t)
    data = json.loads(Path(OUT).read_text())
    data = {"packets_per_s": data, "latency_ms": {k: v * 1e3 for k, v in lat.items()},
            "fetch_us_mean": st["fetch_us_mean"], "hit_ratio_by_cache_size": ratios,
            "replay_check": {"switch": [sw_hits, sw_misses], "replay": [rp_hits, rp_misses], "equal": ok}}  # fmt: skip
    Path(OUT).write_text(json.dumps(data, indent=2) + "\n")
    if not ok:
        raise SystemExit("the cache replay does not match the switch")


if __name__ == "__main__":
    main()
