"""The LSTM learns a synthetic precursor; training is seeded and resumes exactly; the scoring API."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from prediction import api
from prediction.config import HONEST, LstmConfig, Protocol
from prediction.data import FEATURES, Records, load_records
from prediction.metrics import pr_auc
from prediction.train_lstm import predict, train
from prediction.windows import make_split

FIXTURE = Path(__file__).parent / "fixtures" / "prediction" / "slice.tsv"
TINY = LstmConfig(hidden=16, layers=1, dropout=0.0, epochs=6, batch_size=32, lr=0.01)
PROTOCOL = Protocol("synthetic", window=12, horizon=4, target="onset", features=FEATURES)


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


def precursor_series(n: int = 1600, seed: int = 0) -> Records:
    """Noise everywhere; 3 paging-failure indications in each of the 4 intervals that end 3
    before every failure, and stray single indications (5 %) that announce nothing."""
    rng = np.random.default_rng(seed)
    feats = rng.uniform(0, 100, size=(n, 4)).astype(np.float32)
    feats[:, 3] = (rng.random(n) < 0.05).astype(np.float32)
    label = np.zeros(n, dtype=np.int8)
    s = 20
    while s < n - 10:
        label[s : s + 5] = 1
        feats[s - 6 : s - 2, 3] = 3.0
        s += int(rng.integers(25, 45))
    return Records("synthetic", np.zeros(n), tuple(map(str, range(n))), feats, label)


def test_lstm_learns_a_precursor_pattern(tmp_path):
    split = make_split(precursor_series(), PROTOCOL)
    saved = train(split, TINY, seed=0, out=tmp_path / "run", progress=False)
    p = predict(saved.network(), split.test.x)
    base_rate = split.test.y.mean()
    ap = pr_auc(split.test.y, p)
    assert ap > 0.9, (ap, base_rate)
    # it ranks on the precursor, not on the noise: shuffling the indications in time ruins it
    shuffled = split.test.x.copy()
    rng = np.random.default_rng(1)
    shuffled[:, :, 3] = shuffled[rng.permutation(len(shuffled)), :, 3]
    assert pr_auc(split.test.y, predict(saved.network(), shuffled)) < 0.5
    assert (tmp_path / "run" / "model.pt").exists() and any((tmp_path / "run" / "tb").iterdir())


def test_training_is_seeded_and_resumes_exactly(tmp_path):
    from topologies import InputError

    split = make_split(precursor_series(600), PROTOCOL)
    two = replace(TINY, epochs=2)
    a = train(split, two, seed=3, out=tmp_path / "a", progress=False)
    # one epoch, then resumed to two: the same weights as two in one go
    train(split, replace(two, epochs=1), seed=3, out=tmp_path / "b", progress=False)
    b = train(split, two, seed=3, out=tmp_path / "b", resume=True, progress=False)
    assert all(torch.equal(a.state[k], b.state[k]) for k in a.state)
    # a finished checkpoint is reused as is
    c = train(split, two, seed=3, out=tmp_path / "a", resume=True, progress=False)
    assert all(torch.equal(a.state[k], c.state[k]) for k in a.state)
    # another seed gives another network, and is refused as a resume of this one
    e = train(split, two, seed=4, out=tmp_path / "e", progress=False)
    assert not all(torch.equal(a.state[k], e.state[k]) for k in a.state)
    with pytest.raises(InputError, match="another seed, protocol, network or data"):
        train(split, two, seed=4, out=tmp_path / "a", resume=True, progress=False)
    with pytest.raises(InputError, match="past the 1 asked"):
        train(split, replace(two, epochs=1), seed=3, out=tmp_path / "a", resume=True, progress=False)


def test_score_api(tmp_path):
    records = load_records(FIXTURE)
    split = make_split(records, replace(HONEST, window=20))
    train(split, replace(TINY, epochs=1), seed=0, out=tmp_path / "m", progress=False)
    p = api.FailurePredictor.load(tmp_path / "m" / "model.pt")
    assert p.features == FEATURES and p.window == 20 and p.horizon == 12
    raw = records.features[100:130]  # 30 rows: the last 20 count
    rows = [dict(zip(FEATURES, map(float, r), strict=True)) for r in raw]
    s = p.score(raw)
    assert 0.0 <= s <= 1.0
    assert p.score(rows) == pytest.approx(s, abs=1e-6)
    assert p.score(raw[-20:]) == pytest.approx(s, abs=1e-6)
    # the same score the evaluation gives the window ending at record 129 (scaled alike)
    i = int(np.flatnonzero(split.train.end == 129)[0])
    assert predict(p.net, split.train.x[i : i + 1])[0] == pytest.approx(s, abs=1e-5)
    assert api.score(raw, model=tmp_path / "m" / "model.pt") == pytest.approx(s, abs=1e-6)
    with pytest.raises(ValueError, match="needs the last 20 samples, got 19"):
        p.score(raw[:19])
    with pytest.raises(ValueError, match="lacks feature 'swap_percent'"):
        p.score([{k: v for k, v in r.items() if k != "swap_percent"} for r in rows])
    with pytest.raises(ValueError, match="NaN"):
        p.score(np.full((20, 4), np.nan))


@pytest.mark.parametrize("path, n", [(api.DEFAULT_MODEL, 4), (api.PSUTIL_MODEL, 3)])
def test_shipped_models_load_and_score(path, n):
    p = api.FailurePredictor.load(path)
    assert p.features == FEATURES[:n] and p.window == 60 and p.horizon == 12
    assert p.protocol.target == "onset" and "injector_period" not in p.features
    x = load_records(FIXTURE).features[:60, :n]
    assert 0.0 <= p.score(x) <= 1.0
    assert all(api.PSUTIL_SOURCE[f] for f in FEATURES[:3]) and api.PSUTIL_SOURCE["paging_failures"] is None


def test_host_sample_reads_psutil():
    s = api.host_sample()
    assert set(s) == set(FEATURES[:3]) and all(0.0 <= v <= 100.0 for v in s.values())
    assert api.host_sample(paging_failures=2)["paging_failures"] == 2.0
