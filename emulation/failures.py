"""`srem predict replay`: failure policies on the emulated fabric, under injected failures.

One step of a day (its traffic and the agent's placement for it) is played as `slots`
controller periods of `per_slot` monitoring intervals each (5 s of the data set's time per
interval), each slot `seconds_per_slot` real seconds. Failures are drawn from the data set's
statistics (prediction/simulate.py draw_world) for the servers that hold a VNF instance; a
failed server's NF process (`srem nf-host`) is **killed** for the slots it is down and started
again after, with whatever the controller configured meanwhile (the server's networking stays
up, so the chains' senders and receivers on it keep running: what is lost is what its VNFs
would have processed). At each slot start the policy decides (prediction/simulate.py
slot_placements: what it knows then, its destination from the predicted state of the other
servers); the controller applies the placement make-before-break while the slot's traffic
flows. The proactive policies read the shipped predictor's scores of monitoring rows
replayed from the data set's held-out records (prediction/failures.py), not the emulated
hosts' psutil: on a shared 2-core machine those say nothing about the emulated server.

Per policy and slot: packets sent and delivered per chain; totals: packets lost, moves
made, moves that were wasted (no failure followed) and moves made for short failures.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from controller.fabric.servers import ServerNFs
from placement.model.workload import Day, Problem
from prediction.policy import DEFAULT_POLICIES, Policy, touching
from prediction.sim_config import SimConfig
from prediction.simulate import World, classify_moves, draw_world, slot_placements
from topologies import InputError
from topologies.errors import one_line


class FailingServerNFs(ServerNFs):
    """ServerNFs whose servers can fail: a failed server's nf-host is killed (the process this
    object started), its configuration is still written but not signalled, and recovery starts
    the process again on the configuration in force."""

    def __init__(self, emu, log_dir: Path, timeout: float = 20.0) -> None:
        super().__init__(emu, log_dir, timeout)
        self.failed: set[str] = set()

    def fail(self, server: str) -> None:
        p = self.procs.get(server)
        if p is None or server in self.failed:
            return
        self.failed.add(server)
        p.send_signal(signal.SIGKILL)
        with contextlib.suppress(Exception):
            p.wait(timeout=5)

    def recover(self, server: str) -> None:
        if server not in self.failed:
            return
        self.failed.discard(server)
        host = self.hosts.pop(server)
        self.procs.pop(server, None)
        self._start(server, host.config)
        self._expect(server, 0)

    def configure(self, hops, nfs) -> None:
        # A failed server is left out of the signalled reconfiguration; its file is written.
        saved = {s: self.current.pop(s) for s in self.failed if s in self.current}
        try:
            super().configure({s: h for s, h in hops.items() if s not in self.failed}, nfs)
        finally:
            self.current.update(saved)
        for server in sorted(self.failed):
            want = dict(hops.get(server, {}))
            if want != self.current.get(server):
                self._write(server, want, nfs)
                self.current[server] = want

    def _write(self, server: str, want, nfs) -> None:
        import yaml

        from nfs.entries import software_config

        path = self.hosts[server].config
        used = sorted(set(want.values()))
        path.write_text(yaml.safe_dump({"nfs": [software_config(nfs[n]) for n in used],
                                        "hops": [[spi, si, n] for (spi, si), n in sorted(want.items())]}))  # fmt: skip


@dataclass(frozen=True)
class ReplaySetup:
    scenario: str = "paper"
    day: int = 0
    step: int = 1  # 12:00 in the paper's day
    agent: str = "greedy"
    policies: tuple[str, ...] = DEFAULT_POLICIES
    slots: int = 16
    per_slot: int = 8  # monitoring intervals per slot: 40 s of the data set's time
    seconds_per_slot: float = 2.0
    pps_budget: float = 200.0
    failures_per_server: float = 1.5  # over the whole replay
    max_chains: int = 12
    seed: int = 0
    sim: SimConfig = field(default_factory=SimConfig)


@dataclass
class PolicyReplay:
    policy: str
    sent: list[dict[int, int]]  # per slot: chain -> packets sent
    delivered: list[dict[int, int]]
    moves: int
    wasted: int
    early: int
    for_short: int
    apply_s: list[float]

    def totals(self) -> dict[str, float]:
        sent = sum(sum(s.values()) for s in self.sent)
        got = sum(sum(s.values()) for s in self.delivered)
        return {"sent": sent, "delivered": got, "lost": sent - got, "lost_pct": 100.0 * (sent - got) / max(sent, 1),
                "moves": self.moves, "wasted": self.wasted, "early": self.early, "for_short": self.for_short}  # fmt: skip


def slot_day(day: Day, t: int, n_slots: int, start: np.ndarray) -> Day:
    """The step's traffic repeated over n_slots steps, starting from `start`."""
    rep = lambda a: np.repeat(a[t : t + 1], n_slots, axis=0)
    return dataclasses.replace(day, hours=rep(day.hours), working=rep(day.working), rate=rep(day.rate),
                               deadline=rep(day.deadline), initial=start.copy())  # fmt: skip


