"""The filtered DQN: filters, replay and target updates, reproducibility, learning."""

import dataclasses

import numpy as np
import pytest
import torch

from placement.dqn.network import DqnConfig, FilteredQNet, choose
from placement.dqn.train import agent_of, epsilon, load, save, td_update, train
from placement.model.env import SremEnv
from placement.model.simulate import DayRun, run_day
from placement.model.workload import build_problem
from tests.conftest import small_scenario

FAST = DqnConfig(batch=32, learning_starts=32, target_every=50, eps_decay_steps=600, buffer=2000)


@pytest.fixture(scope="module")
def tight():
    """Small LMs so that the static filter removes some hosts for some VNFs."""
    d = dataclasses.asdict(small_scenario(chains=12, types=3, per_type=1, seed=5))
    d["vnfs"]["switch_mb"] = [30.0, 120.0]
    d["workload"]["train_days"] = 8
    from placement.model import scenario as sc

    return build_problem(sc.from_dict(d))


def test_static_filter_weights_stay_zero_through_training(tight):
    assert not tight.cat.static_mask[tight.cat.inst_type].all()  # the filter has work to do
    st = train(tight, dataclasses.replace(FAST, filter="static"), 40, seed=1)
    assert torch.count_nonzero(st.net.masked_weights()) == 0
    assert torch.count_nonzero(st.net.b2.detach() * (1 - st.net.out_mask)) == 0
    # ...while the unmasked weights did learn.
    unmasked = st.net.w2.detach() * st.net.out_mask[:, None, :]
    fresh = FilteredQNet(st.net.w1.shape[1], tight.cat.static_mask[tight.cat.inst_type], FAST.hidden, True)
    torch.manual_seed(1)
    assert not torch.equal(unmasked, fresh.w2.detach() * fresh.out_mask[:, None, :])


def test_dynamic_filter_never_chooses_a_masked_host(tight):
    rng = np.random.default_rng(0)
    run = DayRun(tight, tight.day("train", 0))
    for _ in range(50):
        q = rng.normal(size=(tight.cat.n_instances, tight.sub.n_hosts)) * 100
        q[:, 0] = 1e9  # a host the mask may forbid must still lose
        placement = choose(q, run.placement, tight, dynamic=True)
        for i in range(len(placement)):
            partial = np.concatenate([placement[:i], run.placement[i:]])
            assert run.mask(partial)[i, placement[i]]
        assert run.apply(placement).feasible
        if run.done:
            run = DayRun(tight, tight.day("train", 1))


def test_td_update_follows_bellman_and_target_syncs(tight):
    cfg = dataclasses.replace(FAST, gamma=0.5, lr=0.05)
    st = train(tight, cfg, 8, seed=2)
    # Make the replay hold one known transition, and the target differ from the net.
    rp = st.replay
    k = 3
    for name in ("obs", "action", "reward", "next_obs", "done", "next_mask"):
        getattr(rp, name)[0] = getattr(rp, name)[k]
    rp.n, rp.reward[0], rp.done[0] = 1, 0.7, 0.0
    with torch.no_grad():
        st.target.b2.add_(0.3 * st.target.out_mask)
        q_next = st.target(torch.as_tensor(rp.next_obs[:1]))[0]
        allowed = torch.as_tensor(rp.next_mask[0]) & (st.net.out_mask == 1)
        target = 0.7 + 0.5 * q_next.masked_fill(~allowed, -torch.inf).max(-1).values
        q = st.net(torch.as_tensor(rp.obs[:1]))[0].gather(1, torch.as_tensor(rp.action[0])[:, None])[:, 0]
        expected = torch.nn.functional.smooth_l1_loss(q, target).item()
    before = [p.detach().clone() for p in st.net.parameters()]
    assert td_update(st, cfg) == pytest.approx(expected, rel=1e-6)
    assert any(not torch.equal(a, b) for a, b in zip(before, st.net.parameters(), strict=True))
    # The target network is synced every `target_every` steps.
    st2 = train(tight, dataclasses.replace(cfg, target_every=1), 1, seed=2)
    for a, b in zip(st2.net.parameters(), st2.target.parameters(), strict=True):
        assert torch.equal(a, b)
    assert epsilon(cfg, 0) == 1.0 and epsilon(cfg, 10**9) == pytest.approx(0.02)


def test_training_is_bit_for_bit_reproducible_and_resumable(tight, tmp_path):
    a = train(tight, FAST, 30, seed=7)
    b = train(tight, FAST, 30, seed=7)
    assert a.episode_rewards == b.episode_rewards
    assert all(torch.equal(x, y) for x, y in zip(a.net.parameters(), b.net.parameters(), strict=True))
    # 15 + checkpoint + 15 == 30 in one go.
    half = train(tight, FAST, 15, seed=7)
    save(tmp_path / "ck.pt", half, FAST, tight.scenario)
    st, cfg = load(tmp_path / "ck.pt", tight)
    st = train(tight, cfg, 15, state=st)
    assert st.episode_rewards == a.episode_rewards
    assert all(torch.equal(x, y) for x, y in zip(st.net.parameters(), a.net.parameters(), strict=True))


