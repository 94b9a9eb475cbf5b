"""Seeded heavy-tailed workloads for the three scenarios, and flows read from CSV or pcap.

The paper replays the LBNL/ICSI enterprise trace; that trace is not reachable from this
machine, so srem draws flows instead (or reads the user's own, `flows_from_csv`,
`flows_from_pcap`). The distribution, chosen to look like enterprise traffic:

* an instance's utilisation is drawn per scenario (below); its number of flows is
  proportional to its load, `flows_per_instance` on average (at least 2);
* flow rates are **bounded Pareto** (shape α = 1.2, between 1 and 10⁴ in relative
  units), then scaled so the instance's flows add up to its load: a few elephants carry
  most of the traffic, as in the trace's flow-size tail;
* a flow's state (what migrates, and what the destination must buffer) is 10 ms of its
  traffic plus 10 kB of per-flow context;
* SLA latency bounds are 5, 10 or 20 ms (equally likely);
* queueing delay grows like an M/M/1 queue, 0.5·u/(1−u) ms, and each instance has
  0.5–2 MB of free buffer for migrated state;
* instances sit two to a server, four servers to a rack (hop latency by locality);
  state moves over a 100 Mbps control channel (OpenNF-style transfers are slow).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

from migration.model import Costs, Flow, Instance, Network, Problem, Thresholds

CAPACITY_MBPS = 1000.0
PARETO_SHAPE = 1.2
SLA_CHOICES_MS = (5.0, 10.0, 20.0)


def bounded_pareto(
    rng: np.random.Generator, n: int, alpha: float = PARETO_SHAPE, lo: float = 1.0, hi: float = 1e4
):
    """Inverse-CDF draws of a Pareto(α) truncated to [lo, hi]."""
    u = rng.random(n)
    la, ha = lo**alpha, hi**alpha
    return (-(u * ha - u * la - ha) / (ha * la)) ** (-1.0 / alpha)


def queue_ms(u: float) -> float:
    """Queueing delay of an instance at utilisation u (M/M/1 shape, 0.5 ms at u = 50 %)."""
    return 0.5 * u / (1.0 - min(u, 0.95))


def _server(k: int) -> str:
    return f"s{k // 2}"


def build(
    scenario: str,
    utils: np.ndarray,
    rng: np.random.Generator,
    *,
    flows_per_instance: int = 40,
    spares: int = 0,
    thresholds: Thresholds | None = None,
    costs: Costs | None = None,
    name: str = "generated",
    seed: int | None = None,
) -> Problem:
    """A problem whose active instances have the given utilisations (flows drawn as documented)."""
    thresholds, costs = thresholds or Thresholds(), costs or Costs()
    n = len(utils)
    mean_u = float(np.mean(utils)) or 1.0
    instances: list[Instance] = []
    flows: list[Flow] = []
    for j in range(n + spares):
        active = j < n
        u = float(utils[j]) if active else 0.0
        q_ms = queue_ms(u) if active else 0.0
        instances.append(
            Instance(
                name=f"nf{j}",
                server=_server(j),
                capacity_mbps=CAPACITY_MBPS,
                buffer_mb=float(rng.uniform(0.5, 2.0)),
                queue_mb=q_ms * CAPACITY_MBPS / 8e3,
                proc_ms=0.5,
                active=active,
            )
        )
        if not active:
            continue
        k = max(2, round(flows_per_instance * u / mean_u))
        r = bounded_pareto(rng, k)
        r *= u * CAPACITY_MBPS / r.sum()
        for x in r:
            flows.append(
                Flow(
                    name=f"f{len(flows)}",
                    instance=j,
                    rate_mbps=float(x),
                    size_mb=float(x / 8 * 0.01 + 0.01),
                    sla_ms=float(rng.choice(SLA_CHOICES_MS)),
                )
            )
    racks = {_server(j): f"r{j // 8}" for j in range(n + spares)}
    return Problem(
        scenario,
        tuple(instances),
        tuple(flows),
        racks,
        Network(bandwidth_mbps=100.0),
        costs,
        thresholds,
        name,
        seed,
    )


def scale_out(
    n: int = 10,
    overloaded: int = 4,
    th_high: float = 0.6,
    flows_per_instance: int = 40,
    seed: int = 0,
    over: tuple[float, float] = (0.03, 0.25),
):
    """`overloaded` instances above Th_high (by `over` = 3–25 points), the rest 15 % .. Th_high−10 %."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(0.15, th_high - 0.10, n)
    hot = rng.choice(n, overloaded, replace=False)
    u[hot] = rng.uniform(th_high + over[0], th_high + over[1], overloaded)
    th = Thresholds(high=th_high)
    return build("scale-out", u, rng, flows_per_instance=flows_per_instance, spares=max(overloaded, 1),
                 thresholds=th, name=f"scale-out-n{n}-k{overloaded}-th{th_high:g}-s{seed}", seed=seed)  # fmt: skip


