"""The vectorised step evaluation agrees with the plain reference on random placements."""

import numpy as np
import pytest

from placement.model.simulate import DayRun
from tests.reference_step import reference_evaluate


@pytest.mark.parametrize("seed", range(4))
def test_vectorised_step_matches_reference(paper, seed):
    rng = np.random.default_rng(seed)
    run = DayRun(paper, paper.day("train", seed))
    while not run.done:
        mask = run.mask()
        # Move a random subset of instances to random allowed hosts.
        action = run.placement.copy()
        for i in np.flatnonzero(rng.random(len(action)) < 0.5):
            action[i] = rng.choice(np.flatnonzero(mask[i]))
        ref = reference_evaluate(paper, run.day, run.t, action, run.placement, run.arc_util)
        o = run.apply(action)
        assert o.placement.tolist() == ref["placement"]
        np.testing.assert_allclose(o.delay, ref["delay"], rtol=1e-9)
        assert o.accepted.tolist() == ref["accepted"]
        for k in ("cost_it", "cost_bw", "cost_rc", "cost_total"):
            assert getattr(o, k) == pytest.approx(ref[k], rel=1e-9), k
