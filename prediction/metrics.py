"""Scores of a failure predictor: per-window precision/recall/F1/PR-AUC, per-failure lead time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve


@dataclass(frozen=True)
class Failure:
    start: int  # first failed record
    stop: int  # one past the last failed record


def failures(label: np.ndarray) -> list[Failure]:
    """The failure periods (runs of 1s) of a label series."""
    padded = np.concatenate([[0], label.astype(np.int8), [0]])
    d = np.diff(padded)
    return [
        Failure(int(a), int(b)) for a, b in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1), strict=True)
    ]


@dataclass(frozen=True)
class Scores:
    """A method's figures at one threshold on one test part."""

    precision: float
    recall: float
    f1: float
    pr_auc: float
    warned: float  # share of the test failures with an alarm 1..lead_window intervals before they start
    lead: float  # mean intervals between the first such alarm and the failure's start (nan: none warned)
    alarms: int


def pr_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the precision-recall curve as average precision (no interpolation)."""
    return float(average_precision_score(y, p)) if y.any() else float("nan")


def pr_curve(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    precision, recall, _ = precision_recall_curve(y, p)
    return recall, precision


def lead_times(
    ends: np.ndarray, alarm: np.ndarray, label: np.ndarray, first: int, lead_window: int
) -> list[float | None]:
    """For each failure starting at or after record `first`: intervals from the first alarm in
    its warning span (the lead_window records before it starts, not reaching back past the
    previous failure's end) to its start; None when no alarm was raised there.

    ends[i] is the record whose end window i's score is available at; alarm[i] its decision.
    A score available at the end of record t warns a failure starting at s with s - t intervals.
    """
    raised = np.zeros(len(label), dtype=bool)
    raised[ends[alarm]] = True
    out: list[float | None] = []
    prev_stop = 0
    for f in failures(label):
        lo = max(f.start - lead_window, prev_stop, first)
        prev_stop = f.stop
        if f.start - 1 < first:  # no window of this part could have warned it
            continue
        hits = np.flatnonzero(raised[lo : f.start])
        out.append(float(f.start - (lo + hits[0])) if len(hits) else None)
    return out


def scores(
    y: np.ndarray,
    p: np.ndarray,
    ends: np.ndarray,
    label: np.ndarray,
    first: int,
    threshold: float,
    lead_window: int,
) -> Scores:
    """Figures at one threshold: alarms are scores >= threshold."""
    alarm = p >= threshold
    tp = int((alarm & (y == 1)).sum())
    n_alarm, n_pos = int(alarm.sum()), int(y.sum())
    precision = tp / n_alarm if n_alarm else float("nan")
    recall = tp / n_pos if n_pos else float("nan")
    f1 = 2 * tp / (n_alarm + n_pos) if n_alarm + n_pos else float("nan")
    leads = lead_times(ends, alarm, label, first, lead_window)
    warned = [x for x in leads if x is not None]
    return Scores(
        precision,
        recall,
        f1,
        pr_auc(y, p),
        len(warned) / len(leads) if leads else float("nan"),
        float(np.mean(warned)) if warned else float("nan"),
        n_alarm,
    )
