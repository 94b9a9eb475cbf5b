"""Issue 22 defects 5 and 6: scenario sections given in part and non-finite numbers, and
policy files that are not policies, or not for this scenario, or given to an agent that
takes none: each a one-line InputError naming the file and the item, no traceback."""

from __future__ import annotations

import pickle
import random

import pytest

from placement.agents import DEFAULT_MODELS, agent_or_error
from placement.model import scenario as sc
from placement.model.workload import build_problem
from topologies import InputError


@pytest.mark.parametrize(
    "data, item, words",
    [
        ({"workload": {"working": {"rate_mbps": [1, 2]}}}, "workload.working", "missing keys ['deadline_ms']"),
        ({"workload": {"evening": {"deadline_ms": [1, 2]}}}, "workload.evening", "missing keys ['rate_mbps']"),
        ({"workload": {"jitter": float("-inf")}}, "workload.jitter", "must be a finite number >= 0, got -inf"),
        ({"workload": {"jitter": float("nan")}}, "workload.jitter", "finite"),
        ({"workload": {"working": {"rate_mbps": [1, float("inf")], "deadline_ms": [1, 2]}}},
         "workload.working.rate_mbps", "out of range"),
    ],
)  # fmt: skip
def test_partial_sections_and_non_finite_numbers_are_named(data, item, words):
    with pytest.raises(InputError) as e:
        sc.from_dict(data, "s.yaml")
    assert item in str(e.value) and words in str(e.value)
    assert "\n" not in str(e.value)


def test_fuzz_scenario_sections_with_keys_left_out_never_raise_anything_but_input_errors():
    rng = random.Random(2205)
    full = sc.to_dict(sc.Scenario()) if hasattr(sc, "to_dict") else None
    if full is None:
        pytest.skip("no to_dict in this scenario module")
    for _ in range(60):
        d = {k: dict(v) if isinstance(v, dict) else v for k, v in full.items()}
        sec = rng.choice([k for k, v in d.items() if isinstance(v, dict)])
        sub = d[sec]
        for k in rng.sample(sorted(sub), k=min(len(sub), rng.randint(1, 3))):
            v = sub[k]
            if isinstance(v, dict) and v:
                v = dict(v)
                v.pop(rng.choice(sorted(v)))
                sub[k] = v
            else:
                sub[k] = rng.choice([float("-inf"), float("nan"), -1, None, "x", [1], {}])
        try:
            sc.from_dict(d, "fuzz.yaml")
        except InputError as e:
            assert "\n" not in str(e)


@pytest.fixture(scope="module")
def problem():
    return build_problem(sc.Scenario())


def test_a_file_that_is_no_policy_is_one_line(problem, tmp_path):
    bad = tmp_path / "hostname"
    bad.write_text("myhost\n")
    with pytest.raises(InputError) as e:
        agent_or_error("srem", problem, 0, 1.0, bad)
    assert "cannot be read as a srem policy" in str(e.value) and str(bad) in str(e.value)
    pick = tmp_path / "list.pt"
    pick.write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(InputError) as e:
        agent_or_error("srem", problem, 0, 1.0, pick)
    assert "not a srem checkpoint" in str(e.value) or "cannot be read" in str(e.value)


def test_a_model_given_to_an_agent_that_takes_none_is_refused(problem, tmp_path):
    with pytest.raises(InputError) as e:
        agent_or_error("greedy", problem, 0, 1.0, tmp_path / "x.pt")
    assert "agent 'greedy' takes no model" in str(e.value)


def test_a_policy_of_another_scenario_is_refused_once_as_read_not_unreadable():
    other = build_problem(sc.Scenario(seed=12345))
    path = DEFAULT_MODELS["srem"]
    if not path.exists():
        pytest.skip("no shipped policy")
    with pytest.raises(InputError) as e:
        agent_or_error("srem", other, 0, 1.0, path)
    msg = str(e.value)
    assert "was trained on" in msg and "cannot be read" not in msg
    assert msg.count(str(path)) == 1
