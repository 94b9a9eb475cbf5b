"""A gymnasium environment of one day of SR-EM reconfiguration.

Observation (float32, model.md 'MDP'): remaining storage of every host, remaining
capacity of every instance after the last step, every instance's demand in the
step to decide, the remaining bandwidth around every node, the current
placement one-hot, and the time of day. Action: one host per instance
(`MultiDiscrete`). The dynamic-filter mask comes with every observation in
`info["action_mask"]` ([I, H] bool) and from `action_masks()`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import gymnasium as gym
import numpy as np

from placement.model.simulate import DayRun
from placement.model.step import StepOutcome
from placement.model.workload import Problem, Split

# Demand is in units of the largest server capacity; beyond this it says nothing new.
DEMAND_CAP = 100.0


class SremEnv(gym.Env):
    metadata: ClassVar[dict] = {"render_modes": []}

    def __init__(
        self, problem: Problem, split: Split = "train", days: Sequence[int] | None = None, state: str = "full"
    ) -> None:
        self.problem = problem
        self.split = split
        self.days = list(range(problem.n_days(split))) if days is None else list(days)
        sub, cat = problem.sub, problem.cat
        I, H, N = cat.n_instances, sub.n_hosts, sub.n_nodes
        if state not in ("full", "placement"):
            raise ValueError(f"unknown state {state!r} (full or placement)")
        # "placement" is DDQN-CM's state: where every instance is, and the time.
        self.state = state
        self.n_features = H + 2 * I + N + I * H + 2 if state == "full" else I * H + 2
        self.observation_space = gym.spaces.Box(0.0, DEMAND_CAP, (self.n_features,), np.float32)
        self.action_space = gym.spaces.MultiDiscrete(np.full(I, H))
        # Normalisers, fixed per problem.
        self._adj = np.zeros((N, sub.n_arcs))
        self._adj[sub.arc_src, np.arange(sub.n_arcs)] = 1.0
        self._node_bw = np.maximum(self._adj @ sub.arc_bw, 1e-9)
        self._cap = cat.capacity[cat.inst_type].max(1)
        self._ref_rate = float(cat.server_capacity.max())
        self._eye = np.eye(H, dtype=np.float32)
        w = problem.scenario.workload
        self._span = max(w.end_hour - w.start_hour, 1)
        self.run: DayRun | None = None

    # -- gymnasium API ---------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        given = options and "day" in options
        index = int(options["day"]) if given else int(self.np_random.choice(self.days))
        self.run = DayRun(self.problem, self.problem.day(self.split, index))
        return self._obs(), self._info(None)

    def step(self, action):
        run = self._require()
        o = run.apply(np.asarray(action, dtype=np.int64))
        terminated = run.done
        obs = self._obs() if not terminated else np.zeros(self.n_features, np.float32)
        return obs, o.reward, terminated, False, self._info(o)

    def action_masks(self) -> np.ndarray:
        return self._require().mask()

    # -- internals -------------------------------------------------------------
    def _require(self) -> DayRun:
        if self.run is None:
            raise RuntimeError("call reset() before step()")
        return self.run

    def _obs(self) -> np.ndarray:
        return self.features(self._require())

    def features(self, run: DayRun) -> np.ndarray:
        """The observation of any day in progress (agents call this outside the env)."""
        if self.state == "placement":
            return np.concatenate([self._eye[run.placement].ravel(), self._time(run)]).astype(np.float32)
        sub = self.problem.sub
        last = run.last
        host_free = (last.host_free if last else sub.host_capacity - _usage(run)) / sub.host_capacity
        load = last.inst_load if last else np.zeros(len(self._cap))
        inst_free = np.maximum(self._cap - load, 0.0) / self._cap
        demand = np.minimum(run.demand() / self._ref_rate, DEMAND_CAP)
        node_bw = (self._adj @ (sub.arc_bw * (1.0 - np.minimum(run.arc_util, 1.0)))) / self._node_bw
        onehot = self._eye[run.placement].ravel()
        return np.concatenate([host_free, inst_free, demand, node_bw, onehot, self._time(run)]).astype(
            np.float32
        )

    def _time(self, run: DayRun) -> list[float]:
        hour = run.day.hours[run.t] - self.problem.scenario.workload.start_hour
        return [hour / self._span, float(run.day.working[run.t])]

    def _info(self, o: StepOutcome | None) -> dict:
        run = self._require()
        info: dict = {"t": run.t, "day": run.day.index}
        if not run.done:
            info["action_mask"] = run.mask()
        if o is not None:
            # The full StepOutcome is `env.run.last`; info keeps plain values.
            info.update(acceptance_ratio=o.acceptance_ratio, cost_total=o.cost_total, feasible=o.feasible)
        return info


def _usage(run: DayRun) -> np.ndarray:
    from placement.model.constraints import host_usage

    return host_usage(run.problem.sub, run.problem.cat, run.placement)
