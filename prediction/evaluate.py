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
from .train_lstm import predict, train
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

    def methods(self) -> list[str]:
        return list(dict.fromkeys(r.method for r in self.runs))

    def of(self, method: str) -> list[MethodRun]:
        return [r for r in self.runs if r.method == method]

    def positives(self) -> tuple[int, int]:
        return int(self.split.test.y.sum()), len(self.split.test.y)


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
            saved = train(split, cfg.lstm, seed, runs_dir / f"{protocol.name}-s{seed}", True, progress, did)
            p = predict(saved.network(), split.test.x)
            res.runs.append(evaluate_method(res, LSTM, seed, p, time.perf_counter() - t0, cfg))
            for b in baselines(protocol.features):
                t0 = time.perf_counter()
                b.fit(split.train, seed)
                p = b.predict(split.test.x)
                res.runs.append(evaluate_method(res, b.name, seed, p, time.perf_counter() - t0, cfg))
            say(f"  seed {seed}: done")
        results.append(res)
    return results


def curve(res: ProtocolResult, method: str) -> tuple[np.ndarray, np.ndarray]:
    """The PR curve of a method's first seed (the plot shows one seed per method)."""
    r = res.of(method)[0]
    return pr_curve(res.split.test.y, r.p)
