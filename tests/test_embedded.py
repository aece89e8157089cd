"""The embedded PostgreSQL (SPEC 6): start, stop, restart, and the errors it gives.

Starting a server takes a moment, so the life-cycle is one test and the error
cases that need no running server come after it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import psycopg
import pytest

from graph.embedded import LOCK_FILE, EmbeddedError, EmbeddedPostgres


def write_note(url: str, note: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS notes (note text)")
        conn.execute("INSERT INTO notes VALUES (%s)", (note,))


def read_notes(url: str) -> list[str]:
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        return [row[0] for row in conn.execute("SELECT note FROM notes ORDER BY note")]


def lock_is_free(data_dir: Path) -> bool:
    with open(data_dir / LOCK_FILE, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        fcntl.flock(lock, fcntl.LOCK_UN)
        return True


@pytest.mark.slow
def test_start_stop_restart_keeps_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"  # does not exist yet: start creates it
    first = EmbeddedPostgres(data_dir)
    with pytest.raises(EmbeddedError, match="not running"):
        _ = first.url
    url = first.start()
    try:
        assert first.url == url
        write_note(url, "a")

        # A second audit-graph on the same directory is refused while the first runs,
        # and the refusal leaves the first one alone.
        second = EmbeddedPostgres(data_dir)
        with pytest.raises(EmbeddedError) as refused:
            second.start()
        message = str(refused.value)
        assert "in use" in message
        assert str(data_dir.resolve()) in message
        assert f"pid {os.getpid()}" in message
        with pytest.raises(EmbeddedError, match="in use"):
            second.start()
        second.stop()  # never started: nothing to do, and the first keeps its lock
        assert not lock_is_free(data_dir)
        assert read_notes(url) == ["a"]
    finally:
        first.stop()
    first.stop()  # a second stop is safe
    assert lock_is_free(data_dir)
    with pytest.raises(EmbeddedError, match="not running"):
        _ = first.url
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=5).close()

    # Another instance in this same process starts the server again on the same files.
    with EmbeddedPostgres(data_dir) as again:
        assert read_notes(again.url) == ["a"]
        write_note(again.url, "b")
    assert lock_is_free(data_dir)

    # And so does the first object, once more.
    url = first.start()
    try:
        assert read_notes(url) == ["a", "b"]
    finally:
        first.stop()


@pytest.mark.slow
def test_failed_start_releases_the_directory(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "pgdata").write_text("not a directory")  # PostgreSQL cannot use this
    embedded = EmbeddedPostgres(data_dir)
    with pytest.raises(EmbeddedError, match="did not start") as failed:
        embedded.start()
    assert str(data_dir.resolve() / "pgdata") in str(failed.value)
    assert lock_is_free(data_dir)
    # Once the directory is fixed, the same process can start it.
    (data_dir / "pgdata").unlink()
    url = embedded.start()
    try:
        write_note(url, "fixed")
        assert read_notes(url) == ["fixed"]
    finally:
        embedded.stop()


def test_data_dir_under_a_regular_file(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a directory")
    with pytest.raises(EmbeddedError) as failed:
        EmbeddedPostgres(blocker / "data").start()
    message = str(failed.value)
    assert "AUDIT_GRAPH_DATA_DIR" in message
    assert str((blocker / "data").resolve()) in message


def test_data_dir_that_is_a_regular_file(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a directory")
    with pytest.raises(EmbeddedError, match="AUDIT_GRAPH_DATA_DIR"):
        EmbeddedPostgres(blocker).start()
    assert blocker.read_text() == "a file, not a directory"


def test_stop_without_start_is_safe(tmp_path: Path) -> None:
    embedded = EmbeddedPostgres(tmp_path / "never")
    embedded.stop()
    embedded.stop()
    assert not (tmp_path / "never").exists()
