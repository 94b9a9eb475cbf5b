"""Sliding windows, labels and the time-ordered train/test split.

The split is made on records first; windows are then cut inside each part, so no window
and no label horizon crosses the split: a training window never holds, and is never
labelled from, a record of the test part.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from topologies import InputError

from .config import Protocol
from .data import Records


@dataclass(frozen=True)
class Scaler:
    """Min-max scaling to [0, 1] per feature (constant features map to 0)."""

    lo: np.ndarray
    hi: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> Scaler:
        return cls(x.min(axis=0).astype(np.float32), x.max(axis=0).astype(np.float32))

    def transform(self, x: np.ndarray) -> np.ndarray:
        span = np.where(self.hi > self.lo, self.hi - self.lo, 1.0)
        return ((x - self.lo) / span).astype(np.float32)


@dataclass(frozen=True)
class Windows:
    """Labelled windows of one part: x (m, window, features), y (m,), end (m,) = the index
    (in the whole series) of each window's last record, when its score is available."""

    x: np.ndarray
    y: np.ndarray
    end: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class Split:
    protocol: Protocol
    train: Windows
    test: Windows
    scaler: Scaler  # fitted on the training part (what a deployed model uses)
    n_train: int  # records 0 .. n_train-1 are the training part
    label: np.ndarray  # the whole series' failure labels (for lead times)


def split_index(n: int, test_fraction: float) -> int:
    """First test record, as scikit-learn's train_test_split(shuffle=False) puts it (test rounded up)."""
    return n - math.ceil(test_fraction * n)


def window_labels(label: np.ndarray, protocol: Protocol) -> tuple[np.ndarray, np.ndarray]:
    """(ends, y) for every window wholly inside `label`'s part whose label horizon is inside it too.

    label is one part's failure series. Ends are indices into it.
    """
    n, w, h = len(label), protocol.window, protocol.horizon
    ends = np.arange(w - 1, n - h)
    if len(ends) == 0:
        return ends, np.zeros(0, dtype=np.int8)
    if protocol.target == "state":
        y = label[ends + h]
    else:  # onset: any failed record in t+1 .. t+h, from a window that ends while up
        ends = ends[label[ends] == 0]
        ahead = np.lib.stride_tricks.sliding_window_view(label, h)  # ahead[i] = label[i .. i+h-1]
        y = ahead[ends + 1].max(axis=1) if len(ends) else np.zeros(0, dtype=np.int8)
    return ends, np.asarray(y, dtype=np.int8)


def cut_windows(x: np.ndarray, label: np.ndarray, protocol: Protocol, offset: int) -> Windows:
    """Windows of one part (x already scaled); `offset` turns part indices into series indices."""
    ends, y = window_labels(label, protocol)
    if len(ends) == 0:
        return Windows(np.zeros((0, protocol.window, x.shape[1]), np.float32), y, ends + offset)
    view = np.lib.stride_tricks.sliding_window_view(x, protocol.window, axis=0)  # (n-w+1, F, w)
    xs = view[ends - (protocol.window - 1)].transpose(0, 2, 1)
    return Windows(np.ascontiguousarray(xs, dtype=np.float32), y, ends + offset)


def make_split(records: Records, protocol: Protocol) -> Split:
    """The protocol's training and test windows; a one-line error when a part is too short."""
    x = records.columns(protocol.features)
    cut = split_index(len(records), protocol.test_fraction)
    need = protocol.window + protocol.horizon
    if cut < need or len(records) - cut < need:
        raise InputError(
            records.source,
            "records",
            f"{len(records)} records leave a part shorter than window + horizon = {need} ({protocol.name})",
        )
    scaler = Scaler.fit(x[:cut])
    test_scaler = Scaler.fit(x[cut:]) if protocol.rescale_test else scaler
    train = cut_windows(scaler.transform(x[:cut]), records.label[:cut], protocol, 0)
    test = cut_windows(test_scaler.transform(x[cut:]), records.label[cut:], protocol, cut)
    return Split(protocol, train, test, scaler, cut, records.label)