def agent_placement(problem: Problem, day: Day, t: int, agent_name: str) -> np.ndarray:
    """The agent's placement for step t of the day (its own decisions from the day's start)."""
    from placement.agents import make_agent
    from placement.model.simulate import DayRun

    agent, run = make_agent(agent_name, problem, seed=day.index), DayRun(problem, day)
    while run.t <= t:
        run.apply(agent.decide(run))
    return run.placement.copy()


@dataclass
class Plan:
    """What every policy replays: the slot day, the failures, the chains played."""

    problem: Problem
    day: Day
    world: World
    cfg: SimConfig
    chains: list[int]
    failing: list[int]  # server hosts that may fail
    placements: dict[str, list[np.ndarray]]
    moves_at: dict[str, list[tuple[int, int]]]


def make_plan(setup: ReplaySetup, problem: Problem, library, predictor, schedule=None) -> Plan:
    """Failures, chains and every policy's placements per slot (no fabric yet)."""
    day0 = problem.day("test", setup.day)
    start = agent_placement(problem, day0, setup.step, setup.agent)
    day = slot_day(day0, setup.step, setup.slots, start)
    S = problem.sub.n_servers
    failing = sorted({int(h) for h in start if h < S})
    can_fail = np.zeros(S, dtype=bool)
    can_fail[failing] = True
    cfg = dataclasses.replace(setup.sim, move_intervals=setup.per_slot)
    rng = np.random.default_rng(np.random.SeedSequence([setup.seed, setup.day, setup.step]))
    n = setup.slots * setup.per_slot
    world = draw_world(rng, S, n, cfg, library, predictor, setup.failures_per_server, can_fail)
    if schedule is not None:  # a given schedule (tests): per server, failures in intervals
        from prediction.failures import down_matrix

        world = dataclasses.replace(world, schedule=schedule, down=down_matrix(schedule, n))
    from placement.model.step import evaluate

    o = evaluate(problem, day, 0, start, start, np.zeros(problem.sub.n_arcs))
    hosts = np.zeros(problem.sub.n_hosts, dtype=bool)
    hosts[failing] = True
    through = touching(day, start, hosts)
    # Chains through a VNF on a server that may fail first, then others, all accepted by the model.
    order = sorted(np.flatnonzero(o.accepted).tolist(), key=lambda r: (not through[r], r))
    chains = order[: setup.max_chains]
    placements, moves_at = {}, {}
    for name in setup.policies:
        placements[name], moves_at[name] = slot_placements(
            problem, day, 0, start, world, Policy.parse(name), cfg, setup.per_slot
        )
    return Plan(problem, day, world, cfg, chains, failing, placements, moves_at)


class _Scripted:
    name = "scripted"

    def __init__(self, placements: list[np.ndarray]) -> None:
        self.placements = placements

    def decide(self, run) -> np.ndarray:
        return self.placements[run.t].copy()