def scale_in(
    n: int = 50, underloaded: int = 5, th_low: float = 0.1, flows_per_instance: int = 40, seed: int = 0
):
    """`underloaded` instances below Th_low, the rest Th_low+2 % .. 45 % (room under Th_high 60 %)."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(th_low + 0.02, 0.45, n)
    cold = rng.choice(n, underloaded, replace=False)
    u[cold] = rng.uniform(0.01, th_low, underloaded)
    th = Thresholds(high=0.6, low=th_low)
    return build("scale-in", u, rng, flows_per_instance=flows_per_instance, thresholds=th,
                 name=f"scale-in-n{n}-k{underloaded}-tl{th_low:g}-s{seed}", seed=seed)  # fmt: skip


def balance(n: int = 10, flows_per_instance: int = 40, seed: int = 0):
    """Hot and cold spots: utilisation 5 % .. 75 % from a U-shaped Beta(0.5, 0.5); Th_high 80 %."""
    rng = np.random.default_rng(seed)
    u = 0.05 + 0.70 * rng.beta(0.5, 0.5, n)
    th = Thresholds(high=0.8)
    return build("balance", u, rng, flows_per_instance=flows_per_instance, thresholds=th,
                 name=f"balance-n{n}-s{seed}", seed=seed)  # fmt: skip


def generate(
    scenario: str, n: int, hot: int, threshold: float, flows_per_instance: int, seed: int
) -> Problem:
    if scenario == "scale-out":
        return scale_out(n, hot, threshold, flows_per_instance, seed)
    if scenario == "scale-in":
        return scale_in(n, hot, threshold, flows_per_instance, seed)
    return balance(n, flows_per_instance, seed)


def detect(p: Problem) -> str:
    """Which scenario the state calls for: overload first, then idle capacity, else balance."""
    u, act, th = p.util, p.active, p.thresholds
    if (u[act] > th.high).any():
        return "scale-out"
    if act.sum() > 1 and (u[act] < th.low).any():
        return "scale-in"
    return "balance"


def triggered(p: Problem) -> bool:
    """Whether the state calls for its scenario at all: an instance above Th_high (scale-out),
    an active one below Th_low (scale-in), or a utilisation variance of at least Th_var (balance)."""
    u, act, th = p.util, p.active, p.thresholds
    if p.scenario == "scale-out":
        return bool((u[act] > th.high).any())
    if p.scenario == "scale-in":
        return bool(act.sum() > 1 and (u[act] < th.low).any())
    return bool(np.var(u[act]) >= th.var)


def next_state(p: Problem, assignment: np.ndarray, rng: np.random.Generator, drift: float = 0.25) -> Problem:
    """The state one interval later: the moves applied, instances started or stopped, and
    every instance's traffic scaled by a lognormal factor (hot spots wander)."""
    n = len(p.instances)
    count = np.bincount(assignment, minlength=n)
    active = (p.active & ~(p.candidates & (count == 0))) | (count > 0)
    factor = rng.lognormal(0.0, drift, n)
    factor *= 1.0 / np.exp(drift**2 / 2)  # mean 1: no trend in total load
    flows = tuple(
        replace(
            f, instance=int(a), rate_mbps=f.rate_mbps * float(factor[a]), size_mb=f.size_mb * float(factor[a])
        )
        for f, a in zip(p.flows, assignment, strict=True)
    )
    load = np.bincount(assignment, weights=[f.rate_mbps for f in flows], minlength=n)
    u = load / p.cap
    insts = tuple(
        replace(
            i,
            active=bool(active[j]),
            queue_mb=queue_ms(u[j]) * i.capacity_mbps / 8e3 if active[j] else 0.0,
        )
        for j, i in enumerate(p.instances)
    )
    q = replace(p, instances=insts, flows=flows)
    return replace(q, scenario=detect(q))


