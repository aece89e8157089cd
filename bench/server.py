"""The server under test: `python -m graph.cli serve` as a subprocess, as in production.

Its output goes to a file (a pipe nobody reads would fill up and stall the
server). Memory is the resident set summed over the whole process tree:
uvicorn's supervisor plus each worker process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

from .client import HttpConnection, build_request

REPO = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 120.0


def clean_env() -> dict[str, str]:
    """Our environment without audit-graph settings: the command line says it all."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AUDIT_GRAPH_") and key != "DATABASE_URL"
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """`audit-graph serve --workers N` on a free loopback port."""

    host = "127.0.0.1"

    def __init__(self, database_url: str, workers: int, log_path: Path) -> None:
        self.port = free_port()
        self.workers = workers
        self.command = [
            sys.executable, "-m", "graph.cli", "serve", "--database-url", database_url,
            "--port", str(self.port), "--workers", str(workers),
        ]  # fmt: skip
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            self.command, cwd=REPO, env=clean_env(), stdout=self._log, stderr=subprocess.STDOUT
        )

    def display_command(self) -> str:
        """The command with the database URL elided (it may carry a password)."""
        shown = list(self.command[1:])
        shown[shown.index("--database-url") + 1] = "URL"
        return "python " + " ".join(shown)

    async def wait_ready(self) -> None:
        """Until /readyz answers 200 in every worker's stead (any worker will do)."""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        request = build_request(self.host, self.port, "GET", "/readyz")
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited early:\n{self.output()[-3000:]}")
            conn = HttpConnection(self.host, self.port)
            try:
                status, _ = await conn.send(request)
                if status == 200:
                    return
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                await conn.close()
            await asyncio.sleep(0.2)
        raise RuntimeError(f"the server was not ready in {STARTUP_TIMEOUT:.0f} s")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def rss_bytes(self) -> int:
        """Resident memory of the server and all its descendants."""
        try:
            root = psutil.Process(self.process.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0
        total = 0
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += process.memory_info().rss
        return total

    def stop(self) -> int | None:
        """SIGTERM, wait for the graceful shutdown, SIGKILL if it hangs; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


class MemorySampler:
    """The peak resident memory of the server tree while a load runs."""

    def __init__(self, server: ServerProcess, interval: float = 0.25) -> None:
        self.server = server
        self.interval = interval
        self.peak = 0
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            # psutil reads /proc synchronously; off the loop so clients are not delayed.
            self.peak = max(self.peak, await asyncio.to_thread(self.server.rss_bytes))
            await asyncio.sleep(self.interval)

    def __enter__(self) -> MemorySampler:
        self._task = asyncio.get_running_loop().create_task(self._sample())
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()


def postmaster_pid(pgdata: Path | None) -> int | None:
    """The PostgreSQL server's pid, when it runs on this machine from a data dir we know."""
    if pgdata is None:
        return None
    try:
        return int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def tree_cpu_seconds(pid: int | None) -> float:
    """User + system CPU of a process and its live descendants.

    Descendants that exited since the last look take their CPU with them, so
    this is a lower bound; the server's workers and pooled PostgreSQL backends
    live through a whole case, which is what it is used for.
    """
    if pid is None:
        return 0.0
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


class CpuMeter:
    """CPU seconds spent by the benchmark client, the server tree and PostgreSQL.

    It is the evidence that the client is not the bottleneck: the client's CPU
    per request is reported next to the server's.
    """

    def __init__(self, server: ServerProcess, pgdata: Path | None) -> None:
        self.server = server
        self.postgres_pid = postmaster_pid(pgdata)

    def snapshot(self) -> dict[str, float]:
        own = psutil.Process().cpu_times()
        return {
            "client": own.user + own.system,
            "server": tree_cpu_seconds(self.server.process.pid),
            "postgres": tree_cpu_seconds(self.postgres_pid),
        }

    @staticmethod
    def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        # A process that exited in between takes its CPU out of the sum: never below 0.
        return {name: max(0.0, after[name] - before[name]) for name in before}
