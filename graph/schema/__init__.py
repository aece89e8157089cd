"""The GraphQL schema of the contract (SPEC 4), built with strawberry."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import strawberry
from graphql import GraphQLError, ValidationRule, specified_rules
from strawberry.extensions import ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from .context import Context
from .errors import CodedParserCache, ErrorCodes, log_errors
from .limits import Limits, limit_extensions, limit_rules
from .mutation import Mutation
from .query import Query
from .scalars import SCALARS
from .subscription import Subscription
from .writes import LearnWrites, WriteDocuments


class AuditSchema(strawberry.Schema):
    """The contract's schema under `limits`, with its known write documents (writes.py)."""

    def __init__(self, limits: Limits = Limits()) -> None:  # noqa: B008 (frozen)
        self.limits = limits
        rules = limit_rules(limits)
        # What strawberry validates every document with, given the extensions below.
        self.validation_rules: tuple[type[ValidationRule], ...] = (*specified_rules, *rules)
        super().__init__(
            query=Query,
            mutation=Mutation,
            subscription=Subscription,
            config=StrawberryConfig(scalar_map=SCALARS),
            extensions=[
                ErrorCodes,
                LearnWrites,
                *limit_extensions(limits, rules),
                lambda: CodedParserCache(maxsize=256),
                lambda: ValidationCache(maxsize=256),
            ],
        )
        self.write_documents = WriteDocuments(self)

    async def execute(
        self,
        query: str | None,
        *args: Any,
        allowed_operation_types: Iterable[OperationType] | None = None,
        **kwargs: Any,
    ) -> ExecutionResult:
        """One operation, one result: a subscription needs a stream, so not here.

        strawberry lets a subscription through a plain POST or GET, where its
        resolver's stream cannot be consumed and ends as an internal error;
        refused as an operation type, it is an HTTP 400 naming the problem.
        Subscriptions go through `stream`/`subscribe` (the websocket).
        """
        allowed = set(allowed_operation_types or DEFAULT_ALLOWED_OPERATION_TYPES)
        return await super().execute(
            query,
            *args,
            allowed_operation_types=allowed - {OperationType.SUBSCRIPTION},
            **kwargs,
        )

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        context: Any = execution_context.context if execution_context else None
        log_errors(errors, getattr(context, "request_id", "-"))


schema = AuditSchema()

__all__ = ["AuditSchema", "Context", "Limits", "schema"]
