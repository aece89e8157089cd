"""The ASGI application: routes, request ids, and the lifespan that owns the store.

Start-up applies migrations, opens the pools and starts the maintenance
thread; shutdown stops the thread, lets in-flight writes finish and closes the
pools, in that order.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import random
from collections.abc import AsyncIterator
from typing import Any

from cross_web import HTTPException
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry import UNSET
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UnsetType

from .auth import TokenAuthMiddleware, Tokens, token_from_connection_params
from .config import Settings, load_settings
from .export import export_endpoint
from .logs import REQUEST_ID
from .schema import AuditSchema, Context, Limits
from .schema.writes import WriteDocuments
from .store import Store
from .values import is_storable_text

log = logging.getLogger(__name__)

READY_TIMEOUT = 2.0


class RequestIdMiddleware:
    """Give every request an id (the caller's X-Request-ID when it sends a sane one).

    The id reaches resolvers through the context, every error's extensions,
    the server log, and the X-Request-ID response header.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        # Unique, not secret: the Mersenne Twister costs no system call per request.
        request_id = incoming_request_id(scope) or f"{random.getrandbits(128):032x}"
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        token = REQUEST_ID.set(request_id)  # for every line logged while serving it
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)


def incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if 0 < len(text) <= 64 and all(c.isalnum() or c in "-_." for c in text):
                return text
    return None


def context_of(store: Store, state: dict[str, Any]) -> Context:
    """The context of a request whose middleware state (request id, scopes) is `state`."""
    return Context(store=store, request_id=state["request_id"], scopes=state["scopes"])


class AuditGraphQL(GraphQL):
    """strawberry's ASGI view with our context and websocket authentication."""

    def __init__(self, schema: AuditSchema, store: Store, tokens: Tokens, **kwargs: Any) -> None:
        super().__init__(schema, **kwargs)
        self.store = store
        self.tokens = tokens

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        return context_of(self.store, request.scope["state"])

    def decode_json(self, data: str | bytes) -> object:
        """json.loads, with every way it fails reported as the JSONDecodeError strawberry catches.

        Caught, a bad HTTP body is a 400 and a bad websocket message a close with
        4400. json.loads also raises ValueError (a number past Python's 4300-digit
        limit, bytes that are not UTF-8) and RecursionError (nesting deeper than
        the stack), which would otherwise escape as a crash.
        """
        try:
            return json.loads(data)
        except json.JSONDecodeError:
            raise
        except (ValueError, RecursionError) as exc:
            raise json.JSONDecodeError(f"unreadable JSON ({type(exc).__name__})", "", 0) from None

    def parse_json(self, data: str | bytes) -> Any:
        value = super().parse_json(data)
        if not isinstance(value, dict | list):
            raise HTTPException(400, 'A GraphQL request is a JSON object: {"query": "..."}.')
        return value

    async def parse_http_body(self, request: Any) -> Any:
        data = await super().parse_http_body(request)
        for item in data if isinstance(data, list) else [data]:
            # strawberry quotes an unknown operationName in its 400 reason, which
            # must be encodable as UTF-8 (a lone surrogate is not).
            name = item.operation_name
            if name is not None and not (isinstance(name, str) and is_storable_text(name)):
                raise HTTPException(400, "operationName must name an operation of the document.")
        return data

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """A websocket without a header token authenticates in its connection_init payload."""
        if context.scopes is None:
            context.scopes = self.tokens.scopes_of(
                token_from_connection_params(context.connection_params)
            )
        if context.scopes is None:
            raise ConnectionRejectionError({"message": "a valid token is required"})
        return UNSET


class WritesFirst:
    """POST /graphql: a known write document (schema/writes.py) is answered here.

    Innermost of our middleware, so the caller is authenticated and the
    request has its id; a write skips routing and the exception layer
    (bench/README.md, "Write path"). Only a JSON
    body that names a write field is decoded here; when the short path
    declines it, the view gets the same bytes and answers as always. The
    answer is JSON encoded as strawberry's view encodes it.
    """

    def __init__(
        self, app: ASGIApp, store: Store, documents: WriteDocuments, path: str = "/graphql"
    ) -> None:
        self.app = app
        self.store = store
        self.documents = documents
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] != self.path
            or not plain_json(scope)
        ):
            await self.app(scope, receive, send)
            return
        body = await Request(scope, receive).body()
        answer = await self.documents.answer(body, context_of(self.store, scope["state"]))
        if answer is None:
            await self.app(scope, replay(body, receive), send)
            return
        response = Response(json.dumps(answer), media_type="application/json")
        await response(scope, receive, send)


def plain_json(scope: Scope) -> bool:
    """A JSON request that asks for a plain JSON answer (not a multipart or SSE stream)."""
    content_type = accept = b""
    for name, value in scope["headers"]:
        if name == b"content-type":
            content_type = value
        elif name == b"accept":
            accept = value
    return (
        content_type.split(b";")[0].strip().lower() == b"application/json"
        and b"multipart" not in accept
        and b"event-stream" not in accept
    )


def replay(body: bytes, receive: Receive) -> Receive:
    """`receive` for an app downstream of one that has read the whole body already."""
    sent = False

    async def receive_again() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive_again


def create_app(settings: Settings, store: Store | None = None) -> Starlette:
    """The application over `settings.database_url` (or over a given store, for tests)."""
    if store is None:
        if not settings.database_url:
            raise ValueError("create_app needs a database URL (the CLI starts the embedded one)")
        store = Store(
            settings.database_url,
            read_database_url=settings.read_database_url,
            retention_days=settings.retention_days,
            discovery_kind=settings.discovery_toolkit_kind,
            query_kind=settings.query_toolkit_kind,
            pool_max_size=settings.pool_size,
            pool_timeout=settings.pool_timeout,
            statement_timeout=settings.statement_timeout,
            maintenance_lock_key=settings.maintenance_lock_key,
        )
    tokens = Tokens(settings.tokens)
    limits = Limits(
        max_depth=settings.max_query_depth,
        max_aliases=settings.max_aliases,
        max_tokens=settings.max_tokens,
        max_root_fields=settings.max_root_fields,
    )
    schema = AuditSchema(limits)
    graphql = AuditGraphQL(
        schema,
        store,
        tokens,
        graphql_ide="graphiql" if settings.graphiql else None,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await asyncio.to_thread(store.migrate)
        await store.open()
        store.start_maintenance(settings.maintenance_interval)
        # What exists now (modules, the schema, the pools) lives as long as the
        # process; frozen, it is not scanned again by every full collection of
        # the cyclic GC (bench/README.md, "Write path").
        gc.freeze()
        log.info("audit-graph ready")
        try:
            yield
        finally:
            await store.close()
            log.info("audit-graph stopped")

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        try:
            ready = await asyncio.wait_for(store.ping(), READY_TIMEOUT)
        except TimeoutError:
            ready = False
        if ready:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "database unreachable"}, status_code=503)

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/export/events", export_endpoint(store), methods=["GET"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ],
        lifespan=lifespan,
        max_body_size=settings.max_body_bytes,
    )
    # The last added runs first: every response, a 401 included, carries the
    # request id, and a known write is answered only for an authenticated caller.
    app.add_middleware(WritesFirst, store=store, documents=schema.write_documents)
    app.add_middleware(TokenAuthMiddleware, tokens=tokens)
    app.add_middleware(RequestIdMiddleware)
    app.state.store = store
    app.state.write_documents = schema.write_documents
    return app


def app_from_environment() -> Starlette:
    """Factory for uvicorn workers: everything comes from the environment."""
    return create_app(load_settings())
