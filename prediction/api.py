"""The failure-risk hook's interface: score a window of host features with a trained LSTM.

    p = FailurePredictor.load()          # the shipped honest model
    p.score(rows) -> probability a failure starts within p.horizon intervals after the last row

rows are the last p.window (or more) monitoring samples, oldest first, either an array
(rows, len(p.features)) in p.features' order or a sequence of {feature name: value}.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import torch

from .config import Protocol
from .data import FEATURES
from .lstm import FailureLSTM, SavedModel

MODELS = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL = MODELS / "honest.pt"
PSUTIL_MODEL = MODELS / "honest-psutil.pt"
# Where the host monitor gets each feature; None: not observable with psutil.
PSUTIL_SOURCE: dict[str, str | None] = {
    "cpu_percent": "psutil.cpu_percent()",
    "memory_percent": "psutil.virtual_memory().percent",
    "swap_percent": "psutil.swap_memory().percent",
    "paging_failures": None,  # LTE paging failures (T3413 expiries) from the vEPC's log, not page faults
}


@dataclass
class FailurePredictor:
    """A trained LSTM with the scaling and feature order it was trained with."""

    saved: SavedModel
    net: FailureLSTM

    @classmethod
    def load(cls, path: Path | None = None) -> FailurePredictor:
        saved = SavedModel.load(path or DEFAULT_MODEL)
        return cls(saved, saved.network())

    @property
    def protocol(self) -> Protocol:
        return self.saved.protocol

    @property
    def features(self) -> tuple[str, ...]:
        return self.saved.protocol.features

    @property
    def window(self) -> int:
        return self.saved.protocol.window

    @property
    def horizon(self) -> int:
        return self.saved.protocol.horizon

    def as_array(self, rows: np.ndarray | Sequence[Mapping[str, float]]) -> np.ndarray:
        """The last `window` rows as a (window, features) float32 array; ValueError when unusable."""
        if isinstance(rows, np.ndarray):
            x = rows.astype(np.float32)
            if x.ndim != 2 or x.shape[1] != len(self.features):
                raise ValueError(
                    f"expected rows x {len(self.features)} features {self.features}, got {x.shape}"
                )
        else:
            try:
                x = np.asarray([[float(r[f]) for f in self.features] for r in rows], dtype=np.float32)
            except KeyError as e:
                raise ValueError(f"a row lacks feature {e} (needs {', '.join(self.features)})") from None
            x = x.reshape(len(x), len(self.features))
        if len(x) < self.window:
            raise ValueError(f"needs the last {self.window} samples, got {len(x)}")
        x = x[-self.window :]
        if not np.isfinite(x).all():
            raise ValueError("a sample is NaN or infinite")
        return x

    def score(self, rows: np.ndarray | Sequence[Mapping[str, float]]) -> float:
        """Probability that a failure starts within `horizon` intervals after the last row."""
        return float(self.score_many(self.as_array(rows)[None])[0])

    def score_many(self, windows: np.ndarray) -> np.ndarray:
        """Scores of raw windows (m, window, features), e.g. one per server."""
        x = self.saved.scaler.transform(windows.astype(np.float32))
        with torch.no_grad():
            return torch.sigmoid(self.net(torch.from_numpy(x))).numpy()


@cache
def _default(path: str) -> FailurePredictor:
    return FailurePredictor.load(Path(path))


def score(rows: np.ndarray | Sequence[Mapping[str, float]], model: Path | None = None) -> float:
    """The failure probability of one window with the shipped model (or `model`), loaded once."""
    return _default(str(model or DEFAULT_MODEL)).score(rows)


def host_sample(paging_failures: float | None = None) -> dict[str, float]:
    """This host's psutil features now (cpu_percent is since the previous call: sample each period).

    paging_failures is added only when given: psutil cannot observe it.
    """
    import psutil

    out = {
        "cpu_percent": float(psutil.cpu_percent(interval=None)),
        "memory_percent": float(psutil.virtual_memory().percent),
        "swap_percent": float(psutil.swap_memory().percent),
    }
    if paging_failures is not None:
        out["paging_failures"] = float(paging_failures)
    return out


__all__ = [
    "DEFAULT_MODEL",
    "FEATURES",
    "PSUTIL_MODEL",
    "PSUTIL_SOURCE",
    "FailurePredictor",
    "host_sample",
    "score",
]
