"""Reading the monitoring data: the fixture slice loads; every malformed file is one line naming the line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prediction.config import load_run, parse_run
from prediction.data import FEATURES, INJECTOR, default_data_path, load_records, resolve_data_path
from topologies import InputError

FIXTURE = Path(__file__).parent / "fixtures" / "prediction" / "slice.tsv"
GOOD = "30\t2021-06-05 00:00:10.3\t48.0\t11.0\t0.0\t0\t0\n30\t2021-06-05 00:00:15.3\t50.0\t26.0\t0.0\t2\t1\n"


def test_fixture_slice_loads():
    r = load_records(FIXTURE)
    assert len(r) == 2400
    assert r.features.shape == (2400, len(FEATURES)) and r.features.dtype == np.float32
    assert set(np.unique(r.label)) == {0, 1}
    assert r.columns((INJECTOR, "paging_failures")).shape == (2400, 2)
    # the first line of the slice, parsed
    first = FIXTURE.read_text().split("\n")[0].split("\t")
    assert r.injector[0] == float(first[0]) and r.features[0, 0] == float(first[2])
    assert r.label[0] == int(first[6])


def test_good_text_parses(tmp_path):
    f = tmp_path / "d.tsv"
    f.write_text(GOOD)
    r = load_records(f)
    assert r.label.tolist() == [0, 1] and r.features[1].tolist() == [50.0, 26.0, 0.0, 2.0]


@pytest.mark.parametrize(
    "text, where, what",
    [
        ("", "line 1", "empty"),
        ("\n\n", "line 1", "empty"),
        (
            GOOD + "30\t2021-06-05 00:00:20\t1\t2\t3\t0\n",
            "line 3",
            "expected 7 tab-separated columns, found 6",
        ),
        (GOOD.replace("48.0", "48.0\t1"), "line 1", "found 8"),
        (GOOD + "30\t2021-06-05 00:00:20\tnan\t2\t3\t0\t0\n", "line 3", "column 2 is nan"),
        (GOOD + "30\t2021-06-05 00:00:20\t1\tinf\t3\t0\t0\n", "line 3", "column 3 is inf"),
        (GOOD + "30\t2021-06-05 00:00:20\t1\t2\tabc\t0\t0\n", "line 3", "column 4 ('abc') is not a number"),
        (GOOD + "30\t2021-06-05 00:00:20\t1\t2\t3\t\t0\n", "line 3", "column 5 ('') is not a number"),
        (GOOD + "30\tyesterday\t1\t2\t3\t0\t0\n", "line 3", "not a timestamp"),
        (GOOD + "30\t2021-06-05 00:00:01\t1\t2\t3\t0\t0\n", "line 3", "not after the previous"),
        (GOOD + "30\t2021-06-05 00:00:20\t1\t2\t3\t0\t2\n", "line 3", "must be 0 or 1"),
        (GOOD + "30\t2021-06-05 00:00:20\t101\t2\t3\t0\t0\n", "line 3", "not a percentage"),
        (GOOD + "30\t2021-06-05 00:00:20\t1\t2\t3\t-1\t0\n", "line 3", "cannot be negative"),
        (GOOD + "\n" + GOOD.split("\n")[1].replace("15.3", "20") + "\n", "line 3", "found 1"),
    ],
)
def test_malformed_files_give_one_line_naming_the_line(tmp_path, text, where, what):
    f = tmp_path / "bad.tsv"
    f.write_text(text)
    with pytest.raises(InputError) as e:
        load_records(f)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"{f}: {where}: ")
    assert what in msg


def test_binary_and_missing_files(tmp_path):
    f = tmp_path / "bin.tsv"
    f.write_bytes(GOOD.encode() + b"\xff\xfe\n")
    with pytest.raises(InputError, match="line 3: is not UTF-8"):
        load_records(f)
    with pytest.raises(InputError, match="no such file"):
        resolve_data_path(tmp_path / "none.tsv")


def test_default_path_is_beside_the_checkout(tmp_path):
    assert default_data_path(tmp_path / "srem") == tmp_path / "shared" / "data" / "vepc-failure" / "data.tsv"


def test_run_files_are_validated(tmp_path):
    cfg = load_run(None)  # the shipped default
    assert [p.name for p in cfg.protocols] == ["authors", "onset+injector", "honest", "honest-psutil"]
    assert cfg.seeds == (0, 1, 2) and cfg.thresholds == (0.5, 0.7, 0.9)
    custom = parse_run({"protocols": {"mine": {"window": 20, "horizon": 6, "target": "onset"}}}, "x.yaml")
    assert custom.protocols[0].window == 20 and INJECTOR not in custom.protocols[0].features
    bad = [
        ({"seeds": "0"}, "x.yaml: seeds: must be a list"),
        ({"protocols": {"p": {"window": 0}}}, "protocols.p.window: is 0"),
        ({"protocols": {"p": {"target": "later"}}}, "protocols.p.target: is 'later'"),
        ({"protocols": {"p": {"features": ["cpu", "swap_percent"]}}}, "unknown feature 'cpu'"),
        ({"protocols": {"p": {"speed": 1}}}, "protocols.p.speed: unknown field"),
        ({"protocols": ["nope"]}, "protocols.nope: is not built in"),
        ({"thresholds": [0.5, 1.5]}, "thresholds: 1.5 is not in (0, 1)"),
        ({"lstm": {"hidden": 0}}, "lstm.hidden: is 0"),
        ({"lstm": {"hidden": "big"}}, "lstm.hidden: 'big' is not int"),
        ({"epochs": 3}, "x.yaml: epochs: unknown key"),
    ]
    for data, msg in bad:
        with pytest.raises(InputError) as e:
            parse_run(data, "x.yaml")
        assert msg in str(e.value) and "\n" not in str(e.value)
    f = tmp_path / "r.yaml"
    f.write_text("seeds: [0, 1\n")
    with pytest.raises(InputError, match="is not valid YAML"):
        load_run(f)
