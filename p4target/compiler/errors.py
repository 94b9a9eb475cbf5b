"""Errors in P4 source: always with file, line and column."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Loc:
    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class P4Error(Exception):
    """A P4 program that is invalid or uses what the compiler does not support."""

    def __init__(self, loc: Loc | None, message: str) -> None:
        self.loc, self.message = loc, message
        super().__init__(f"{loc}: error: {message}" if loc else f"error: {message}")
