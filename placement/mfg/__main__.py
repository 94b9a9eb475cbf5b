"""`python -m placement.mfg …`: the `srem mfg` commands before (or without) srem's CLI."""

from placement.mfg.cli import app

if __name__ == "__main__":
    app(prog_name="srem mfg")
