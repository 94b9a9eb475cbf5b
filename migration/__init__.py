"""Flow migration among NF instances: the problem, DeepMigration, its baselines and the exact MILP.

`plan(problem)` is the entry point for the orchestration loop (see docs/migration.md).
"""

from __future__ import annotations


def plan(problem, model=None):
    """[(flow, from instance, to instance), ...] for `problem` (DeepMigration, the shipped policy)."""
    from migration.agent import plan as _plan

    return _plan(problem, model)


__all__ = ["plan"]
