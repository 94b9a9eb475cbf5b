"""Cost terms of the objective (model.md, Objective). Pure; scalars or arrays.

A rate of `r` Mbps carries `r / 8` MB each second: that volume is the traffic
unit that per-MB costs and delays apply to.
"""

from __future__ import annotations

import numpy as np

from placement.model.scenario import ObjectiveSpec


def volume_mb(rate_mbps):
    """MB carried per second by a rate in Mbps."""
    return np.asarray(rate_mbps) / 8.0


def it_cost(size_mb, unit_cost_per_mb):
    """Storage of an instance on its host times the host's unit cost."""
    return np.asarray(size_mb) * unit_cost_per_mb


def bandwidth_cost(rate_mbps, path_cost_per_mb):
    """Traffic of a request over its path: volume times the sum of link unit costs."""
    return volume_mb(rate_mbps) * path_cost_per_mb


def migration_cost(state_mb, path_cost_per_mb):
    """Moving an instance's state between servers over a path."""
    return np.asarray(state_mb) * path_cost_per_mb


def programming_cost(program_mb, controller_cost_per_mb):
    """Installing a VNF's entries in a switch: its size as control traffic."""
    return np.asarray(program_mb) * controller_cost_per_mb


def total_cost(it, bw, rc, obj: ObjectiveSpec):
    return obj.alpha_it * it + obj.alpha_bw * bw + obj.alpha_rc * rc


def reward(acceptance_ratio, cost_normalised, feasible: bool, obj: ObjectiveSpec):
    """The MDP reward: 0 when a capacity constraint is violated, else ω1·AR − ω2·Cost."""
    if not feasible:
        return 0.0
    return obj.omega_ar * acceptance_ratio - obj.omega_cost * cost_normalised
