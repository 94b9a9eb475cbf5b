"""The executors: elasticity control (start and stop NF instances on server slots) and
migration control (moves), each action with its own errors and rollback.

A slot is a place an instance of the NF can run: a server's interface, the command prefix
that enters its network namespace (`ip netns exec NS`, `mnexec -a PID`), the service path
(SPI) whose hop the fabric sends to that server, and the NF's config there (its own NAT
port range). The fabric's hops for every slot are programmed beforehand (by the placement
compiler or the operator); starting an instance starts its `srem nf-host --control`.

Errors: no such slot, slot busy, the process does not come up (killed, slot freed); a move
that rolls back leaves the action failed with both instances consistent (move.py). A
scale-out whose move fails stops the instance it started; a scale-in whose drain fails
keeps the instance running.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from controller.orchestration.move import Instance, MoveResult, move
from controller.orchestration.planner import Action
from controller.orchestration.steering import Steering
from nfs.control import ControlClient, ControlError

REPO = Path(__file__).resolve().parents[2]
SREM = [sys.executable, "-c", "from srem.cli import main; main()"]


class ExecError(Exception):
    """An action that could not be carried out (what was started was stopped again)."""


@dataclass(frozen=True)
class Slot:
    name: str
    enter: tuple[str, ...]  # command prefix that enters the server's namespace
    iface: str
    mac: str
    spi: int
    nf: dict  # the stateful NF's config on this slot
    hop_si: int = 255
    workdir: str = "/tmp"
    gw_mac: str = ""  # the MAC of the switch the server hangs off (frames injected here come from it)

    @property
    def control(self) -> str:
        return str(Path(self.workdir) / f"orch-{self.name}.sock")

    def instance(self) -> Instance:
        return Instance(self.name, self.control, int(self.nf["id"]), self.spi, gw_mac=self.gw_mac)


@dataclass
class Pool:
    """The NF's slots and the instances running on them."""

    slots: dict[str, Slot]
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    adopted: set[str] = field(default_factory=set)  # instances started by someone else
    start_timeout_s: float = 30.0

    def running(self) -> list[str]:
        return sorted(set(self.procs) | self.adopted)

    def free(self) -> list[str]:
        return [n for n in sorted(self.slots) if n not in self.procs and n not in self.adopted]

    def adopt(self, name: str) -> None:
        if name not in self.slots:
            raise ExecError(f"no such slot {name!r} (slots: {', '.join(sorted(self.slots))})")
        self.adopted.add(name)

    def start(self, name: str) -> Instance:
        slot = self.slots.get(name)
        if slot is None:
            raise ExecError(f"no such slot {name!r} (slots: {', '.join(sorted(self.slots))})")
        if name in self.procs or name in self.adopted:
            raise ExecError(f"slot {name} already runs an instance")
        cfg = Path(slot.workdir) / f"orch-{name}.yaml"
        cfg.write_text(yaml.safe_dump({"nfs": [slot.nf], "hops": [[slot.spi, slot.hop_si, slot.nf["id"]]]}))
        env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        argv = [*slot.enter, *SREM, "nf-host", "--iface", slot.iface, "--config", str(cfg), "--mac", slot.mac,
                "--control", slot.control]  # fmt: skip
        log = Path(slot.workdir) / f"orch-{name}.log"
        with log.open("w") as out:  # a file, not a pipe: a chatty instance never blocks on it
            p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, text=True, env=env)
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            try:
                ControlClient(slot.control, 1.0).close()
                self.procs[name] = p
                return slot.instance()
            except ConnectionError:
                if p.poll() is not None:
                    break
                time.sleep(0.05)
        p.kill()
        p.wait()
        err = log.read_text().strip().splitlines()
        raise ExecError(f"instance on slot {name} did not come up: {err[-1] if err else 'no answer'}")

    def stop(self, name: str) -> None:
        p = self.procs.pop(name, None)
        self.adopted.discard(name)
        if p is None:
            return
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def close(self) -> None:
        for name in list(self.procs):
            self.stop(name)


@dataclass
class Executor:
    pool: Pool
    steering: Steering
    guarantee: str = "order-preserving"
    moves: list[MoveResult] = field(default_factory=list)

    def _flows(self, inst: Instance) -> list[dict]:
        c = ControlClient(inst.control)
        try:
            return [r["flow"] for r in c.call("get", nf=inst.nf, filter={})["records"]]
        finally:
            c.close()

    def _move(self, src: str, dst: str, share: float, exact: list[dict] | None = None) -> MoveResult:
        """Move `exact` flows when the planner named them (DeepMigration), else a share."""
        a, b = self.pool.slots[src].instance(), self.pool.slots[dst].instance()
        if exact:
            pick = exact
        else:
            try:
                flows = self._flows(a)
            except (ConnectionError, ControlError) as e:
                raise ExecError(f"cannot read the flows of {src}: {e}") from None
            k = len(flows) if share >= 1.0 else round(len(flows) * share)
            # A deterministic share: every n-th flow, so a share mixes old and new flows alike.
            pick = (
                flows if k >= len(flows) else [flows[int(j * len(flows) / k)] for j in range(k)] if k else []
            )
        res = move(pick, a, b, self.guarantee, self.steering)
        self.moves.append(res)
        if not res.ok:
            raise ExecError(f"move {src} -> {dst} rolled back: {res.error}")
        return res

    def execute(self, act: Action) -> dict:
        """Carry out one action; returns its outcome, raises ExecError when it failed."""
        if act.kind == "none":
            return {}
        if act.kind == "move":
            return {"move": self._move(act.instance, act.to, act.share, act.flow_dicts()).to_dict()}
        if act.kind == "scale-out":
            self.pool.start(act.instance)
            return {"started": act.instance}
        if act.kind == "scale-in":
            if act.instance not in self.pool.running():
                raise ExecError(f"no instance runs on slot {act.instance}")
            res = self._move(act.instance, act.to, 1.0)  # ExecError: the instance keeps running
            self.pool.stop(act.instance)
            return {"move": res.to_dict(), "stopped": act.instance}
        raise ExecError(f"unknown action {act.kind!r}")

    def rollback(self, act: Action) -> None:
        """Undo a scale-out whose move failed (the new instance holds no flow yet)."""
        if act.kind == "scale-out":
            self.pool.stop(act.instance)
