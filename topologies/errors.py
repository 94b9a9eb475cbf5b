"""The one error type for user mistakes in topologies, scenarios and runs."""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input: names the source (file), the item and what is wrong.

    The CLI turns it into a one-line message and exit status 2, never a traceback.
    """

    def __init__(self, source: str, item: str, message: str) -> None:
        self.source, self.item, self.message = source, item, message
        super().__init__(f"{source}: {item}: {message}")
