"""Windowing, labels and the split are exact: no training window holds or is labelled from the future."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from prediction.config import AUTHORS, HONEST, Protocol
from prediction.data import FEATURES, INJECTOR, Records
from prediction.metrics import failures, lead_times, scores
from prediction.windows import make_split, split_index, window_labels


def synthetic(n: int = 500, seed: int = 0) -> Records:
    """Every feature column holds the record's own index, so a window shows which records it holds."""
    rng = np.random.default_rng(seed)
    label = np.zeros(n, dtype=np.int8)
    t = 30
    while t < n - 10:
        length = int(rng.integers(1, 12))
        label[t : t + length] = 1
        t += length + int(rng.integers(5, 40))
    idx = np.arange(n, dtype=np.float32)
    feats = np.stack([idx] * len(FEATURES), axis=1)
    return Records(
        "synthetic", idx.astype(np.float64) + 1000.0, tuple(str(i) for i in range(n)), feats, label
    )


def raw_index(split_x: np.ndarray, scaler) -> np.ndarray:
    """Undo the min-max scaling of the last feature: the record indices a window holds."""
    span = np.where(scaler.hi > scaler.lo, scaler.hi - scaler.lo, 1.0)
    return np.rint(split_x[..., -1] * span[-1] + scaler.lo[-1]).astype(int)


@pytest.mark.parametrize("n", [100, 101, 499, 500, 11696])
def test_split_index_matches_sklearn(n):
    x = np.arange(n)
    train, test = train_test_split(x, test_size=0.2, shuffle=False)
    assert split_index(n, 0.2) == len(train) == n - len(test)


@pytest.mark.parametrize(
    "protocol",
    [
        AUTHORS,
        HONEST,
        Protocol("h1", window=7, horizon=1, target="onset"),
        Protocol("s5", window=13, horizon=5, target="state", rescale_test=True),
    ],
)
def test_windows_are_exact_and_never_straddle_the_split(protocol):
    rec = synthetic()
    s = make_split(rec, protocol)
    cut = split_index(len(rec), protocol.test_fraction)
    assert s.n_train == cut
    w, h = protocol.window, protocol.horizon
    test_scaler = (
        type(s.scaler).fit(rec.columns(protocol.features)[cut:]) if protocol.rescale_test else s.scaler
    )
    for part, lo, hi, scaler in ((s.train, 0, cut, s.scaler), (s.test, cut, len(rec), test_scaler)):
        held = raw_index(part.x, scaler)
        # each window holds exactly the w records ending at its end, in order
        assert (held == part.end[:, None] - np.arange(w - 1, -1, -1)[None, :]).all()
        assert held.min() >= lo and held.max() < hi
        # its label is read from records inside the same part, after the window
        assert (part.end + h < hi).all()
        for t, y in zip(part.end, part.y, strict=True):
            if protocol.target == "state":
                assert y == rec.label[t + h]
            else:
                assert rec.label[t] == 0
                assert y == rec.label[t + 1 : t + h + 1].max()
    # no training window, nor any label it was given, reaches a test record
    assert raw_index(s.train.x, s.scaler).max() < cut and (s.train.end + h).max() < cut
    # every admissible window is there (none dropped silently)
    for part, lo, hi in ((s.train, 0, cut), (s.test, cut, len(rec))):
        ends = np.arange(lo + w - 1, hi - h)
        if protocol.target == "onset":
            ends = ends[rec.label[ends] == 0]
        assert (part.end == ends).all()


def test_scaling_is_fitted_on_the_training_part_only():
    rec = synthetic()
    s = make_split(rec, HONEST)
    cut = split_index(len(rec), 0.2)
    assert s.scaler.lo[0] == 0 and s.scaler.hi[0] == cut - 1
    assert s.test.x.max() > 1.0  # test records lie beyond the training range, not rescaled
    a = make_split(rec, AUTHORS)  # the authors refit on the test part
    assert a.test.x.max() <= 1.0 and a.test.x.min() >= 0.0


def test_injector_column_only_where_the_protocol_asks():
    rec = synthetic()
    assert INJECTOR in AUTHORS.features and INJECTOR not in HONEST.features
    assert make_split(rec, AUTHORS).train.x.shape[2] == 5
    assert make_split(rec, HONEST).train.x.shape[2] == 4


def test_onset_labels_leave_out_windows_inside_failures():
    label = np.array([0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0], dtype=np.int8)
    ends, y = window_labels(label, Protocol("p", window=2, horizon=2, target="onset"))
    assert ends.tolist() == [1, 2, 5, 6, 7, 8]  # 3, 4 and 9 end inside a failure
    assert y.tolist() == [1, 1, 0, 0, 1, 1]


def test_lead_time_counts_from_the_first_alarm_before_the_failure():
    label = np.zeros(40, dtype=np.int8)
    label[10:15] = 1
    label[30:33] = 1
    assert [(f.start, f.stop) for f in failures(label)] == [(10, 15), (30, 33)]
    ends = np.arange(0, 40)
    alarm = np.zeros(40, dtype=bool)
    alarm[[7, 8, 12, 25]] = True  # 7: 3 ahead of the first; 12 is inside it; 25: 5 ahead of the second
    assert lead_times(ends, alarm, label, 0, 60) == [3.0, 5.0]
    # a lead window of 4 ignores the alarm at 25 (too early to count as a warning of 30)
    assert lead_times(ends, alarm, label, 0, 4) == [3.0, None]
    # failures no window of the part can warn are not counted
    assert lead_times(ends, alarm, label, 20, 60) == [5.0]


def test_scores_by_hand():
    y = np.array([0, 1, 1, 0, 1])
    p = np.array([0.2, 0.9, 0.6, 0.8, 0.3])
    label = np.array([0, 0, 0, 0, 0, 1, 1], dtype=np.int8)
    s = scores(y, p, np.arange(5), label, 0, 0.5, 60)
    assert (s.precision, s.recall) == (2 / 3, 2 / 3)
    assert s.f1 == pytest.approx(2 / 3)
    assert s.warned == 1.0 and s.lead == 4.0  # first alarm at record 1, failure starts at 5


def test_bootstrap_blocks_are_a_failure_and_the_quiet_records_before_it():
    from prediction.evaluate import ProtocolResult, failure_blocks

    rec = synthetic()
    s = make_split(rec, AUTHORS)
    blocks = failure_blocks(ProtocolResult(AUTHORS, s))
    last = [f.stop - 1 for f in failures(rec.label)]
    for t, b in zip(s.test.end, blocks, strict=True):
        assert (b == len(last) or t <= last[b]) and (b == 0 or t > last[b - 1])
    assert (np.diff(blocks) >= 0).all()