def test_short_training_improves_reward(tight):
    st = train(tight, FAST, 300, seed=0)
    r = np.array(st.episode_rewards)
    assert r[-50:].mean() > r[:50].mean() + 0.3
    agent = agent_of(tight, st, FAST)
    days = [run_day(tight, tight.day("test", k), agent) for k in range(2)]
    assert all(rec.feasible for day in days for rec in day)
    assert SremEnv(tight).n_features == st.net.w1.shape[1]


def test_ddqn_cm_moves_among_servers_only_with_double_q_targets(tight):
    from placement.dqn.network import ddqn_cm_config
    from placement.model.domain import HostKind

    cfg = dataclasses.replace(
        ddqn_cm_config(),
        **{
            k: getattr(FAST, k)
            for k in ("batch", "learning_starts", "target_every", "eps_decay_steps", "buffer")
        },
    )
    st = train(tight, cfg, 30, seed=4)
    servers = tight.sub.host_kind == HostKind.SERVER
    assert (st.net.out_mask[:, ~torch.as_tensor(servers)] == 0).all()
    assert st.net.w1.shape[1] == tight.cat.n_instances * tight.sub.n_hosts + 2  # placement + time
    assert all(r <= 0 for r in st.episode_rewards)  # minus delay and migration cost
    agent = agent_of(tight, st, cfg)
    assert agent.name == "ddqn-cm"
    for rec in run_day(tight, tight.day("test", 0), agent):
        assert rec.on_lm == rec.on_em == 0
    # Double DQN: the online net picks the next host, the target net values it.
    rp = st.replay
    rp.n, rp.done[0] = 1, 0.0
    with torch.no_grad():
        st.target.b2.add_(torch.randn_like(st.target.b2) * st.target.out_mask)
        nxt = torch.as_tensor(rp.next_obs[:1])
        allowed = torch.as_tensor(rp.next_mask[0]) & (st.net.out_mask > 0)
        pick = st.net(nxt)[0].masked_fill(~allowed, -torch.inf).argmax(-1)
        value = st.target(nxt)[0].gather(1, pick[:, None])[:, 0]
        target = float(rp.reward[0]) + cfg.gamma * value
        q = st.net(torch.as_tensor(rp.obs[:1]))[0].gather(1, torch.as_tensor(rp.action[0])[:, None])[:, 0]
        expected = torch.nn.functional.smooth_l1_loss(q, target).item()
    assert td_update(st, cfg) == pytest.approx(expected, rel=1e-6)


def test_shared_trunk_variant_learns_with_fewer_weights(tight):
    cfg = dataclasses.replace(FAST, shared_trunk=True)
    st = train(tight, cfg, 300, seed=0)
    per_instance = FilteredQNet(
        st.net.w1.shape[1], tight.cat.static_mask[tight.cat.inst_type], cfg.hidden, True
    )
    assert st.net.w1.shape[0] == 1 and per_instance.w1.shape[0] == tight.cat.n_instances
    assert torch.count_nonzero(st.net.masked_weights()) == 0
    r = np.array(st.episode_rewards)
    assert r[-50:].mean() > r[:50].mean() + 0.3


def test_policy_records_its_scenario_and_refuses_another(tmp_path):
    from placement.dqn.train import new_state, save_policy
    from topologies import InputError

    p = build_problem(small_scenario(chains=6, types=2, per_type=1, seed=5))
    st = new_state(p, FAST, 0, SremEnv(p, "train"))
    save_policy(tmp_path / "a.pt", st, FAST, p.scenario)
    load(tmp_path / "a.pt", p)  # its own scenario: fine, whatever its name
    renamed = build_problem(dataclasses.replace(p.scenario, name="renamed"))
    load(tmp_path / "a.pt", renamed)
    other = build_problem(dataclasses.replace(p.scenario, seed=6))  # same shapes, other draw
    with pytest.raises(InputError, match=r"trained on scenario '.*' \(hash .* does not fit"):
        load(tmp_path / "a.pt", other)
    # A policy trained for the distribution of seeds covers another seed of the family.
    save_policy(tmp_path / "d.pt", st, FAST, p.scenario, distribution=True)
    load(tmp_path / "d.pt", other)
    wider = dataclasses.replace(p.scenario, workload=dataclasses.replace(p.scenario.workload, jitter=0.2))
    with pytest.raises(InputError, match="distribution of scenarios like"):
        load(tmp_path / "d.pt", build_problem(wider))
