"""Server failure schedules drawn from the vEPC data set's statistics, and the monitoring rows
a server shows along its schedule, replayed from the data set's held-out records.

Time is counted in monitoring intervals (the data set's, about 5 s). A schedule is a list of
failures per server; a failure lasts 30-100 intervals with probability 0.95 and 500-2,000
otherwise (the injector's periods in the data set's README and issue 19). How often a
server fails is the caller's choice (`mean_up`): the data set's own rate (a failure every
two minutes or so) is an injection experiment's, not a server's.

The rows a server shows are real records of the data set's **test part** (the last 20 %,
which the shipped models never trained on), so the predictor's scores are what it would
give on unseen data:

- before each failure: the real records that preceded a real test failure (from the end of
  the failure before it up to its start), ending exactly where the simulated failure starts;
- while failed: that real failure's records, repeated to the drawn length;
- elsewhere: records of the test part that are neither failed nor within the predictor's
  horizon of a failure start (the honest label's negatives), taken as contiguous runs from
  random offsets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import Records
from .metrics import Failure, failures
from .windows import split_index


@dataclass(frozen=True)
class FailureStats:
    """The failure-duration mix of the data set, in monitoring intervals."""

    short: tuple[int, int] = (30, 100)
    long: tuple[int, int] = (500, 2000)
    p_long: float = 0.05

    def draw(self, rng: np.random.Generator) -> int:
        lo, hi = self.long if rng.random() < self.p_long else self.short
        return int(rng.integers(lo, hi + 1))


def draw_schedule(
    rng: np.random.Generator, n_servers: int, n_intervals: int, mean_up: float, stats: FailureStats
) -> list[list[Failure]]:
    """Per server, failures in [0, n_intervals): up times exponential with mean `mean_up`
    intervals (a renewal process), durations from `stats`. A failure may run past the end."""
    out: list[list[Failure]] = []
    for _ in range(n_servers):
        fs: list[Failure] = []
        t = int(rng.exponential(mean_up))
        while t < n_intervals:
            d = stats.draw(rng)
            fs.append(Failure(t, t + d))
            t += d + max(1, int(rng.exponential(mean_up)))
        out.append(fs)
    return out


def down_matrix(schedule: list[list[Failure]], n_intervals: int) -> np.ndarray:
    """[servers, intervals] bool: the server is failed during that interval."""
    down = np.zeros((len(schedule), n_intervals), dtype=bool)
    for s, fs in enumerate(schedule):
        for f in fs:
            down[s, f.start : min(f.stop, n_intervals)] = True
    return down


@dataclass(frozen=True)
class RowLibrary:
    """The held-out records a simulated server's monitor replays (see the module's note)."""

    features: tuple[str, ...]
    rows: np.ndarray  # (n, F) the test part's records, in order
    label: np.ndarray  # (n,) failed
    episodes: tuple[tuple[int, Failure], ...]  # (first quiet record, failure) in test-part indices
    normal: np.ndarray  # indices of records usable as "normal" rows

    @classmethod
    def from_records(
        cls, records: Records, features: tuple[str, ...], horizon: int, test_fraction: float = 0.2
    ) -> RowLibrary:
        cut = split_index(len(records), test_fraction)
        part = records.slice(cut, len(records))
        label = part.label.astype(bool)
        fs = failures(part.label)
        episodes, prev = [], 0
        for f in fs:
            if f.start > prev:  # a precursor of at least one record
                episodes.append((prev, f))
            prev = f.stop
        # Normal: up, and no failure starts within `horizon` intervals (what a predictor must not flag).
        soon = np.zeros(len(part), dtype=bool)
        for f in fs:
            soon[max(0, f.start - horizon) : f.start] = True
        normal = np.flatnonzero(~label & ~soon)
        if not episodes or len(normal) == 0:
            raise ValueError(f"{records.source}: its test part holds no failure to replay")
        return cls(features, part.columns(features), label, tuple(episodes), normal)

    def _normal(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n normal rows: contiguous runs (of up to 120 records) of the normal records."""
        out, left = [], n
        while left > 0:
            i = int(rng.integers(len(self.normal)))
            run = self.normal[i : i + min(left, 120)]
            # keep a run contiguous in time: stop at the first gap
            gaps = np.flatnonzero(np.diff(run) != 1)
            run = run[: gaps[0] + 1] if len(gaps) else run
            out.append(self.rows[run])
            left -= len(run)
        return np.concatenate(out)[:n]

    def server_rows(
        self, rng: np.random.Generator, failures_: list[Failure], n_intervals: int, history: int
    ) -> np.ndarray:
        """(history + n_intervals, F) rows: `history` rows before interval 0, then one per interval."""
        total = history + n_intervals
        parts: list[np.ndarray] = []
        at = 0  # next row to fill, in 0 .. total
        for f in failures_:
            start, stop = f.start + history, min(f.stop + history, total)
            if start >= total:
                break
            first, real = self.episodes[int(rng.integers(len(self.episodes)))]
            pre = self.rows[max(first, real.start - (start - at)) : real.start]
            if start - at > len(pre):
                parts.append(self._normal(rng, start - at - len(pre)))
            parts.append(pre)
            failed = self.rows[real.start : real.stop]
            reps = -(-(stop - start) // len(failed))
            parts.append(np.tile(failed, (reps, 1))[: stop - start])
            at = stop
        if at < total:
            parts.append(self._normal(rng, total - at))
        rows = np.concatenate(parts)
        assert len(rows) == total, (len(rows), total)
        return rows.astype(np.float32)


def window_scores(score_many, rows: np.ndarray, window: int, history: int, batch: int = 4096) -> np.ndarray:
    """Score of the window ending at each interval 0 .. len(rows)-history-1 (one per interval).

    `score_many` maps raw windows (m, window, F) to probabilities (the predictor's)."""
    view = np.lib.stride_tricks.sliding_window_view(rows, window, axis=0).transpose(0, 2, 1)
    view = view[history - window + 1 :]  # the window ending at interval k is view[k]
    out = [score_many(np.ascontiguousarray(view[i : i + batch])) for i in range(0, len(view), batch)]
    return np.concatenate(out).astype(np.float32)
