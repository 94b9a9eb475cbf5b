import numpy as np
from gymnasium.utils.env_checker import check_env

from placement.model.env import SremEnv


def play(env, seed, policy):
    obs, info = env.reset(seed=seed)
    rewards = []
    done = False
    while not done:
        a = policy(info["action_mask"])
        obs, r, done, trunc, info = env.step(a)
        assert env.observation_space.contains(obs) and not trunc
        rewards.append(r)
    return rewards


def test_gymnasium_api(paper):
    check_env(SremEnv(paper), skip_render_check=True)


def test_episode_is_one_day_and_reproducible(paper):
    env = SremEnv(paper, "train", days=range(20))
    first = lambda m: np.argmax(m, axis=1)
    a, b = play(env, 3, first), play(env, 3, first)
    assert len(a) == 6 and a == b
    assert all(-0.5 <= r <= 1.0 for r in a)


def test_mask_follows_storage(paper):
    env = SremEnv(paper)
    env.reset(seed=0, options={"day": 0})
    m = env.action_masks()
    assert m.shape == (8, paper.sub.n_hosts)
    need = paper.cat.need[paper.cat.inst_type]
    assert not (m & (need > paper.sub.host_capacity[None, :])).any()
    assert m[np.arange(8), env.run.placement].all()  # staying is always allowed
