"""Failure prediction from host monitoring data (issue 19, part 1): `srem predict`.

The orchestration loop's failure-risk hook uses `score(window) -> probability` (see
prediction/api.py and docs/prediction.md). Imports are lazy so that `srem` starts
without loading torch.
"""

from __future__ import annotations

from typing import Any

_API = ("FailurePredictor", "score", "host_sample", "DEFAULT_MODEL", "PSUTIL_MODEL", "PSUTIL_SOURCE")
__all__ = [*_API, "FEATURES", "load_records"]


def __getattr__(name: str) -> Any:
    if name in _API:
        from . import api

        return getattr(api, name)
    if name in ("FEATURES", "load_records"):
        from . import data

        return getattr(data, name)
    raise AttributeError(f"module 'prediction' has no attribute {name!r}")
