"""Group commit: concurrent single-event writes share one multi-row transaction.

A caller's event joins the pending batch; whenever fewer than `max_in_flight`
batches are being written, the whole pending batch is taken and written in
one transaction. Under light load a batch is one event and goes at once;
under heavy load events queue for the time one transaction takes and then
commit together. Each caller is answered only after its batch committed.

A batch that fails for a reason other than the connection is retried one
event at a time, so one bad event never fails its neighbours.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import psycopg

from .errors import StoreUnavailable
from .models import Event

log = logging.getLogger(__name__)

Row = tuple[Any, ...]
WriteRows = Callable[[Sequence[Row]], Awaitable[list[Event]]]


class GroupCommit:
    """Batch concurrent `submit` calls into calls of `write_rows`.

    write_rows: writes rows in one transaction and returns them as stored.
    max_batch: the most rows one transaction takes.
    max_in_flight: how many transactions may be open at once (at most the pool size).
    """

    def __init__(self, write_rows: WriteRows, max_batch: int = 500, max_in_flight: int = 2) -> None:
        self._write_rows = write_rows
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._pending: list[tuple[Row, asyncio.Future[Event]]] = []
        self._in_flight: set[asyncio.Task[None]] = set()

    async def submit(self, row: Row) -> Event:
        """Write one row with whatever else is pending; return it once committed."""
        future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._pending.append((row, future))
        self._start_batches()
        # A caller that goes away (a dropped client) cancels its future; the
        # batch goes on, and `settle` skips a future that is done.
        return await future

    async def drain(self) -> None:
        """Wait until every submitted row has been written (shutdown)."""
        while self._in_flight or self._pending:
            self._start_batches()
            if self._in_flight:
                await asyncio.wait(set(self._in_flight))

    def _start_batches(self) -> None:
        while self._pending and len(self._in_flight) < self._max_in_flight:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            task = asyncio.get_running_loop().create_task(self._write(batch))
            self._in_flight.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._start_batches()

    async def _write(self, batch: list[tuple[Row, asyncio.Future[Event]]]) -> None:
        rows = [row for row, _ in batch]
        try:
            stored = await self._write_rows(rows)
        except (StoreUnavailable, psycopg.OperationalError) as exc:
            for _, future in batch:
                settle(future, exception=exc)
        except Exception as exc:
            if len(batch) == 1:
                settle(batch[0][1], exception=exc)
                return
            log.warning("a batch of %d events failed; writing them one by one", len(batch))
            for item in batch:
                await self._write([item])
        else:
            for (_, future), event in zip(batch, stored, strict=True):
                settle(future, result=event)


def settle(
    future: asyncio.Future[Event],
    result: Event | None = None,
    exception: BaseException | None = None,
) -> None:
    if future.done():
        return
    if exception is not None:
        future.set_exception(exception)
    else:
        future.set_result(result)  # type: ignore[arg-type]
