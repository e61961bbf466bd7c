"""`python -m execsvc.cli`: the `execsvc` command (guarded: the worker process of `execsvc
serve` is spawned, and a spawned child imports the parent's main module again)."""

from execsvc.cli import app

if __name__ == "__main__":
    app()