def play(
    plan: Plan, setup: ReplaySetup, log_dir: Path, say: Callable[[str], None] = lambda m: None
) -> list[PolicyReplay]:
    """Every policy on one emulated fabric (started once); the fabric returns to the step's
    placement before each policy."""
    from controller.fabric.switches import Fabric
    from controller.fabric.targets import check
    from controller.loop.step import Controller
    from controller.program.dayplan import chains_of, nfs_of, placement_state
    from controller.program.flows import plan_replay
    from controller.program.pipeline import fabric_pipeline
    from controller.program.underlay import fabric_entities
    from emulation.mininet import Emulation
    from emulation.replay import finish_step, start_step
    from placement.model.workload import build_topology
    from topologies.addressing import plan as address_plan

    problem, day = plan.problem, plan.day
    fab = address_plan(build_topology(problem.scenario))
    pipeline, index = fabric_pipeline(check("srem", None))
    rp = plan_replay(problem.sub.names, day.src, day.dst, day.rate, list(day.hours), fab,
                     pps_budget=setup.pps_budget, seconds_per_step=setup.seconds_per_slot,
                     min_pps=setup.pps_budget / 4 / max(1, len(plan.chains)))  # fmt: skip
    nfs = nfs_of(problem.cat.inst_type, chains_of(day, rp.flows), fab)
    underlay = {n: fabric_entities(fab, index, n) for n in fab.switches}
    state = lambda p: placement_state(
        problem.sub, problem.cat.inst_type, day, rp.flows, fab, index, p, emac=False
    )
    names = {h: problem.sub.names[int(problem.sub.host_node[h])] for h in plan.failing}
    out = []
    say(f"starting {len(fab.switches)} switches and {len(fab.servers)} servers")
    with Emulation(fab, log_dir=log_dir, target="srem", em=False) as emu:
        fabric = Fabric({n: (emu.grpc[n], sw.device_id) for n, sw in fab.switches.items()}, pipeline)
        servers = FailingServerNFs(emu, log_dir)
        try:
            for name in setup.policies:
                ctl = Controller(
                    problem, day, _Scripted(plan.placements[name]), fabric, servers, state, underlay, nfs
                )
                ctl.start()
                sent, got, apply_s = [], [], []
                for s in range(setup.slots):
                    k = s * setup.per_slot
                    for h, server in names.items():
                        if plan.world.down[h, k]:
                            servers.fail(server)
                    d = ctl.decide()
                    say(f"{name}: slot {s + 1}/{setup.slots}")
                    traffic = start_step(emu, fab, rp, d.t, chains=set(plan.chains), drain=0.5)
                    time.sleep(min(0.5, setup.seconds_per_slot / 4))
                    t0 = time.perf_counter()
                    ctl.apply(d)  # under the slot's traffic
                    apply_s.append(time.perf_counter() - t0)
                    m = finish_step(traffic)
                    sent.append({x.chain: x.sent for x in m})
                    got.append({x.chain: x.received for x in m})
                    for h, server in names.items():
                        if not plan.world.down[h, min(k + setup.per_slot, plan.world.down.shape[1] - 1)]:
                            servers.recover(server)
                for server in names.values():
                    servers.recover(server)
                w, e, sh = classify_moves(plan.moves_at[name], plan.world, plan.cfg.move_intervals)
                out.append(PolicyReplay(name, sent, got, len(plan.moves_at[name]), w, e, sh, apply_s))
        finally:
            servers.close()
            fabric.close()
    return out


# ----------------------------------------------------------------------------- report


