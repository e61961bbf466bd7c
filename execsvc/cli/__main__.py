"""`python -m execsvc.cli`: the `execsvc` command."""

from execsvc.cli import app

app()
