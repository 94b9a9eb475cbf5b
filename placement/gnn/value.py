"""How well gnn policies imitate `mpc`, by count and by cost, on validation days.

    python -m placement.gnn.value --policy A.pt --policy B.pt --days 5

`mpc` plays the test days of the frontier's validation scenarios (never a held-out
one); every state it visits is labelled as value-aware training labels it (`label` with
values). Per policy: the per-instance agreement with `mpc`'s host, and the regret of the
policy's best allowed host (mpc's value per step counted, that instance alone moved from
mpc's answer): mean, and the share of instances whose regret is above 0.01 and 0.05.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from placement.gnn.policy import load, masked_logits
from placement.gnn.train import Sample, label, regrets
from placement.model.simulate import DayRun
from placement.mpc.agent import MpcAgent


def labelled_states(problems: list, days: int) -> list[Sample]:
    teacher, out = MpcAgent(), []
    for p in problems:
        for d in range(days):
            run = DayRun(p, p.day("test", d))
            while not run.done:
                s, want = label(run, teacher, values=True)
                out.append(s)
                run.apply(want)
    return out


def measure(policy, samples: list[Sample]) -> dict[str, float]:
    agree, regret = [], []
    with torch.no_grad():
        for s in samples:
            pick = masked_logits(policy(s.state), s.allowed).argmax(1)
            agree.extend((pick == s.target).tolist())
            regret.extend(regrets(s).gather(1, pick[:, None]).squeeze(1).tolist())
    r = np.array(regret)
    return {"agreement": float(np.mean(agree)), "regret": float(r.mean()), "over_0.01": float((r > 0.01).mean()),
            "over_0.05": float((r > 0.05).mean()), "instances": len(r)}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    from placement.mpc.frontier import VALIDATION, problems

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policy", type=Path, action="append", required=True)
    ap.add_argument("--days", type=int, default=5, help="test days per validation scenario")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    samples = labelled_states(problems(VALIDATION), a.days)
    tied = [
        int((regrets(s)[i][s.allowed[i]] <= 1e-9).sum()) > 1 for s in samples for i in range(len(s.target))
    ]
    print("| policy | agreement with mpc | mean regret per step | regret > 0.01 | regret > 0.05 |")
    print("|---|---|---|---|---|")
    for path in a.policy:
        m = measure(load(path), samples)
        print(
            f"| {path} | {m['agreement']:.3f} | {m['regret']:.4f} | {m['over_0.01']:.3f} | {m['over_0.05']:.3f} |"
        )
    print(f"\n{len(samples)} states ({m['instances']} instances) of mpc's validation days; "
          f"{np.mean(tied):.3f} of the instances have another host tied with the best (1e-9); "
          f"{time.perf_counter() - t0:.0f} s.")  # fmt: skip


if __name__ == "__main__":
    main()
