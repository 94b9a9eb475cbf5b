"""The placement game as a PettingZoo parallel environment: one agent per VNF.

Each step every VNF picks the node it will sit on (simultaneously). The nodes admit
the moves in a random order and refuse one they have no room for (cpu, storage or tx),
as a MEC node would: that VNF stays where it is and pays a small penalty. Placements
therefore always fit, from a random initial distribution that fits (Algorithm 1,
line 3). Each placement is evaluated by the paper's delay model. An agent observes, for every node, its own
state and the mean field of the *other* VNFs (their share on that node, itself left
out), the node's speed and room, and what the node would cost it (processing, and
transmission to its SFC neighbours where they are now). Observations are per node, so
one shared policy serves scenarios of any size.
"""

from __future__ import annotations

import functools
import typing

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from . import delay as D
from .scenario import Requests, Scenario, sample_requests

FEATURES = ("own", "mean_field", "speed", "room", "processing", "colocated", "transmission", "volume")
REF_MS = 100.0  # reward and feature scale: ms per MB


def mean_field(x: np.ndarray, n_nodes: int) -> np.ndarray:
    """(V, N) the distribution of the other VNFs over nodes, for each VNF (itself excluded)."""
    v = len(x)
    count = np.bincount(x, minlength=n_nodes).astype(float)
    own = np.eye(n_nodes)[x]
    return (count[None, :] - own) / max(v - 1, 1)


def hop_volumes(m: D.Model, vol: np.ndarray) -> np.ndarray:
    return vol[m.hop_sfc]


def vnf_volumes(m: D.Model, vol: np.ndarray) -> np.ndarray:
    out = np.zeros(m.n_vnfs)
    for k, chain in enumerate(m.sfc_vnfs):
        out[list(chain)] += vol[k]
    return out


def observe(m: D.Model, x: np.ndarray, vol: np.ndarray) -> np.ndarray:
    """(V, N, F) features of every node for every VNF agent under placement x."""
    n, v = m.n_nodes, m.n_vnfs
    vv = vnf_volumes(m, vol)
    vshare = vv / max(vv.mean(), 1e-9)  # about 1 whatever the scenario's size
    used = np.zeros_like(m.cap)
    np.add.at(used, x, m.need)
    own = np.eye(n)[x]  # (V, N)
    others = used[None, :, :] - own[:, :, None] * m.need[:, None, :]  # (V, N, 3) used by the others
    room = ((m.cap[None] - others - m.need[:, None, :]) / m.cap[None]).min(2)
    proc = m.proc / REF_MS * vshare[:, None]
    # transmission an agent would pay to each SFC neighbour (at its current node) from node i,
    # with the links' present OFDMA load
    hv = hop_volumes(m, vol) / max(vv.mean(), 1e-9)
    tx = m.need[m.hop_src, 2]
    load = tx @ D.hop_links(m, x)
    per_load = m.route_sp @ (load / m.link_cap)  # (N*N,)
    per_base = m.route_sp @ (1.0 / m.link_cap)
    coloc = np.zeros((v, n))
    trans = np.zeros((v, n))
    for end, other in ((m.hop_src, m.hop_dst), (m.hop_dst, m.hop_src)):
        o = x[other]  # (H,) where the neighbour is
        idx = np.arange(n)[None, :] * n + o[:, None]  # (H, N) route from candidate node to neighbour
        est = D.MS * D.BITS * (per_load[idx] / tx[:, None] + per_base[idx])
        np.add.at(coloc, end, (np.arange(n)[None, :] == o[:, None]) * hv[:, None])
        np.add.at(trans, end, est * hv[:, None] / REF_MS)
    speed = m.cap[:, 0] / m.cap[:, 0].max()
    feats = [
        own,
        mean_field(x, n),
        np.broadcast_to(speed, (v, n)),
        np.clip(room, -1, 1),
        proc,
        coloc,
        trans,
        np.broadcast_to(vshare[:, None], (v, n)),
    ]
    return np.stack(feats, axis=2).astype(np.float32)


REFUSED = 0.1  # penalty of a move the target node refused


