"""An undo log: every change a Write makes is recorded with its inverse, so that a batch
is validated against the state as it evolves and a failure undoes exactly what ran."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_MISSING = object()


class Txn:
    def __init__(self) -> None:
        self.undo: list[Callable[[], None]] = []

    def mark(self) -> int:
        return len(self.undo)

    def rollback(self, mark: int = 0) -> None:
        """Undo every change made since `mark`, newest first."""
        while len(self.undo) > mark:
            self.undo.pop()()

    def on_undo(self, fn: Callable[[], None]) -> None:
        self.undo.append(fn)

    def set(self, d: dict, key: Any, value: Any) -> None:
        old = d.get(key, _MISSING)
        d[key] = value
        self.undo.append(lambda: d.pop(key, None) if old is _MISSING else d.__setitem__(key, old))

    def delete(self, d: dict, key: Any) -> None:
        if key not in d:
            return
        old = d.pop(key)
        self.undo.append(lambda: d.__setitem__(key, old))

    def setattrs(self, obj: Any, **values: Any) -> None:
        old = {k: getattr(obj, k) for k in values}
        for k, v in values.items():
            setattr(obj, k, v)
        self.undo.append(lambda: [setattr(obj, k, v) for k, v in old.items()])
