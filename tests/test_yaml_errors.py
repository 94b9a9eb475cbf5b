"""Scenario and topology YAML from hostile hands: every file loads or is one InputError
naming the file and the item (the CLI prints it on one line and exits 2), never a
traceback and never a hang."""

import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import topologies as T
from placement.model import scenario as sc
from tests.conftest import TINY_TOPOLOGY
from topologies import InputError

SREM = str(Path(sys.executable).parent / "srem")

BAD_SCENARIOS = [
    (b"name: x\nseed: 1\nseed: 2\n", "yaml", "duplicate key 'seed'"),
    (b"name: caf\xe9\n", "encoding", "byte 0xe9 on line 1 is not UTF-8"),
    (b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n", "yaml", "nested more than 64 levels"),
    (b"1: 2\n", "scenario", "keys must be strings"),
    (b"workload: {shape: {[1]: 2}}\n", "yaml", "a mapping key must be a plain value"),
    (b"seed: " + b"1" * 400 + b"\n", "seed", "out of range"),
    (b"vnfs: {switch_mb: [1.0e+400, 1.0e+400]}\n", "vnfs.switch_mb", "out of range"),
    (b"topology: {builder: fattree, k: 1000}\n", "topology.k", "more than srem can simulate"),
    (b"workload: {chains: 100000000}\n", "workload.chains", "more than srem can simulate"),
    (b"substrate: {link_gbps: [0, 0]}\n", "substrate.link_gbps", "capacities must be > 0"),
    (b"substrate: {em_gb: [0, 1]}\n", "substrate.em_gb", "capacities must be > 0"),
    (b"vnfs: {server_mb: [0, 1]}\n", "vnfs.server_mb", "sizes must be > 0"),
    (b"a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [" + b",".join([b"*a"] * 600) + b"]\nc: [" + b",".join([b"*b"] * 600)
     + b"]\n", "yaml", "more than 1000 aliases"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "item", "message"), BAD_SCENARIOS, ids=[m for *_, m in BAD_SCENARIOS])
def test_bad_scenario_files_name_the_item(tmp_path, data, item, message):
    f = tmp_path / "s.yaml"
    f.write_bytes(data)
    with pytest.raises(InputError) as e:
        sc.load(f)
    assert (e.value.item, e.value.source) == (item, str(f)) and message in e.value.message, str(e.value)


def test_a_directory_is_not_a_scenario(tmp_path):
    d = tmp_path / "dir.yaml"
    d.mkdir()
    with pytest.raises(InputError, match="is a directory"):
        sc.load(d)


def _topology(**changes) -> dict:
    t = yaml.safe_load(yaml.safe_dump(TINY_TOPOLOGY))
    t.update(changes)
    return t


@pytest.mark.parametrize(
    ("data", "item", "message"),
    [
        (_topology(links=[{**TINY_TOPOLOGY["links"][0], "bw_mbps": 0}]), "links[0]", "must be > 0"),
        (_topology(links=[{**TINY_TOPOLOGY["links"][0], "bw_mbps": 10**400}]), "links[0]", "out of range"),
        (_topology(controller={"bw_mbps": 0, "cost_per_mb": 0}), "controller", "> 0"),
        ({**_topology(), 7: 1}, "topology", "keys must be strings"),
        (_topology(links=[{**TINY_TOPOLOGY["links"][0], "a": [1]}]), "links[0]", "unknown node"),
        (_topology(servers=[{"name": f"s{i}", "storage_mb": 1, "cost_per_mb": 0} for i in range(20001)]),
         "topology", "more than the 20000"),
    ],
)  # fmt: skip
def test_bad_topologies_name_the_item(data, item, message):
    with pytest.raises(InputError) as e:
        T.from_dict(data, "t.yaml")
    assert e.value.item.startswith(item) and message in e.value.message, str(e.value)


def test_the_cli_says_one_line_and_exits_2(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_bytes(b"name: x\nseed: 1\nseed: 2\n")
    p = subprocess.run([SREM, "scenario", "validate", str(f)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and len((p.stdout + p.stderr).strip().splitlines()) == 1
    assert "duplicate key 'seed'" in p.stdout + p.stderr


def _mutate(rng: random.Random, data: bytes) -> bytes:
    n = len(data)
    a = rng.randrange(n)
    b = min(n, a + rng.randrange(1, 30))
    k = rng.randrange(6)
    if k == 0:
        return data[:a] + data[b:]
    if k == 1:
        return data[:a] + data[a:b] * rng.randrange(2, 20) + data[a:]
    if k == 2:
        tok = rng.choice([b"[", b"{", b"]", b":", b"- ", b"&x ", b"*x", b"0", b"-1", b"1e999", b"9" * 40,
                          b"\xff", b"\t", b"!!python/object:os.system", b"? ", b"\n  ", b"null", b"~"])  # fmt: skip
        return data[:a] + tok + data[a:]
    if k == 3:
        return data[:a] + b"[" * rng.randrange(10, 200) + data[a:]
    if k == 4:
        c = rng.randrange(n)
        return data[:a] + data[c : c + (b - a)] + data[b:]
    return data[:a] + bytes([rng.randrange(256)]) + data[b:]


def test_mutation_fuzz_yaml_loaders_success_or_named_error(tmp_path):
    """Seeded and bounded: mutants of a scenario and of a topology load or raise InputError."""
    rng = random.Random(2026)
    scen = sc.dump(sc.default()).encode()
    topo = yaml.safe_dump(TINY_TOPOLOGY).encode()
    errors = 0
    for k in range(150):
        is_topo = k % 2 == 1
        data = topo if is_topo else scen
        for _ in range(rng.randrange(1, 4)):
            data = _mutate(rng, data)
        f = tmp_path / f"m{k}.yaml"
        f.write_bytes(data)
        t0 = time.monotonic()
        try:
            T.load(f) if is_topo else sc.load(f)
        except InputError as e:
            errors += 1
            assert e.source == str(f) and e.item is not None
        assert time.monotonic() - t0 < 10, f"mutant {k} took too long"
    assert errors > 30
