import numpy as np

from placement.dqn.convergence import episodes_to_converge, moving_average


def test_moving_average():
    assert moving_average([1, 2, 3, 4], 2).tolist() == [1.5, 2.5, 3.5]


def test_episodes_to_converge_finds_the_knee():
    rng = np.random.default_rng(0)
    ramp = np.r_[np.linspace(0, 1, 1000), np.ones(2000)] + rng.normal(0, 0.01, 3000)
    at = episodes_to_converge(ramp.tolist(), window=100)
    assert 900 <= at <= 1100
    assert episodes_to_converge([1.0] * 500, window=100) is None  # nothing learned
