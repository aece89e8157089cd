"""Every error a client sees carries extensions.code and the request id, and nothing internal.

Store errors are raised as plain exceptions deep in the call; the mapping to
GraphQL codes happens once, here, after the operation ran.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import ParserCache, SchemaExtension

from graph.store import FellBehind, InvalidArgument, StoreUnavailable

log = logging.getLogger(__name__)

BAD_USER_INPUT = "BAD_USER_INPUT"
UNAUTHENTICATED = "UNAUTHENTICATED"
FORBIDDEN = "FORBIDDEN"
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"


def code_of(error: GraphQLError) -> str:
    original = error.original_error
    if isinstance(original, GraphQLError) and original.extensions.get("code"):
        return original.extensions["code"]
    if error.extensions and error.extensions.get("code"):
        return error.extensions["code"]
    if isinstance(original, InvalidArgument):
        return BAD_USER_INPUT
    if isinstance(original, StoreUnavailable):
        return SERVICE_UNAVAILABLE
    if original is None or error.path is None:
        # Syntax, validation and variable coercion: the document or its inputs are wrong.
        return BAD_USER_INPUT
    return INTERNAL_SERVER_ERROR


def client_error(error: GraphQLError, request_id: str) -> GraphQLError:
    code = code_of(error)
    message = error.message
    if code == INTERNAL_SERVER_ERROR:
        message = f"Internal server error; quote request id {request_id} when reporting it."
    extensions: dict[str, Any] = {"code": code, "requestId": request_id}
    if isinstance(error.original_error, FellBehind):
        extensions["cursor"] = error.original_error.cursor
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=extensions,
    )


def log_errors(errors: list[GraphQLError], request_id: str) -> None:
    """Unexpected errors are logged with their traceback; expected ones only at debug."""
    for error in errors:
        if code_of(error) == INTERNAL_SERVER_ERROR:
            log.error(
                "request %s: unexpected error at %s",
                request_id,
                ".".join(map(str, error.path or ())),
                exc_info=error.original_error,
            )
        else:
            log.debug("request %s: %s", request_id, error.message)


class ErrorCodes(SchemaExtension):
    """Replace each error with a client-safe copy that carries its code."""

    def on_operation(self) -> Iterator[None]:
        yield
        self._code_errors(self.execution_context.result)

    def on_stream_result(self, result: Any) -> Iterator[None]:
        """The same for each result sent over a websocket.

        A streamed result is sent while the operation is still open, before
        on_operation's closing half runs, so it is coded here as it goes out.
        """
        self._code_errors(result)
        yield

    def _code_errors(self, result: Any) -> None:
        errors = getattr(result, "errors", None)
        if errors:
            request_id = getattr(self.execution_context.context, "request_id", "-")
            result.errors = [client_error(error, request_id) for error in errors]


class CodedParserCache(ParserCache):
    """strawberry's ParserCache, leaving a document it cannot parse to strawberry.

    ParserCache parses in its on_parse hook, where a syntax error (or a document
    over the token limit) escapes the operation and so skips ErrorCodes: the
    client would get an error without extensions.code. Left unparsed, the
    document is parsed again inside the operation and its error reported there.
    """

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        with contextlib.suppress(GraphQLError):
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        yield
