"""`execsvc` commands run as child processes, as deploy/ runs them, for tests that kill them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support import REPO


def start_execsvc(command: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    """`execsvc <command>` with `env` on top of ours (stdout and stderr appended to `log`)."""
    return subprocess.Popen([sys.executable, "-m", "execsvc.cli", command],
                            env={**os.environ, **env}, cwd=REPO, stdout=log.open("ab"),
                            stderr=subprocess.STDOUT)


async def wait_ready(base: str, process: subprocess.Popen | None = None, log: Path | None = None,
                     timeout_s: float = 60.0) -> None:
    """Until `base/readyz` answers 200 (RuntimeError with the log's tail if it never does)."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=base) as client:
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                break
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    tail = log.read_text()[-3000:] if log is not None and log.exists() else ""
    raise RuntimeError(f"the service did not become ready:\n{tail}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)