# ---- the user's own flows ------------------------------------------------------------------------
CSV_COLUMNS = ("flow", "instance", "rate_mbps", "size_mb", "sla_ms")


def flows_from_csv(path: Path, instance_names: list[str]) -> list[Flow]:
    """Rows `flow,instance,rate_mbps,size_mb,sla_ms` (a header row with these names)."""
    from topologies.errors import InputError

    index = {n: k for k, n in enumerate(instance_names)}
    out: list[Flow] = []
    try:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as e:
        raise InputError(str(path), "file", e.strerror or str(e)) from None
    if not rows or set(CSV_COLUMNS) - set(rows[0]):
        raise InputError(str(path), "header", f"needs the columns {', '.join(CSV_COLUMNS)}")
    for line, row in enumerate(rows, start=2):
        if row["instance"] not in index:
            raise InputError(str(path), f"line {line}", f"unknown instance '{row['instance']}'")
        try:
            rate, size, sla = float(row["rate_mbps"]), float(row["size_mb"]), float(row["sla_ms"])
        except (TypeError, ValueError):
            raise InputError(
                str(path), f"line {line}", "rate_mbps, size_mb and sla_ms must be numbers"
            ) from None
        if rate <= 0 or size < 0 or sla <= 0:
            raise InputError(str(path), f"line {line}", "rate and SLA must be > 0, size ≥ 0")
        out.append(Flow(row["flow"], index[row["instance"]], rate, size, sla))
    return out


def flows_from_pcap(
    path: Path, instance_names: list[str], sla_ms: float = 5.0, state_ms: float = 10.0
) -> list[Flow]:
    """Flows of a capture by 5-tuple: rate = bytes over the flow's duration (at least 1 ms),
    state = `state_ms` of its traffic + 10 kB; each flow sits on the instance its 5-tuple
    hashes to, as an ECMP/RSS front end would have placed it."""
    import zlib

    from scapy.layers.inet import IP, TCP, UDP
    from scapy.utils import PcapReader

    from topologies.errors import InputError

    stats: dict[tuple, list[float]] = defaultdict(lambda: [0.0, float("inf"), 0.0])
    try:
        with PcapReader(str(path)) as reader:
            for pkt in reader:
                if IP not in pkt:
                    continue
                ip = pkt[IP]
                l4 = pkt[TCP] if TCP in pkt else (pkt[UDP] if UDP in pkt else None)  # noqa: SIM401
                key = (ip.src, ip.dst, ip.proto, getattr(l4, "sport", 0), getattr(l4, "dport", 0))
                s = stats[key]
                s[0] += len(pkt)
                s[1] = min(s[1], float(pkt.time))
                s[2] = max(s[2], float(pkt.time))
    except (OSError, ValueError) as e:  # scapy raises Scapy_Exception (a plain Exception) for non-pcap files
        raise InputError(str(path), "pcap", str(e).splitlines()[0] if str(e) else "cannot be read") from None
    except Exception as e:
        raise InputError(str(path), "pcap", str(e).splitlines()[0] if str(e) else "cannot be read") from None
    if not stats:
        raise InputError(str(path), "pcap", "holds no IPv4 packets")
    out = []
    for k, (key, (nbytes, t0, t1)) in enumerate(sorted(stats.items())):
        rate = nbytes * 8 / 1e6 / max(t1 - t0, 1e-3)
        j = zlib.crc32(repr(key).encode()) % len(instance_names)
        out.append(
            Flow(
                f"{key[0]}:{key[3]}>{key[1]}:{key[4]}/{key[2]}#{k}",
                j,
                rate,
                rate / 8 * state_ms / 1e3 + 0.01,
                sla_ms,
            )
        )
    return out
