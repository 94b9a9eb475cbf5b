"""What allocating on the first packet costs: N new UDP flows through the LM NAT, one packet
each (punted, mapped by the controller, sent back by packet-out), then one more packet of
each (the mapping is in the table now: the baseline, same run, same switch), on srem's
switch and on real simple_switch_grpc where ../shared/p4real is present.

    python -m tests.benchmarks.bench_lmalloc [--flows 200] [--pps 500]   (root)
"""

from __future__ import annotations

import argparse
import os
import statistics
import struct
import tempfile
import threading
import time
from pathlib import Path

from scapy.all import IP, UDP, Ether, raw

from tests.netns import raw_pair
from tests.orch_fabric import H1, SW
from tests.test_orch_lmalloc import INSIDE, PUBLIC, lm_switch


def one_round(ns: str, flows: int, pps: float) -> tuple[dict[int, float], int]:
    """Packet i of flow i (sport 10000 + i) at `pps`; one-way delay (ms) of each delivered one."""

    tx, rx = raw_pair(ns, "h1", "h2")
    got: dict[int, float] = {}
    done = threading.Event()

    def recv() -> None:
        end = None
        while (end is None or time.monotonic() < end) and len(got) < flows:
            if end is None and done.is_set():
                end = time.monotonic() + 15.0  # a slow switch's writes keep first packets waiting
            try:
                data, addr = rx.recvfrom(65535)
            except TimeoutError:
                continue
            now = time.monotonic_ns()
            if addr[2] == 4 or data[12:14] != b"\x08\x00" or len(data) < 14 + 28 + 12:
                continue
            i, t0 = struct.unpack("!IQ", data[-12:])
            got[i] = (now - t0) / 1e6

    r = threading.Thread(target=recv)
    r.start()
    t = time.monotonic()
    for i in range(flows):
        base = Ether(src=H1, dst=SW) / IP(src="10.0.1.1", dst="10.0.2.2") / UDP(sport=10000 + i, dport=9000)
        tx.send(raw(base) + struct.pack("!IQ", i, time.monotonic_ns()))
        t += 1 / pps
        time.sleep(max(0.0, t - time.monotonic()))
    done.set()
    r.join()
    tx.close(), rx.close()
    return got, flows - len(got)


def pct(v: list[float], q: float) -> float:
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))] if v else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flows", type=int, default=200)
    ap.add_argument("--pps", type=float, default=500)
    ap.add_argument("--targets", default="srem,bmv2")
    a = ap.parse_args()
    from controller.orchestration.lmalloc import AllocatingLmNat, Punts

    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    print("| target | flows | pps | first packets lost | first: median / p99 ms | mapped: median / p99 ms "
          "| median ratio | punted | batches | writes, ms each |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for target in a.targets.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            try:
                with lm_switch(Path(tmp), target) as (ns, c):
                    punts = Punts(c)
                    nat = AllocatingLmNat(c, 7, PUBLIC, INSIDE, (40000, 49999), punts)
                    first, lost1 = one_round(ns, a.flows, a.pps)
                    mapped, lost2 = one_round(ns, a.flows, a.pps)
                    f, m = list(first.values()), list(mapped.values())
                    ratio = statistics.median(f) / statistics.median(m) if f and m else float("nan")
                    print(f"| {target} | {a.flows} | {a.pps:g} | {lost1} (mapped round: {lost2}) "
                          f"| {statistics.median(f):.2f} / {pct(f, 0.99):.2f} | {statistics.median(m):.2f} / "
                          f"{pct(m, 0.99):.2f} | {ratio:.1f} | {nat.alloc.punted} | {punts.stats['batches']} "
                          f"| {nat.alloc.writes}, {nat.alloc.write_ms / max(1, nat.alloc.writes):.1f} |")  # fmt: skip
                    assert nat.alloc.allocated == a.flows - lost1, nat.alloc.to_dict()
                    nat.close()
                    punts.close()
            except BaseException as e:  # pytest.skip outside pytest: say why and go on
                if type(e).__name__ != "Skipped":
                    raise
                print(f"| {target} | skipped: {e} |")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
