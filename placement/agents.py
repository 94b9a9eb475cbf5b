"""Agents by name, for the CLI and the evaluation."""

from __future__ import annotations

import pickle
from pathlib import Path

from placement.baselines.heuristics import GreedyAgent, GreedyHoldAgent, LagAgent, RandomAgent
from placement.model.simulate import Agent
from placement.model.workload import Problem
from topologies import InputError

NAMES = ("mpc", "random", "lag", "greedy", "greedy-hold", "milp", "milp-day", "mpc-forecast")
# Learned agents that read a policy file (a shipped one by default).
POLICY_AGENTS = ("gnn", "gnn-refine", "mfg", "srem", "ddqn-cm")
# Teachers that read the day's future (training only): refused as agents, in one line.
PRIVILEGED = ("mpc-oracle",)


def make_agent(
    name: str,
    problem: Problem,
    seed: int = 0,
    milp_time_limit: float = 30.0,
    day_time_limit: float = 120.0,
    day_start: str | None = None,
) -> Agent:
    if name == "mpc":
        from placement.mpc.agent import MpcAgent

        return MpcAgent()
    if name == "mpc-forecast":  # mpc with the learned rate forecast (placement/mpc/forecast.py)
        from placement.mpc.forecast import ForecastMpcAgent
        from placement.mpc.forecast import load as load_forecast

        return ForecastMpcAgent(forecast=load_forecast(), horizon=0)
    if name == "random":
        return RandomAgent(seed)
    if name == "lag":
        return LagAgent()
    if name == "greedy":
        return GreedyAgent()
    if name == "greedy-hold":
        return GreedyHoldAgent()
    if name == "milp":
        from placement.milp.step import MilpAgent

        return MilpAgent(time_limit=milp_time_limit)
    if name == "milp-day":
        from placement.milp.day import MilpDayAgent

        if not day_start:
            return MilpDayAgent(time_limit=day_time_limit)
        # The start is an online agent's day: one that needs no scenario-bound checkpoint.
        if day_start.startswith("milp") or day_start in ("srem", "ddqn-cm") or day_start in PRIVILEGED:
            raise ValueError(
                f"the day MILP's start must be an online agent without a checkpoint, not {day_start!r}"
            )
        start = make_agent(day_start, problem, seed)
        return MilpDayAgent(time_limit=day_time_limit, start_agent=start, start_name=day_start)
    if name in ("gnn", "gnn-refine", "mfg"):  # one shipped policy for every substrate of the ranges
        return policy_agent(name, None, seed)
    if name in PRIVILEGED:
        raise ValueError(
            f"{name} is a privileged training teacher (it reads the day's future rates), not a test-time agent"
        )
    raise ValueError(f"unknown agent {name!r}; known: {', '.join(NAMES + POLICY_AGENTS)}")


# Policies trained by `make model`, shipped with srem.
MODELS = Path(__file__).resolve().parent / "models"


DEFAULT_MODELS = {
    "srem": MODELS / "srem.pt",
    "ddqn-cm": MODELS / "ddqn-cm.pt",
    # The GNN policy serves any substrate of the scenario ranges: no scenario-hash refusal.
    "gnn": Path(__file__).resolve().parent / "gnn" / "models" / "gnn.pt",
    # gnn-refine: a gnn policy ranks hosts, mpc's step-model search picks among its top ones.
    "gnn-refine": Path(__file__).resolve().parent / "gnn" / "models" / "gnn.pt",
    # The mean-field actor-critic on SR-EM (placement/mfg/sremtrain.py): likewise.
    "mfg": Path(__file__).resolve().parent / "mfg" / "models" / "mfg-srem.pt",
}


def policy_agent(name: str, model: Path | None, seed: int = 0):
    """gnn or mfg from a policy file (the shipped one by default); a bad file is an
    InputError in one line."""
    if name == "gnn":
        from placement.gnn.policy import GnnAgent, load

        return GnnAgent(load(model or DEFAULT_MODELS["gnn"]))
    if name == "gnn-refine":
        from placement.gnn.policy import load
        from placement.gnn.refine import GuidedAgent
        from placement.mpc.forecast import load as load_forecast

        # The whole rest of the day forecast (horizon 0): measured best on validation days.
        return GuidedAgent(
            policy=load(model or DEFAULT_MODELS["gnn-refine"]), forecast=load_forecast(), horizon=0
        )
    from placement.mfg.sremgame import MfgAgent, load

    return MfgAgent(load(model or DEFAULT_MODELS["mfg"]), seed=seed)


def agent_or_error(
    name: str,
    problem,
    seed: int,
    milp_time_limit: float,
    model: Path | None = None,
    day_limit: float = 120.0,
    day_start: str | None = None,
):
    """The named agent for a CLI option; a user's mistake is an InputError (one line)."""
    if model is not None and name not in DEFAULT_MODELS:  # never ignore what the user gave
        raise InputError(
            "--model", str(model), f"agent '{name}' takes no model (only {', '.join(DEFAULT_MODELS)} do)"
        )
    if name in ("gnn", "gnn-refine", "mfg"):
        return policy_agent(name, model, seed)
    if name in ("srem", "ddqn-cm"):
        a = trained(problem, model, name)
        if a.name != name:
            raise InputError("--model", str(model), f"holds a {a.name} policy, not {name}")
        return a
    try:
        return make_agent(name, problem, seed, milp_time_limit, day_limit, day_start)
    except ValueError as e:
        if day_start and name == "milp-day":
            raise InputError("--milp-day-start", day_start, str(e)) from None
        raise InputError("--agent", name, str(e)) from None


def trained(problem, model: Path | None, name: str = "srem"):
    from placement.dqn import train as tr

    model = model or DEFAULT_MODELS[name]
    if not model.exists():
        raise InputError("--model", str(model), f"agent '{name}' needs a checkpoint from `srem train`")
    try:
        st, cfg = tr.load(model, problem)  # refuses, in one line, a policy of another scenario
    except InputError:
        raise  # it was read: the refusal says why, once
    except (RuntimeError, KeyError, EOFError, ValueError, TypeError, AttributeError, OSError,
            pickle.UnpicklingError) as e:  # fmt: skip
        # not a checkpoint srem wrote (any file: /etc/hostname, a truncated .pt, a directory)
        first = (str(e).splitlines() or [type(e).__name__])[0]
        raise InputError(str(model), "checkpoint", f"cannot be read as a srem policy ({first})") from None
    return tr.agent_of(problem, st, cfg)
