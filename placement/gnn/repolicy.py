"""A new policy file against the day rewards already committed for the same held-out days.

    python -m placement.gnn.repolicy --policy placement/gnn/models/gnn.pt --old OLD.pt \
        [--refine] tea seed:31 seed:32 fattree-k4:31 fattree-k8:31

For each scenario spec (as `srem figures` takes them) it plays `gnn` with the new policy
on the test days of `FIGURES/<scenario>/eval.json`, after replaying the first two with the
old policy and checking they give the committed `gnn` day rewards (same days, same
seeds: the pairing is sound). Prints the markdown table of docs/agent21.md's "Held-out,
with the TEA-trained policy": new minus mpc, new minus old, paired per day (mean ± SE).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from placement.agents import agent_or_error
from placement.evaluation.figures import scenario_of
from placement.gnn.heldout import paired
from placement.model.simulate import run_days
from placement.model.workload import build_problem


def day_rewards(problem, policy: Path, days: list[int], name: str = "gnn") -> list[float]:
    agent = agent_or_error(name, problem, 0, 30.0, policy)
    return [sum(r.reward for r in d) for d in run_days(problem, agent, "test", days)]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policy", type=Path, required=True, help="the new gnn policy file")
    ap.add_argument("--old", type=Path, required=True, help="the policy the committed gnn rows measured")
    ap.add_argument("--figures", type=Path, default=Path("docs/figures"))
    ap.add_argument("--refine", action="store_true", help="also gnn-refine with the new policy, minus mpc")
    ap.add_argument("scenarios", nargs="+", help="specs: tea, seed:N, fattree-kK:N")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    extra = " `gnn-refine` (new policy) minus mpc |" if a.refine else ""
    print(f"| scenario | days | `gnn` (new) minus mpc | `gnn` (new) minus `gnn` (old) |{extra}")
    print("|---|---|---|---|" + ("---|" if a.refine else ""))
    for spec in a.scenarios:
        s = scenario_of(spec)
        ref = json.loads((a.figures / s.name / "eval.json").read_text())["day_rewards"]
        problem, n = build_problem(s), len(ref["mpc"])
        check = day_rewards(problem, a.old, [0, 1])
        if not np.allclose(check, ref["gnn"][:2]):
            raise SystemExit(f"{s.name}: --old does not give the committed gnn day rewards ({check})")
        new = day_rewards(problem, a.policy, list(range(n)))
        (dm, sm), (do, so) = paired(new, ref["mpc"]), paired(new, ref["gnn"])
        row = f"| {s.name} | {n} | {dm:+.3f} ± {sm:.3f} | {do:+.3f} ± {so:.3f} |"
        if a.refine:
            rm, rs = paired(day_rewards(problem, a.policy, list(range(n)), "gnn-refine"), ref["mpc"])
            row += f" {rm:+.3f} ± {rs:.3f} |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
