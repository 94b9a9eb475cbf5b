"""Agents by name, for the CLI and the evaluation."""

from __future__ import annotations

from ..baselines import GreedyAgent, GreedyHoldAgent, LagAgent, RandomAgent
from ..simulate import Agent
from ..workload import Problem

NAMES = ("mpc", "random", "lag", "greedy", "greedy-hold", "milp", "milp-day")


def make_agent(
    name: str, problem: Problem, seed: int = 0, milp_time_limit: float = 30.0, day_time_limit: float = 120.0
) -> Agent:
    if name == "mpc":
        from .mpc import MpcAgent

        return MpcAgent()
    if name == "random":
        return RandomAgent(seed)
    if name == "lag":
        return LagAgent()
    if name == "greedy":
        return GreedyAgent()
    if name == "greedy-hold":
        return GreedyHoldAgent()
    if name == "milp":
        from ..milp import MilpAgent

        return MilpAgent(time_limit=milp_time_limit)
    if name == "milp-day":
        from ..milp_day import MilpDayAgent

        return MilpDayAgent(time_limit=day_time_limit)
    raise ValueError(f"unknown agent {name!r}; known: {', '.join(NAMES)}")
