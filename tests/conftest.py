"""Shared fixtures: the paper's problem, and a tiny network whose figures are worked by hand."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import topologies
from placement.model import scenario as sc
from placement.model.domain import Substrate, build_catalog
from placement.model.paths import PathTable
from placement.model.workload import Day, Problem, build_problem

TINY_TOPOLOGY = {
    "name": "tiny",
    "controller": {"bw_mbps": 50000.0, "cost_per_mb": 0.001},
    "switches": [
        {
            "name": n,
            "lm_mb": 50.0,
            "em_mb": 1000.0,
            "rt_mb": 50.0,
            "lm_cost_per_mb": 0.02,
            "em_cost_per_mb": 0.005,
            "rdma_us": 2.0,
        }
        for n in ("A", "B")
    ],
    "servers": [{"name": "S", "storage_mb": 10000.0, "cost_per_mb": 0.0001}],
    "links": [
        {"a": "A", "b": "B", "bw_mbps": 10000.0, "cost_per_mb": 0.001, "prop_ms": 0.1, "tx_ms_per_mb": 0.01},
        {"a": "A", "b": "S", "bw_mbps": 10000.0, "cost_per_mb": 0.002, "prop_ms": 0.2, "tx_ms_per_mb": 0.02},
    ],
}


def tiny_problem(server_capacity: float = 1000.0, lm_mb: float = 50.0) -> Problem:
    """Switches A-B, server S on A; one VNF type with one instance.

    Hosts: 0 = S, 1 = A/LM, 2 = B/LM, 3 = A/EM, 4 = B/EM. Nodes: A = 0, B = 1, S = 2.
    """
    data = {**TINY_TOPOLOGY, "switches": [dict(s, lm_mb=lm_mb) for s in TINY_TOPOLOGY["switches"]]}
    sub = Substrate.from_graph(topologies.from_dict(data, "tiny"))
    cat = build_catalog(
        sub,
        names=("fw",),
        switch_mb=np.array([10.0]),
        server_mb=np.array([20.0]),
        server_capacity=np.array([server_capacity]),
        switch_capacity=np.array([100000.0]),
        server_ms_per_mb=np.array([[1.0]]),
        switch_ms_per_mb=np.array([[0.01, 0.02]]),
        rdma_accesses=np.array([2.0]),
        rdma_table_share=0.1,
        instances_per_type=np.array([1]),
    )
    return Problem(sc.default(), sub, cat, PathTable(sub))


def tiny_day(rate_mbps: float = 80.0, deadline_ms: float = 20.0, initial: int = 0) -> Day:
    """One chain A -> fw -> B at one step."""
    return Day(
        split="test",
        index=0,
        hours=np.array([10]),
        working=np.array([True]),
        chain_types=np.array([[0]]),
        chain_len=np.array([1]),
        src=np.array([0]),
        dst=np.array([1]),
        rate=np.array([[rate_mbps]]),
        deadline=np.array([[deadline_ms]]),
        assign=np.array([[0]]),
        initial=np.array([initial]),
    )


@pytest.fixture(scope="session")
def paper():
    return build_problem(sc.default())


def small_scenario(chains: int = 10, types: int = 2, per_type: int = 1, seed: int = 3) -> sc.Scenario:
    d = sc.to_dict(sc.default())
    d["seed"] = seed
    d["vnfs"].update(types=types, instances_per_type=per_type)
    d["workload"].update(chains=chains, max_chain_length=types, train_days=4, test_days=4)
    return sc.from_dict(d, "small")


def fattree(k: int, seed: int) -> sc.Scenario:
    """The paper's ranges on a k-ary fat-tree, drawn with `seed`."""
    base = sc.default()
    topo = dataclasses.replace(base.topology, builder="fattree", k=k)
    return dataclasses.replace(base, name=f"k{k}-{seed}", seed=seed, topology=topo)


@pytest.fixture(scope="module")
def tiny():
    """A k=2 fat-tree problem (seed 5): the learned agents' smallest substrate."""
    return build_problem(fattree(2, 5))


def k2_scenario() -> sc.Scenario:
    """The paper's scenario on a k=2 fat-tree (5 switches, 2 servers) with 6 chains: the
    emulation tests' fabric, small enough for a 2-core machine."""
    s = sc.default()
    return dataclasses.replace(
        s,
        name="k2-small",
        topology=dataclasses.replace(s.topology, builder="fattree", k=2),
        workload=dataclasses.replace(s.workload, chains=6),
    )


# -- P4Runtime tests: a device behind a real gRPC server, and compiled programs -------------
@pytest.fixture
def dev():
    from tests.p4rt import device

    with device() as d:
        yield d


@pytest.fixture(scope="module")
def basic():
    from p4target.compiler.driver import compile_p4
    from tests.p4rt import P4

    return compile_p4(P4 / "basic.p4")


@pytest.fixture(scope="module")
def sink():
    from p4target.compiler.driver import compile_p4
    from tests.p4rt import P4

    return compile_p4(P4 / "kitchen_sink.p4")


# -- the real P4 tools (p4c-bm2-ss, simple_switch_grpc): found, or the test skipped and why ---
def _p4real_why_not() -> str | None:
    """Find the real tools on PATH or in ../shared/p4real/bin (running its setup once, which
    installs their Debian libraries as root), put them on PATH; why not, when they are not."""
    import os
    import subprocess

    from controller.fabric.targets import REPO, tool, use_tools

    names = ("p4c-bm2-ss", "simple_switch_grpc", "simple_switch_CLI")

    def broken() -> str | None:
        if any(tool(n) is None for n in names):
            return f"the real P4 tools ({', '.join(names)}) are not on PATH, in $P4REAL_BIN or ../shared/p4real/bin"
        for n in names[:2]:
            p = subprocess.run([tool(n), "--version"], capture_output=True, text=True)
            if p.returncode != 0:
                return f"{n} does not start here: {(p.stderr or p.stdout).strip()[:200]}"
        return None

    why = broken()
    setup = REPO.parent / "shared" / "p4real" / "setup"
    if why and setup.is_file() and os.access(setup, os.X_OK):
        subprocess.run([str(setup)], capture_output=True, timeout=600)  # exits 0 always
        why = broken()
    if why is None:
        use_tools()
    return why


@pytest.fixture(scope="session")
def p4real() -> None:
    """The real p4c and BMv2 on PATH for the session (tests that need them take this)."""
    why = _p4real_why_not()
    if why:
        pytest.skip(why)
