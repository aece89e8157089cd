"""Bearer tokens and scopes.

With tokens configured, every request to /graphql and /export must carry one
(`Authorization: Bearer <token>` or `X-API-Key: <token>`; a websocket may
instead send `{"authorization": "Bearer <token>"}` or `{"token": ...}` in its
connection_init payload). A request without a valid token is refused with
HTTP 401 before it reaches GraphQL; a valid token missing a field's scope gets
FORBIDDEN on that field. With no tokens configured, everyone is anonymous with
every scope (and `serve` binds to loopback only).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.permission import BasePermission

from .constants import SCOPES

ALL_SCOPES = frozenset(SCOPES)


class Tokens:
    """The configured tokens; lookups compare in constant time and never log a token."""

    def __init__(self, tokens: Mapping[str, frozenset[str]]) -> None:
        self._tokens = [(as_bytes(token), effective_scopes(s)) for token, s in tokens.items()]

    def scopes_of(self, presented: str | None) -> frozenset[str] | None:
        """The scopes of a presented token, or None when it is unknown.

        Every configured token is compared, so timing does not reveal which
        one (or how much of one) matched.
        """
        if not self._tokens:
            return ALL_SCOPES
        if not presented:
            return None
        candidate = as_bytes(presented)
        found: frozenset[str] | None = None
        for token, scopes in self._tokens:
            if hmac.compare_digest(token, candidate):
                found = scopes
        return found


def as_bytes(token: str) -> bytes:
    """A token as bytes for compare_digest, whatever text it holds.

    A websocket's connection_init is JSON, where "\\ud800" is a legal escape:
    strict UTF-8 cannot encode that lone surrogate, surrogatepass can.
    """
    return token.encode("utf-8", "surrogatepass")


def effective_scopes(scopes: frozenset[str]) -> frozenset[str]:
    """admin may do everything; write and read are independent of each other."""
    return ALL_SCOPES if "admin" in scopes else scopes


def token_from_headers(headers: Mapping[str, str]) -> str | None:
    authorization = headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    api_key = headers.get("x-api-key", "").strip()
    return api_key or None


def token_from_connection_params(params: Any) -> str | None:
    """The token a websocket client put in its connection_init payload."""
    if not isinstance(params, dict):
        return None
    lowered = {str(k).lower(): v for k, v in params.items()}
    for key in ("authorization", "x-api-key", "token"):
        value = lowered.get(key)
        if isinstance(value, str) and value.strip():
            return token_from_headers({key if key != "token" else "x-api-key": value})
    headers = lowered.get("headers")
    if isinstance(headers, dict):
        return token_from_headers({str(k).lower(): str(v) for k, v in headers.items()})
    return None


UNAUTHENTICATED_BODY = json.dumps(
    {
        "data": None,
        "errors": [
            {
                "message": "A valid token is required: send 'Authorization: Bearer <token>' "
                "or 'X-API-Key: <token>'.",
                "extensions": {"code": "UNAUTHENTICATED"},
            }
        ],
    }
).encode()


class TokenAuthMiddleware:
    """Resolve the caller's scopes into scope["state"]; refuse HTTP requests without a token.

    Websockets pass through without a header token: they may still
    authenticate in connection_init (see AuditGraphQL.on_ws_connect).
    """

    def __init__(
        self, app: ASGIApp, tokens: Tokens, protected: tuple[str, ...] = ("/graphql", "/export")
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.protected = protected

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not scope["path"].startswith(
            self.protected
        ):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        scopes = self.tokens.scopes_of(token_from_headers(headers))
        scope.setdefault("state", {})["scopes"] = scopes
        if scopes is None and scope["type"] == "http":
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"www-authenticate", b'Bearer realm="audit-graph"'),
                        (b"content-length", str(len(UNAUTHENTICATED_BODY)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": UNAUTHENTICATED_BODY})
            return
        await self.app(scope, receive, send)


class RequireScope(BasePermission):
    """Field permission: the caller's token must carry `scope`."""

    scope = "read"

    @classmethod
    def allows(cls, scopes: frozenset[str] | None) -> bool:
        return scopes is not None and cls.scope in scopes

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        """True when allowed; otherwise raises the error for this caller.

        strawberry keeps one instance per field, so the error is raised here
        rather than set on the instance for `on_unauthorized`, where it would
        carry over to the next caller.
        """
        scopes = getattr(info.context, "scopes", None)
        if self.allows(scopes):
            return True
        if scopes is None:
            raise StrawberryGraphQLError(
                "A valid token is required for this field.",
                extensions={"code": "UNAUTHENTICATED"},
            )
        raise StrawberryGraphQLError(
            f"This field needs a token with the '{self.scope}' scope.",
            extensions={"code": "FORBIDDEN"},
        )


class CanRead(RequireScope):
    scope = "read"


class CanWrite(RequireScope):
    scope = "write"


class IsAdmin(RequireScope):
    scope = "admin"
