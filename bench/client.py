"""A minimal HTTP/1.1 keep-alive client on raw asyncio streams.

Why not httpx: on a 2-core machine httpx spends more CPU per request than the
server spends answering a cheap mutation, so a benchmark driven by it measures
the client. This client does only what the benchmark needs: POST (and GET) on
one persistent connection per simulated client, Content-Length framing both
ways (uvicorn with httptools always answers with Content-Length), requests
built once as bytes and reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

HEADER_END = b"\r\n\r\n"
CONTENT_LENGTH = b"\r\ncontent-length:"


class HttpError(RuntimeError):
    """The server answered in a way the benchmark cannot count as a success."""


def build_request(host: str, port: int, method: str, path: str, body: bytes = b"") -> bytes:
    """The complete bytes of one request; built once, sent many times."""
    head = (
        f"{method} {path} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "Content-Type: application/json\r\n"
        "Accept: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode("ascii") + body


def graphql_body(query: str, variables: dict[str, Any] | None = None) -> bytes:
    return json.dumps({"query": query, "variables": variables or {}}).encode()


class HttpConnection:
    """One persistent connection; requests on it go one after another.

    The server closes a keep-alive connection that stays idle past its
    timeout (uvicorn: 5 s), so a request that finds the connection closed
    before any byte of the answer arrived reconnects and sends again. Every
    request the benchmark sends is safe to repeat: queries, and writes whose
    ids the client chose (the store stores an id once).
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reconnects = 0
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """Send prebuilt request bytes; return (status, body)."""
        for attempt in range(2):
            if self._reader is None or self._reader.at_eof():
                await self.close()
                await self.connect()
                if attempt:
                    self.reconnects += 1
            try:
                return await self._exchange(request)
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                # Closed under us before the answer started: the keep-alive timeout.
                if attempt or (isinstance(exc, asyncio.IncompleteReadError) and exc.partial):
                    raise
                await self.close()
        raise AssertionError("unreachable")

    async def _exchange(self, request: bytes) -> tuple[int, bytes]:
        assert self._reader is not None and self._writer is not None
        self._writer.write(request)
        head = await self._reader.readuntil(HEADER_END)
        status = int(head[9:12])
        lowered = head.lower()
        start = lowered.find(CONTENT_LENGTH)
        if start < 0:
            raise HttpError(f"HTTP {status} without Content-Length: {head[:200]!r}")
        start += len(CONTENT_LENGTH)
        length = int(lowered[start : lowered.index(b"\r\n", start)])
        body = await self._reader.readexactly(length)
        if b"\r\nconnection: close" in lowered:
            await self.close()
        return status, body

    async def timed(self, request: bytes) -> tuple[float, int, bytes]:
        """(seconds, status, body) of one request."""
        started = time.perf_counter()
        status, body = await self.send(request)
        return time.perf_counter() - started, status, body


def check_graphql(status: int, body: bytes, what: str) -> None:
    """Raise unless the answer is HTTP 200 without GraphQL errors.

    A substring test, not a JSON parse: parsing every answer would put the
    client's CPU back into the measurement. Answers are parsed (and compared
    with the floor) once per case, outside the timed loops.
    """
    # `"errors":` unquoted can only be the key: inside a JSON string it is escaped.
    if status != 200 or b'"errors":' in body:
        raise HttpError(f"{what}: HTTP {status}: {body[:500].decode(errors='replace')}")


def parse_graphql(status: int, body: bytes, what: str) -> dict[str, Any]:
    """The `data` of a GraphQL answer; raise with the server's message on any error."""
    if status != 200:
        raise HttpError(f"{what}: HTTP {status}: {body[:500].decode(errors='replace')}")
    answer = json.loads(body)
    if answer.get("errors"):
        raise HttpError(f"{what}: {json.dumps(answer['errors'])[:500]}")
    data: dict[str, Any] = answer["data"]
    return data
