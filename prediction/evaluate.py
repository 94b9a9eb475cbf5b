"""One evaluation: every protocol, the LSTM and every baseline, several training seeds, one test part."""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .baselines import baselines
from .config import Protocol, RunConfig
from .data import Records
from .metrics import Scores, pr_curve, scores
from .train_lstm import finished, predict, train
from .windows import Split, make_split

LSTM = "lstm"


@dataclass
class MethodRun:
    """One method, one training seed, one protocol: its test scores and figures per threshold."""

    protocol: str
    method: str
    seed: int
    p: np.ndarray  # test-window scores
    by_threshold: dict[float, Scores]
    fit_s: float


@dataclass
class ProtocolResult:
    protocol: Protocol
    split: Split
    runs: list[MethodRun] = field(default_factory=list)
    boot: Bootstrap | None = None
    reused: int = 0  # LSTM runs taken from finished checkpoints (the page says how many)

    def methods(self) -> list[str]:
        return list(dict.fromkeys(r.method for r in self.runs))

    def of(self, method: str) -> list[MethodRun]:
        return [r for r in self.runs if r.method == method]

    def positives(self) -> tuple[int, int]:
        return int(self.split.test.y.sum()), len(self.split.test.y)

    def nowcast_share(self) -> float:
        """Share of the positive test windows that end inside a failure already going on."""
        t = self.split.test
        pos = t.y == 1
        return float((self.split.label[t.end[pos]] == 1).mean()) if pos.any() else float("nan")


@dataclass
class Stat:
    mean: float
    se: float  # standard error over seeds (0 for one seed or a method with no randomness)
    n: int


def stat(values: list[float]) -> Stat:
    v = np.asarray([x for x in values if not math.isnan(x)], dtype=float)
    if len(v) == 0:
        return Stat(float("nan"), float("nan"), 0)
    se = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0
    return Stat(float(v.mean()), se, len(v))


def data_id(records: Records) -> str:
    h = hashlib.sha256(records.features.tobytes() + records.label.tobytes() + records.injector.tobytes())
    return h.hexdigest()[:16]


def evaluate_method(
    res: ProtocolResult, method: str, seed: int, p: np.ndarray, fit_s: float, cfg: RunConfig
) -> MethodRun:
    t = res.split.test
    first = int(t.end[0]) if len(t.end) else res.split.n_train
    by = {thr: scores(t.y, p, t.end, res.split.label, first, thr, cfg.lead_window) for thr in cfg.thresholds}
    return MethodRun(res.protocol.name, method, seed, p, by, fit_s)


def run(
    records: Records,
    cfg: RunConfig,
    runs_dir: Path,
    say: Callable[[str], None] = print,
    progress: bool = True,
) -> list[ProtocolResult]:
    """Train and score everything; LSTM runs keep checkpoints in runs_dir/<protocol>-s<seed>/."""
    did = data_id(records)
    results = []
    for protocol in cfg.protocols:
        split = make_split(records, protocol)
        res = ProtocolResult(protocol, split)
        pos, n = res.positives()
        say(
            f"{protocol.name}: {len(split.train)} training and {n} test windows ({pos} positive), "
            f"features {', '.join(protocol.features)}"
        )
        for seed in cfg.seeds:
            t0 = time.perf_counter()
            out = runs_dir / f"{protocol.name}-s{seed}"
            res.reused += finished(out, cfg.lstm)
            saved = train(split, cfg.lstm, seed, out, True, progress, did)
            p = predict(saved.network(), split.test.x)
            res.runs.append(evaluate_method(res, LSTM, seed, p, time.perf_counter() - t0, cfg))
            for b in baselines(protocol.features):
                t0 = time.perf_counter()
                b.fit(split.train, seed)
                p = b.predict(split.test.x)
                res.runs.append(evaluate_method(res, b.name, seed, p, time.perf_counter() - t0, cfg))
            say(f"  seed {seed}: done")
        res.boot = bootstrap(res, cfg.bootstrap, seed=0)
        results.append(res)
    return results


def failure_blocks(res: ProtocolResult) -> np.ndarray:
    """Block id of every test window: failure k with the quiet records before it form block k
    (windows after the last failure form one more). Resampling blocks resamples failures."""
    from .metrics import failures

    last = np.asarray([f.stop - 1 for f in failures(res.split.label)], dtype=int)
    return np.searchsorted(last, res.split.test.end, side="left")


@dataclass
class Bootstrap:
    """PR-AUC's spread over the test failures (a block bootstrap), the seeds' mean per resample."""

    se: dict[str, float]  # standard deviation of the resampled PR-AUC, per method
    lstm_better: dict[str, float]  # share of resamples where the LSTM's PR-AUC beats the method's
    resamples: int


def bootstrap(res: ProtocolResult, resamples: int = 500, seed: int = 0) -> Bootstrap:
    from sklearn.metrics import average_precision_score

    y = res.split.test.y
    blocks = failure_blocks(res)
    ids = np.unique(blocks)
    members = [np.flatnonzero(blocks == b) for b in ids]
    rng = np.random.default_rng(seed)
    methods = res.methods()
    aps = {m: [] for m in methods}
    for _ in range(resamples):
        idx = np.concatenate([members[i] for i in rng.integers(0, len(ids), len(ids))])
        if not y[idx].any():
            continue
        for m in methods:
            aps[m].append(np.mean([average_precision_score(y[idx], r.p[idx]) for r in res.of(m)]))
    arr = {m: np.asarray(v) for m, v in aps.items()}
    se = {m: float(v.std(ddof=1)) if len(v) > 1 else float("nan") for m, v in arr.items()}
    better = {m: float((arr[LSTM] > arr[m]).mean()) for m in methods if m != LSTM and LSTM in arr}
    return Bootstrap(se, better, len(arr[methods[0]]))


def curve(res: ProtocolResult, method: str) -> tuple[np.ndarray, np.ndarray]:
    """The PR curve of a method's first seed (the plot shows one seed per method)."""
    r = res.of(method)[0]
    return pr_curve(res.split.test.y, r.p)
