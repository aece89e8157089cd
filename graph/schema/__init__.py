"""The GraphQL schema of the contract (SPEC 4), built with strawberry."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from .context import Context
from .errors import CodedParserCache, ErrorCodes, log_errors
from .limits import Limits, limit_extensions
from .mutation import Mutation
from .query import Query
from .scalars import SCALARS
from .subscription import Subscription


class AuditSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        context: Any = execution_context.context if execution_context else None
        log_errors(errors, getattr(context, "request_id", "-"))


def build_schema(limits: Limits = Limits()) -> AuditSchema:  # noqa: B008 (frozen)
    return AuditSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        config=StrawberryConfig(scalar_map=SCALARS),
        extensions=[
            ErrorCodes,
            *limit_extensions(limits),
            lambda: CodedParserCache(maxsize=256),
            lambda: ValidationCache(maxsize=256),
        ],
    )


schema = build_schema()

__all__ = ["AuditSchema", "Context", "Limits", "build_schema", "schema"]