def plot(plan: Plan, setup: ReplaySetup, res: list[PolicyReplay], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(res), 1, figsize=(9, 1.7 * len(res) + 0.8), sharex=True, squeeze=False)
    minutes = np.arange(setup.slots) * setup.per_slot * setup.sim.interval_s / 60.0
    slot_min = setup.per_slot * setup.sim.interval_s / 60.0
    for ax, r in zip(axes[:, 0], res, strict=True):
        edges = np.append(minutes, setup.slots * slot_min)  # the last slot drawn to its end
        for c in plan.chains:
            y = [g.get(c, 0) / setup.seconds_per_slot for g in r.delivered]
            ax.step(edges, [*y, y[-1]], where="post", lw=1)
        for h in plan.failing:  # the slots the server's NF was down on the fabric (failures start at slots)
            for slot in range(setup.slots):
                if plan.world.down[h, slot * setup.per_slot]:
                    ax.axvspan(slot * slot_min, (slot + 1) * slot_min, color="tab:red", alpha=0.12, lw=0)
        for k, _s in plan.moves_at[r.policy]:
            ax.axvline(k / setup.per_slot * slot_min, color="k", lw=0.8, ls=":")
        t = r.totals()
        top = max((g / setup.seconds_per_slot for d in r.delivered for g in d.values()), default=1.0)
        ax.set_ylim(0, 1.15 * max(top, 1e-9))
        ax.set_ylabel("pps")
        ax.set_title(
            f"{r.policy}: {t['lost']} of {t['sent']} packets lost, {r.moves} moves", fontsize=9, loc="left"
        )
    axes[-1, 0].set_xlabel("minutes of monitored time (red: the server's NF killed; dotted: a policy move)")
    fig.suptitle(f"delivered packets per second, one line per chain ({len(plan.chains)} chains)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(res: list[PolicyReplay]) -> str:
    lines = ["| policy | sent | delivered | lost | lost % | moves | wasted | early | for short failures |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for r in res:
        t = r.totals()
        lines.append(f"| {r.policy} | {t['sent']} | {t['delivered']} | {t['lost']} | {t['lost_pct']:.1f} | "
                     f"{t['moves']} | {t['wasted']} | {t['early']} | {t['for_short']} |")  # fmt: skip
    return "\n".join(lines)


def write(
    plan: Plan, setup: ReplaySetup, res: list[PolicyReplay], out: Path, command: str, took: str
) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    plot(plan, setup, res, out / "replay.png")
    fails = [
        (h, f.start, min(f.stop, plan.world.down.shape[1]))
        for h in plan.failing
        for f in plan.world.schedule[h]
    ]
    (out / "replay.json").write_text(json.dumps({
        "setup": {k: v for k, v in dataclasses.asdict(setup).items() if k != "sim"}, "command": command, "took": took,
        "chains": plan.chains, "failing_servers": plan.failing, "failures": fails,
        "policies": [{"policy": r.policy, **r.totals(), "apply_s": r.apply_s, "moves_at": plan.moves_at[r.policy],
                      "sent": [{str(k): v for k, v in s.items()} for s in r.sent],
                      "delivered": [{str(k): v for k, v in s.items()} for s in r.delivered]} for r in res],
    }, indent=1) + "\n")  # fmt: skip
    slot_s = setup.per_slot * setup.sim.interval_s
    names = ", ".join(plan.problem.sub.names[int(plan.problem.sub.host_node[h])] for h in plan.failing)
    fail_text = "; ".join(f"server {h} down intervals {a}-{b}" for h, a, b in fails) or "none drawn"
    page = out / "replay.md"
    page.write_text(f"""# Failure policies on the emulated fabric (`srem predict replay`)

Written by `{command}` ({took}); do not edit by hand.

Scenario `{setup.scenario}`, test day {setup.day}, step {setup.step} (its traffic and the `{setup.agent}`
agent's placement for it), played as {setup.slots} slots of {setup.per_slot} monitoring intervals
({slot_s:g} s of the data set's time each), {setup.seconds_per_slot:g} real seconds of traffic per slot, on
srem's switches (EM served from LM). Servers that may fail: those holding a VNF ({names}); failures
drawn from the data set's statistics with seed {setup.seed}: {fail_text}. A failed server's NF process
is killed for the slots whose start it is down at (failures are rounded to slots; its traffic endpoints
keep running) and started again after.
The policies act at slot starts; their moves are applied make-before-break under the slot's traffic.
{len(plan.chains)} chains played (those through a VNF on a server that may fail first).
Proactive policies read the shipped `{setup.sim.model}` model's scores of monitoring rows replayed from
the data set's held-out records (see `simulate.md`).

{markdown(res)}

lost: packets sent and not delivered; moves: VNF moves the policy made; wasted: off a server that did
not fail within 60 intervals; early: landed before the failure that followed; for short failures: made
for a failure of at most 100 intervals.

![delivered throughput per chain](replay.png)
""")
    return page


# ----------------------------------------------------------------------------- CLI


def replay_cmd(
    data: Annotated[Path | None, typer.Option(help="The vEPC data file (default: the shared copy).")] = None,
    scenario: Annotated[str, typer.Option(help="Scenario YAML or bundled name.")] = "paper",
    day: Annotated[int, typer.Option(help="Test day.")] = 0,
    step: Annotated[int, typer.Option(help="The step whose traffic and placement are played.")] = 1,
    agent: Annotated[str, typer.Option(help="The placement agent (greedy, mpc, ...).")] = "greedy",
    policies: Annotated[str, typer.Option(help="Comma-separated.")] = ",".join(ReplaySetup.policies),
    slots: Annotated[int, typer.Option(help="Controller periods played.")] = 16,
    per_slot: Annotated[int, typer.Option(help="Monitoring intervals (5 s) per slot.")] = 8,
    seconds_per_slot: Annotated[float, typer.Option(help="Real seconds of traffic per slot.")] = 2.0,
    pps_budget: Annotated[float, typer.Option(help="Packets/s of all chains together.")] = 200.0,
    failures_per_server: Annotated[
        float, typer.Option(help="Mean failures per server over the replay.")
    ] = 1.5,
    max_chains: Annotated[int, typer.Option(help="Chains played at most.")] = 12,
    seed: Annotated[int, typer.Option(help="Seed of the failures and monitoring rows.")] = 0,
    out: Annotated[Path, typer.Option(help="Folder for replay.md, .png, .json.")] = Path("docs/prediction"),
) -> None:
    """Failure policies on the emulated fabric under injected failures (root, Mininet): delivered
    throughput per chain over time per policy, packets lost, moves made and wasted."""
    run_replay(data, scenario, day, step, agent, policies, slots, per_slot, seconds_per_slot, pps_budget,
               failures_per_server, max_chains, seed, out)  # fmt: skip


@one_line
def run_replay(data, scenario, day, step, agent, policies, slots, per_slot, seconds_per_slot, pps_budget,
               failures_per_server, max_chains, seed, out) -> None:  # fmt: skip
    import torch
    from rich.console import Console

    from emulation.mininet import missing
    from placement.agents import NAMES
    from placement.model.scenario import load
    from placement.model.workload import build_problem
    from prediction.api import FailurePredictor
    from prediction.data import load_records, resolve_data_path
    from prediction.failures import RowLibrary

    console = Console()
    t0 = time.perf_counter()
    names = tuple(p for p in policies.split(",") if p)
    for p in names or ("",):
        try:
            Policy.parse(p)
        except ValueError as e:
            raise InputError("--policies", policies, str(e)) from None
    if agent not in NAMES or agent.startswith("milp"):
        raise InputError("--agent", agent, "unknown or too slow for a replay (greedy, mpc, lag, ...)")
    for opt, v in (("--slots", slots), ("--per-slot", per_slot), ("--max-chains", max_chains)):
        if v < 1:
            raise InputError(opt, str(v), "must be >= 1")
    for opt, v in (("--seconds-per-slot", seconds_per_slot), ("--pps-budget", pps_budget),
                   ("--failures-per-server", failures_per_server)):  # fmt: skip
        if not (v > 0 and math.isfinite(v)):
            raise InputError(opt, str(v), "must be > 0")
    problem = build_problem(load(scenario))
    if not 0 <= day < problem.n_days("test"):
        raise InputError("--day", str(day), f"the test set has days 0..{problem.n_days('test') - 1}")
    if not 0 <= step < len(problem.scenario.hours):
        raise InputError("--step", str(step), f"the day has steps 0..{len(problem.scenario.hours) - 1}")
    why = missing()
    if why:
        raise InputError("srem predict replay", "machine", why)
    torch.set_num_threads(1)
    setup = ReplaySetup(scenario, day, step, agent, names, slots, per_slot, seconds_per_slot, pps_budget,
                        failures_per_server, max_chains, seed)  # fmt: skip
    predictor = FailurePredictor.load(setup.sim.model_path())
    library = RowLibrary.from_records(
        load_records(resolve_data_path(data)), predictor.features, predictor.horizon
    )
    plan = make_plan(setup, problem, library, predictor)
    if not plan.failing:
        raise InputError("--step", str(step), f"the {agent} agent holds no VNF on a server at this step")
    res = play(plan, setup, Path("results/replay-logs"), lambda m: console.print(m, highlight=False))
    command = f"srem predict replay --scenario {scenario} --day {day} --step {step} --agent {agent} --slots {slots} " \
              f"--per-slot {per_slot} --seconds-per-slot {seconds_per_slot:g} --seed {seed}"  # fmt: skip
    load1 = os.getloadavg()[0]
    took = f"{(time.perf_counter() - t0) / 60:.1f} min, load average {load1:.1f} on the 2-core machine"
    page = write(plan, setup, res, out, command, took)
    console.print(markdown(res))
    console.print(f"wrote {page}, {out}/replay.png and replay.json")


def register(app: typer.Typer) -> None:
    """`srem predict replay`, added to the prediction package's `srem predict` group."""
    from prediction.cli import app as predict_app

    if not any(c.name == "replay" for c in predict_app.registered_commands):
        predict_app.command("replay")(replay_cmd)
