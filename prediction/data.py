"""The vEPC failure monitoring data: reading and validating the tab-separated records.

One record per monitoring interval (about 5 s). Columns (no header):
0 injector's period length, 1 timestamp, 2 CPU %, 3 memory %, 4 swap %,
5 paging-failure indications (T3413 expiries), 6 failure label (0/1).
Column 0 is written by the failure injector, not by a monitor, so only the authors'
protocol may read it (it announces the coming failure; see docs/prediction.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from topologies import InputError

N_COLUMNS = 7
# The monitoring features, in the order of columns 2..5, named as srem's host monitor names them.
FEATURES: tuple[str, ...] = ("cpu_percent", "memory_percent", "swap_percent", "paging_failures")
INJECTOR = "injector_period"  # column 0, a feature only in the authors' protocol
DATA_NAME = "data.tsv"


@dataclass(frozen=True)
class Records:
    """A validated, time-ordered series of monitoring records."""

    source: str
    injector: np.ndarray  # (n,) float: column 0
    timestamps: tuple[str, ...]
    features: np.ndarray  # (n, 4) float32, columns 2..5 in FEATURES order
    label: np.ndarray  # (n,) int8: 1 while the vEPC is failed

    def __len__(self) -> int:
        return len(self.label)

    def columns(self, names: tuple[str, ...]) -> np.ndarray:
        """The named feature columns (INJECTOR included) as an (n, len(names)) float32 array."""
        cols = []
        for name in names:
            if name == INJECTOR:
                cols.append(self.injector.astype(np.float32))
            else:
                cols.append(self.features[:, FEATURES.index(name)])
        return np.stack(cols, axis=1).astype(np.float32)

    def slice(self, start: int, stop: int) -> Records:
        return Records(
            self.source,
            self.injector[start:stop],
            self.timestamps[start:stop],
            self.features[start:stop],
            self.label[start:stop],
        )


def default_data_path(root: Path | None = None) -> Path:
    """The shared copy of the public data set, located relative to the checkout."""
    root = root or Path(__file__).resolve().parent.parent
    return root.parent / "shared" / "data" / "vepc-failure" / DATA_NAME


def resolve_data_path(path: Path | None) -> Path:
    """The user's path, else the shared copy; a one-line error when neither exists."""
    if path is None:
        path = default_data_path()
        if not path.is_file():
            raise InputError(
                "--data",
                str(path),
                "no data file there; give the vEPC failure data set's data.tsv with --data",
            )
        return path
    if not path.is_file():
        raise InputError("--data", str(path), "no such file")
    return path


def _number(cell: str, source: str, lineno: int, col: int) -> float:
    try:
        x = float(cell)
    except ValueError:
        raise InputError(source, f"line {lineno}", f"column {col} ('{cell[:20]}') is not a number") from None
    if not math.isfinite(x):
        raise InputError(source, f"line {lineno}", f"column {col} is {cell} (must be a finite number)")
    return x


def parse_records(text: str, source: str) -> Records:
    """Parse and validate the data set's text; any defect is one InputError naming the line."""
    lines = text.split("\n")
    while lines and not lines[-1].strip():  # trailing newlines are fine, blank lines inside are not
        lines.pop()
    if not lines:
        raise InputError(source, "line 1", "the file is empty (no records)")
    injector, stamps, feats, label = [], [], [], []
    prev: datetime | None = None
    for lineno, line in enumerate(lines, start=1):
        cells = line.rstrip("\r").split("\t")
        if len(cells) != N_COLUMNS:
            raise InputError(
                source, f"line {lineno}", f"expected {N_COLUMNS} tab-separated columns, found {len(cells)}"
            )
        values = [_number(c, source, lineno, j) for j, c in enumerate(cells) if j != 1]
        inj, cpu, mem, swap, ind, lab = values
        try:
            t = datetime.fromisoformat(cells[1].strip())
        except ValueError:
            raise InputError(
                source, f"line {lineno}", f"column 1 ('{cells[1][:30]}') is not a timestamp"
            ) from None
        if prev is not None and t <= prev:
            raise InputError(source, f"line {lineno}", "timestamp is not after the previous record's")
        prev = t
        for col, v in ((2, cpu), (3, mem), (4, swap)):
            if not 0.0 <= v <= 100.0:
                raise InputError(
                    source, f"line {lineno}", f"column {col} is {v:g}, not a percentage in 0..100"
                )
        if ind < 0:
            raise InputError(source, f"line {lineno}", f"column 5 is {ind:g}, a count cannot be negative")
        if lab not in (0.0, 1.0):
            raise InputError(
                source, f"line {lineno}", f"column 6 is {lab:g}, the failure label must be 0 or 1"
            )
        injector.append(inj)
        stamps.append(cells[1].strip())
        feats.append((cpu, mem, swap, ind))
        label.append(int(lab))
    return Records(
        source,
        np.asarray(injector, dtype=np.float64),
        tuple(stamps),
        np.asarray(feats, dtype=np.float32),
        np.asarray(label, dtype=np.int8),
    )


def load_records(path: Path) -> Records:
    """Read a data file (the whole of it); one-line errors for unreadable or malformed files."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InputError(str(path), "file", f"cannot be read ({e.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        lineno = raw[: e.start].count(b"\n") + 1
        raise InputError(str(path), f"line {lineno}", "is not UTF-8 text") from None
    return parse_records(text, str(path))
