"""`srem inject` on a namespace this test makes: each fault applied and undone, a schedule
played, schedules drawn from the data set's statistics, and one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import typer
import yaml
from typer.testing import CliRunner

from emulation.inject import (
    Event,
    Injector,
    draw_schedule,
    parse_schedule,
    processes_in,
    register,
    resolve_host,
)
from tests.netns import veth_namespace
from topologies import InputError

MARK = f"srem-inject-test-{os.getpid()}"


def _flags(ns: str, dev: str) -> str:
    return subprocess.run(["ip", "netns", "exec", ns, "ip", "-o", "link", "show", dev], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip


def _in_ns(ns: str) -> set[int]:
    want = os.stat(f"/var/run/netns/{ns}").st_ino
    out = set()
    for p in psutil.pids():
        try:
            if os.stat(f"/proc/{p}/ns/net").st_ino == want:
                out.add(p)
        except OSError:
            pass
    return out


@pytest.fixture
def ns():
    with veth_namespace("sinj", [("sinja", "sinjb")]) as name:
        yield name


def test_link_down_and_up(ns):
    host = resolve_host(f"netns:{ns}")
    with Injector({host.name: host}) as inj:
        a = inj.apply(Event(host.name, "link", 0, 1, {"iface": "sinja"}))
        assert "state DOWN" in _flags(ns, "sinja") and "<BROADCAST,MULTICAST>" in _flags(ns, "sinja")
        inj.undo(a)
        assert ",UP" in _flags(ns, "sinja")
        inj.apply(Event(host.name, "link", 0, 1, {"iface": ""}))  # the first interface, left for exit
    assert ",UP" in _flags(ns, "sinja")  # undone on exit


def test_drop_cuts_the_host_off(ns):
    """A frame the host sends on a cut-off interface never reaches the other end; undone, it does."""
    host = resolve_host(f"netns:{ns}")

    def sent_and_seen() -> bool:
        code = (
            "import socket\n"
            "r = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88b5)); r.bind(('sinjb', 0))\n"
            "r.settimeout(0.5)\n"
            "s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind(('sinja', 0))\n"
            "s.send(b'\\xff' * 6 + b'\\x02' * 6 + b'\\x88\\xb5' + b'x' * 50)\n"
            "try:\n    r.recv(100); print('seen')\nexcept OSError:\n    print('lost')\n"
        )
        out = subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, "-c", code], capture_output=True, text=True
        )
        return out.stdout.strip() == "seen"

    assert sent_and_seen()
    with Injector({host.name: host}) as inj:
        a = inj.apply(Event(host.name, "drop", 0, 1, {"iface": "sinja"}))
        assert not sent_and_seen()
        assert ",UP" in _flags(ns, "sinja")  # the link itself stays up
        inj.undo(a)
        assert sent_and_seen()
        inj.apply(Event(host.name, "drop", 0, 1, {"iface": "sinja"}))
    assert sent_and_seen()  # undone on exit


def test_cpu_and_memory_stress_live_in_the_host_and_go(ns):
    host = resolve_host(f"netns:{ns}")
    before = _in_ns(ns)
    with Injector({host.name: host}) as inj:
        cpu = inj.apply(Event(host.name, "cpu", 0, 1, {"workers": 1, "load": 0.2}))
        mem = inj.apply(Event(host.name, "memory", 0, 1, {"mb": 64}))
        stressors = _in_ns(ns) - before
        assert len(stressors) == 2
        rss = max(psutil.Process(p).memory_info().rss for p in stressors)
        assert rss >= 64 << 20
        time.sleep(0.3)
        assert psutil.Process(cpu.procs[0].pid).cpu_times().user > 0
        inj.undo(cpu)
        assert cpu.procs[0].poll() is not None
    assert mem.procs[0].poll() is not None
    assert _in_ns(ns) == before


def _wait_exec(pid: int) -> None:
    """`ip netns exec` and nsenter exec the NF in place: wait for that exec to finish, since a
    process caught mid-exec shows an empty command line (CI once saw `ip`, then nothing)."""
    deadline = time.time() + 10
    while psutil.Process(pid).cmdline()[:1] != [sys.executable] and time.time() < deadline:
        time.sleep(0.02)


def test_kill_an_nf_and_start_it_again(ns, tmp_path):
    host = resolve_host(f"netns:{ns}")
    nf = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", "import time; time.sleep(120)", MARK],
                          cwd=tmp_path)  # fmt: skip
    try:
        _wait_exec(nf.pid)
        assert processes_in(host, MARK) == [nf.pid]
        pid = nf.pid
        with Injector({host.name: host}) as inj:
            a = inj.apply(Event(host.name, "kill", 0, 1, {"match": MARK}))
            nf.wait(timeout=5)
            assert processes_in(host, MARK) == []
            inj.undo(a)
            assert len(a.restarted) == 1
            pid2 = a.restarted[0].pid
            _wait_exec(pid2)
            assert processes_in(host, MARK) == [pid2]  # back, in the same namespace, same command line
            assert pid2 != pid
            assert psutil.Process(pid2).cwd() == str(tmp_path)
    finally:
        for p in processes_in(host, MARK):  # the processes this test started
            os.kill(p, 9)
        nf.poll() is None and nf.kill()


def test_schedule_played_and_logged(ns, tmp_path):
    host = resolve_host(f"netns:{ns}")
    s = parse_schedule({"events": [
        {"host": host.name, "kind": "link", "at": 0.0, "seconds": 0.3, "iface": "sinjb"},
        {"host": host.name, "kind": "cpu", "at": 0.1, "seconds": 0.15, "load": 0.1},
    ]}, "test")  # fmt: skip
    log = tmp_path / "inject.jsonl"
    t0 = time.monotonic()
    with Injector({host.name: host}, log) as inj:
        inj.run(s)
        assert not inj.standing
    assert 0.3 <= time.monotonic() - t0 < 5
    lines = [yaml.safe_load(x) for x in log.read_text().splitlines()]
    assert [(x["what"], x["kind"]) for x in lines] == [("start", "link"), ("start", "cpu"), ("end", "cpu"),
                                                       ("end", "link")]  # fmt: skip
    assert ",UP" in _flags(ns, "sinjb")


def test_drawn_schedule_follows_the_data_set():
    s = draw_schedule(
        ["a", "b"], seconds=20_000, interval_s=1.0, failures_per_host=20, kinds=("kill", "link"), seed=4
    )
    fails = [e for e in s.events if e.kind in ("kill", "link")]
    assert {e.kind for e in fails} == {"kill", "link"}
    assert all(
        30 <= e.seconds <= 100 or 500 <= e.seconds <= 2000 or e.at + e.seconds == 20_000 for e in fails
    )
    for f in fails:  # each failure follows CPU and memory stress of 4-50 intervals that ends as it starts
        pre = [e for e in s.events if e.host == f.host and e.kind == "cpu" and e.at + e.seconds == f.at]
        assert (len(pre) == 1 and 4 <= pre[0].seconds <= 50) or f.at < 50
    assert s == draw_schedule(["a", "b"], 20_000, 1.0, 20, ("kill", "link"), 4)  # seeded
    assert parse_schedule(yaml.safe_load(s.dump()), "round trip") == s


@pytest.mark.parametrize(
    ("events", "needle"),
    [
        ([{"host": "x", "kind": "fire", "at": 0, "seconds": 1}], "events[0].kind: is 'fire'"),
        ([{"host": "x", "kind": "cpu", "at": -1, "seconds": 1}], "events[0].at: '-1'"),
        ([{"host": "x", "kind": "cpu", "at": 0}], "events[0]: lacks seconds"),
        ([{"host": "x", "kind": "memory", "at": 0, "seconds": 1, "mb": "lots"}], "events[0].mb: 'lots'"),
        (
            [{"host": "x", "kind": "link", "at": 0, "seconds": 1, "speed": 3}],
            "events[0].speed: unknown for link",
        ),
    ],
)
def test_bad_schedule_names_the_event(events, needle):
    with pytest.raises(InputError, match=None) as e:
        parse_schedule({"events": events}, "s.yaml")
    assert needle in str(e.value)


def test_cli_errors_are_one_line(tmp_path):
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """srem"""

    register(app)
    sched = tmp_path / "s.yaml"
    sched.write_text("events:\n  - {host: netns:srem-no-such-ns, kind: cpu, at: 0, seconds: 1}\n")
    r = CliRunner().invoke(app, ["inject", "run", str(sched), "--fabric", str(tmp_path / "none.json"),
                                 "--log", str(tmp_path / "l.jsonl")])  # fmt: skip
    assert r.exit_code == 2 and "no such host" in r.output and len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "l.jsonl").exists()  # nothing applied, nothing logged
    sched.write_text("events: [{host: a, kind: cpu}]\n")
    r = CliRunner().invoke(app, ["inject", "run", str(sched)])
    assert r.exit_code == 2 and "events[0]: lacks at" in r.output
    r = CliRunner().invoke(app, ["inject", "draw", "--hosts", "a", "--seconds", "100", "--out",
                                 str(tmp_path / "d.yaml"), "--kinds", "cpu"])  # fmt: skip
    assert r.exit_code == 2 and "'cpu' is not a failure kind" in r.output
    r = CliRunner().invoke(app, ["inject", "draw", "--hosts", "a,b", "--seconds", "3000", "--out",
                                 str(tmp_path / "d.yaml"), "--failures-per-host", "2"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert parse_schedule(yaml.safe_load((tmp_path / "d.yaml").read_text()), "d").events
    assert Path(tmp_path / "d.yaml").read_text().startswith("# srem inject draw")