def admit(m: D.Model, x: np.ndarray, moves: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply the VNFs' chosen nodes in `order`; a node refuses a VNF it has no room for.
    Returns the new placement and which moves were refused."""
    x = x.copy()
    used = np.zeros_like(m.cap)
    np.add.at(used, x, m.need)
    refused = np.zeros(len(x), dtype=bool)
    for j in order:
        a = int(moves[j])
        if a == x[j]:
            continue
        if ((used[a] + m.need[j]) <= m.cap[a] + 1e-9).all():
            used[x[j]] -= m.need[j]
            used[a] += m.need[j]
            x[j] = a
        else:
            refused[j] = True
    return x, refused


def initial_placement(m: D.Model, rng: np.random.Generator) -> np.ndarray:
    """A random initial distribution that fits: each VNF, in random order, on a random node with room."""
    for _ in range(100):
        x = np.zeros(m.n_vnfs, dtype=int)
        used = np.zeros_like(m.cap)
        ok = True
        for j in rng.permutation(m.n_vnfs):
            room = np.nonzero(((used + m.need[j]) <= m.cap + 1e-9).all(1))[0]
            if not len(room):
                ok = False
                break
            x[j] = rng.choice(room)
            used[x[j]] += m.need[j]
        if ok:
            return x
    raise ValueError("no random placement fits; is the scenario feasible?")


def rewards(m: D.Model, x: np.ndarray, vol: np.ndarray) -> np.ndarray:
    """(V,) each VNF's payoff: minus its share of the total delay (its processing, half of each
    hop it ends), per MB of all requests, in REF_MS; minus a penalty when its node is overloaded
    (only reachable from an initial placement that does not fit).
    The delay shares sum to minus the paper's objective over the total volume."""
    hop = D.hop_ms_per_mb(m, x) * hop_volumes(m, vol) / 2
    share = vnf_volumes(m, vol) * m.proc[np.arange(m.n_vnfs), x]
    np.add.at(share, m.hop_src, hop)
    np.add.at(share, m.hop_dst, hop)
    r = -share / max(vol.sum(), 1e-9) / REF_MS
    over = (D.overload(m, x) / m.cap).max(1)  # (N,) worst relative overload per node
    return r - np.where(over[x] > 0, 1.0 + 4.0 * over[x], 0.0)


class MecPlacementEnv(ParallelEnv):
    """reset(seed, options={"requests": Requests, "placement": array}) then step({agent: node})."""

    metadata: typing.ClassVar[dict] = {"name": "srem_mfg_v0", "render_modes": []}

    def __init__(self, scenario: Scenario, steps: int = 8) -> None:
        self.scenario = scenario
        self.model = D.compile_model(scenario)
        self.steps = steps
        self.possible_agents = [f.name for f in scenario.vnfs]
        self.agents: list[str] = []
        self._rng = np.random.default_rng()
        self.x = np.zeros(self.model.n_vnfs, dtype=int)
        self.vol = np.ones(self.model.n_sfcs)
        self.t = 0

    @functools.cache  # noqa: B019 - PettingZoo asks for the same space object
    def observation_space(self, agent: str) -> spaces.Box:
        return spaces.Box(-np.inf, np.inf, (self.model.n_nodes, len(FEATURES)), np.float32)

    @functools.cache  # noqa: B019
    def action_space(self, agent: str) -> spaces.Discrete:
        return spaces.Discrete(self.model.n_nodes)

    def _obs(self) -> dict[str, np.ndarray]:
        o = observe(self.model, self.x, self.vol)
        return {a: o[j] for j, a in enumerate(self.possible_agents) if a in self.agents}

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        options = options or {}
        req: Requests = options.get("requests") or sample_requests(
            self.scenario, int(self._rng.integers(2**31))
        )
        self.requests = req
        self.vol = req.volumes(self.model.n_sfcs)
        x0 = options.get("placement")
        # Algorithm 1, line 3: a random initial distribution of the VNFs
        self.x = np.array(x0, dtype=int) if x0 is not None else initial_placement(self.model, self._rng)
        self.t = 0
        self.agents = list(self.possible_agents)
        return self._obs(), {a: {} for a in self.agents}

    def step(self, actions: dict[str, int]):
        moves = np.array([int(actions.get(a, self.x[j])) for j, a in enumerate(self.possible_agents)])
        self.x, refused = admit(self.model, self.x, moves, self._rng.permutation(self.model.n_vnfs))
        self.t += 1
        r = rewards(self.model, self.x, self.vol) - REFUSED * refused
        delay = D.total_delay(self.model, self.x, self.vol)
        feasible = D.feasible(self.model, self.x)
        done = self.t >= self.steps
        obs = self._obs()
        agents = list(self.agents)
        rew = {a: float(r[self.possible_agents.index(a)]) for a in agents}
        info = {
            a: {
                "total_delay_ms": delay,
                "feasible": feasible,
                "refused": bool(refused[self.possible_agents.index(a)]),
            }
            for a in agents
        }
        term = {a: False for a in agents}
        trunc = {a: done for a in agents}
        if done:
            self.agents = []
        return obs, rew, term, trunc, info
