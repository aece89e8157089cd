"""Cost limits on a GraphQL document, checked at validation, before anything runs.

Depth, aliases and tokens use strawberry's own extensions; the root-field
count is one small validation rule of ours. Every rejection is a validation
error, which the API reports as BAD_USER_INPUT.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
)
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
)


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-document limits; the defaults leave room for GraphiQL and real dashboards."""

    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 5_000
    max_root_fields: int = 20


def root_field_count(
    selection_set: SelectionSetNode,
    get_fragment: Callable[[str], FragmentDefinitionNode | None],
    seen: frozenset[str] = frozenset(),
) -> int:
    """Root fields an operation selects, through fragments (introspection not counted)."""
    count = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            count += not selection.name.value.startswith("__")
        elif isinstance(selection, InlineFragmentNode):
            count += root_field_count(selection.selection_set, get_fragment, seen)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
            fragment = get_fragment(selection.name.value)
            if fragment is not None:
                count += root_field_count(
                    fragment.selection_set, get_fragment, seen | {selection.name.value}
                )
    return count


def max_root_fields_rule(limit: int) -> type[ValidationRule]:
    class MaxRootFieldsRule(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            count = root_field_count(node.selection_set, self.context.get_fragment)
            if count > limit:
                self.report_error(
                    GraphQLError(
                        f"This operation asks for {count} root fields; the limit is {limit}. "
                        "Split it into several requests.",
                        node,
                    )
                )

    return MaxRootFieldsRule


def limit_rules(limits: Limits) -> tuple[type[ValidationRule], ...]:
    """The validation rules of the depth, alias and root-field limits, for one schema.

    Built once per schema: ValidationCache keys its cache by the rule classes,
    and limiters constructed per request would bring new classes each time, so
    no validation would ever be a cache hit.
    """
    # QueryDepthLimiter already skips introspection fields (GraphiQL's query is deep
    # by nature). No should_ignore: to call it the limiter converts every argument
    # literal to Python, and an integer literal of 5000 digits raises there, outside
    # validation's error handling.
    return (
        *QueryDepthLimiter(max_depth=limits.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=limits.max_aliases).validation_rules,
        max_root_fields_rule(limits.max_root_fields),
    )


def limit_extensions(limits: Limits, rules: tuple[type[ValidationRule], ...]) -> list[Any]:
    """Extension factories for strawberry.Schema(extensions=...), given `limit_rules(limits)`."""
    return [
        lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
        lambda: AddValidationRules(list(rules)),
    ]
