"""srem on the real BMv2 (simple_switch_grpc with PI's P4Runtime server): how a switch of
either target is started, and a small emulated day on BMv2 with EM on that loses nothing.

The real tools come from PATH or ../shared/p4real/bin (the `p4real` fixture); where they
are absent the BMv2 tests skip and say why. The emulated day also needs root and Mininet."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.fabric import targets
from topologies.errors import InputError


def _spec(tmp_path: Path) -> targets.SwitchSpec:
    return targets.SwitchSpec(
        device_id=3, grpc_port=50001, thrift_port=50002, interfaces=[(1, "veth1"), (250, "lo0"), (251, "lo1")],
        cpu_port=255, log=tmp_path / "s3.log", queues={250: (1000, 512)},
    )  # fmt: skip


def test_srem_switch_gets_its_queues_on_the_command_line(tmp_path):
    argv = targets.argv("srem", _spec(tmp_path), ["srem"])
    assert argv[:2] == ["srem", "switch"]
    assert "127.0.0.1:50001" in argv and "1@veth1" in argv and "250@lo0" in argv
    assert argv[argv.index("--queue-rate") + 1] == "250:1000"
    assert argv[argv.index("--queue-depth") + 1] == "250:512"


def test_bad_target_or_compiler_is_one_line():
    with pytest.raises(InputError, match=r"--target.*must be one of srem, simple_switch_grpc"):
        targets.check("tofino", None)
    with pytest.raises(InputError, match=r"--compiler.*must be one of srem, p4c-bm2-ss"):
        targets.check("srem", "gcc")
    assert targets.check("srem", None) == "srem"  # srem's switch: srem's compiler by default


def test_bmv2_gets_its_own_thrift_port_and_no_program(tmp_path, p4real):
    argv = targets.argv("simple_switch_grpc", _spec(tmp_path), ["srem"])
    assert Path(argv[0]).name == "simple_switch_grpc"
    assert argv[argv.index("--thrift-port") + 1] == "50002"  # not 9090: one per switch
    assert "--no-p4" in argv and "--log-console" not in argv
    tail = argv[argv.index("--") :]
    assert tail == ["--", "--grpc-server-addr", "127.0.0.1:50001", "--cpu-port", "255"]
    assert "--queue-rate" not in argv  # BMv2 takes its queues by Thrift after it starts
    # The real compiler by default on the real switch.
    assert targets.check("simple_switch_grpc", None) == "p4c-bm2-ss"


def test_both_compilers_give_the_controller_the_same_names_and_ids(p4real):
    from controller.program.pipeline import fabric_pipeline

    (_, ours), (_, p4c) = fabric_pipeline("srem"), fabric_pipeline("p4c-bm2-ss")
    for table in ("em_cache", "em_config", "em_qp", "sff", "nat", "lb_em_vip"):
        assert ours.table(table).preamble.id == p4c.table(table).preamble.id, table
    for counter in ("rdma_stats", "fetch_hist", "chain_in", "nf_packets"):
        assert ours.counter(counter).preamble.id == p4c.counter(counter).preamble.id, counter


@pytest.mark.parametrize("compiler", ["srem"])
def test_a_day_on_bmv2_with_em_loses_nothing(tmp_path, p4real, compiler):
    """The k=2 day with EM on, on simple_switch_grpc. With srem's compiler, this lost 2/3 of
    the packets (a checksum constant BMv2 read past) and, with either compiler, the first
    READ of a hop after a local NF (no timestamp on a recirculated packet in BMv2); and the
    EMAC's register writes were refused (PI implements no register access)."""
    from emulation.day import emulate_day
    from emulation.mininet import missing
    from placement.agents import make_agent
    from placement.model.workload import build_problem, build_topology
    from tests.conftest import k2_scenario
    from topologies.addressing import plan

    if missing():
        pytest.skip(str(missing()))
    s = k2_scenario()
    problem = build_problem(s)
    day = problem.day("test", 0)
    steps, _ = emulate_day(
        problem, day, make_agent("greedy", problem), plan(build_topology(s)), log_dir=tmp_path,
        seconds_per_step=2.0, pps_budget=300, min_pps=20, target="simple_switch_grpc", compiler=compiler, em=True,
    )  # fmt: skip
    assert len(steps) == day.n_steps
    assert any(st.em_tables for st in steps)  # tables in EM, read by RDMA
    for st in steps:
        assert st.lost == 0 and st.delivered == st.sent, st
    last = steps[-1]
    assert last.rdma["read"] > 0 and last.rdma["resp_ok"] == last.rdma["read"]  # every READ answered
    assert last.rdma.get("fallback", 0) == 0 and last.rdma["fetches"] == last.rdma["read"]
    assert last.counters.total() > 0  # P4Runtime counter reads from BMv2 (the step before)
