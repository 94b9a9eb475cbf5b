"""Independent days run in parallel on Ray: a local Ray by default, a cluster when given
its address. The same days give the same records as a serial run: every day starts
from the agent as it was before the first day (a copy per day, as `run_days` does
between days), and what an agent logs per day (the MILPs' proofs) is gathered back in
day order.

    srem eval --workers 2                      # a local Ray with 2 workers
    srem eval --ray-address ray://head:10001   # an existing cluster
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable

from placement.model.simulate import Agent, StepRecord, run_days
from placement.model.workload import Problem

# What agents keep per day, appended as they decide: gathered back in day order.
LOGS = ("results", "day_results")


def _one_day(problem: Problem, agent: Agent, split: str, day: int) -> tuple[list[StepRecord], dict]:
    import torch

    torch.set_num_threads(1)  # one core per day: the parallelism is across days
    before = {k: len(getattr(agent, k)) for k in LOGS if hasattr(agent, k)}
    records = run_days(problem, agent, split, [day])[0]
    return records, {k: getattr(agent, k)[n:] for k, n in before.items()}


def run_days_parallel(
    problem: Problem,
    agent: Agent,
    split: str,
    days: list[int],
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
    address: str | None = None,
) -> list[list[StepRecord]]:
    """`run_days` over Ray: `workers` local processes, or the cluster at `address`.
    With one worker and no address it is `run_days` itself, in this process."""
    if workers <= 1 and address is None:
        return run_days(problem, agent, split, days, progress)
    ray = ray_session(workers, address)
    task = ray.remote(num_cpus=1)(_one_day)
    shared = ray.put(problem)
    pending = {task.remote(shared, copy.deepcopy(agent), split, d): k for k, d in enumerate(days)}
    done: dict[int, tuple] = {}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            done[pending.pop(ref)] = ray.get(ref)
            if progress:
                progress(1)
    out = []
    for k in range(len(days)):
        records, logs = done[k]
        out.append(records)
        for name, items in logs.items():
            getattr(agent, name).extend(items)
    return out


def ray_session(workers: int, address: str | None):
    """Ray, started locally with `workers` CPUs or joined at `address`, once per process."""
    import ray

    if not ray.is_initialized():
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a local, private instance
        kw = {"address": address} if address else {"num_cpus": workers, "include_dashboard": False}
        # Workers import srem from this checkout, as this process does.
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = {
            "env_vars": {"PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        }
        ray.init(log_to_driver=False, runtime_env=env, **kw)
    return ray
