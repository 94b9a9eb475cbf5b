"""Plug-ins the loop takes by name, MODULE:FUNCTION: a failure-risk hook (`--risk
prediction.hook:psutil`) or a planner function (`--planner prediction.hook:plan`)."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from topologies import InputError


def load_hook(spec: str, opt: str = "--risk") -> Callable:
    """The function `spec` names; a one-line InputError naming `opt` when it cannot be had."""
    mod, _, fn = spec.partition(":")
    if not mod or not fn:
        raise InputError(opt, spec, "is not MODULE:FUNCTION")
    try:
        f = getattr(importlib.import_module(mod), fn)
    except ImportError as e:
        raise InputError(opt, spec, f"cannot import {mod}: {e}") from None
    except AttributeError:
        raise InputError(opt, spec, f"{mod} has no {fn}") from None
    if not callable(f):
        raise InputError(opt, spec, "is not a function")
    return f
