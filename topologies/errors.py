"""The one error type for user mistakes in topologies, scenarios and runs."""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input: names the source (file), the item and what is wrong.

    The CLI turns it into a one-line message and exit status 2, never a traceback.
    """

    def __init__(self, source: str, item: str, message: str) -> None:
        self.source, self.item, self.message = source, item, message
        super().__init__(f"{source}: {item}: {message}")


def one_line(fn):
    """A command whose InputError is one red line on stderr and exit status 2, also when
    it runs outside srem's main() (a subsystem's own typer app, or CliRunner)."""
    import functools

    import typer
    from rich.console import Console

    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except InputError as e:
            Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {e}", highlight=False)
            raise typer.Exit(2) from None

    return run
