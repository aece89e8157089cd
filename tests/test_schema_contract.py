"""The served schema keeps every name, type and default of the contract, and schema.graphql
is exactly what the code exports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLObjectType,
    GraphQLScalarType,
    build_schema,
    print_ast,
)

from graph.schema import schema

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = build_schema((Path(__file__).parent / "contract.graphql").read_text())
# Both sides built from SDL, so defaults compare as the SDL prints them.
SERVED = build_schema(schema.as_str())


def default_of(value: Any) -> str | None:
    node = value.ast_node.default_value if value.ast_node else None
    return print_ast(node) if node is not None else None


def contract_types() -> list[str]:
    return sorted(name for name in CONTRACT.type_map if not name.startswith("__"))


@pytest.mark.parametrize("name", contract_types())
def test_contract_type_is_served_unchanged(name: str) -> None:
    expected = CONTRACT.type_map[name]
    served = SERVED.type_map.get(name)
    assert served is not None, f"type {name} is missing"
    kinds = (GraphQLEnumType, GraphQLScalarType, GraphQLObjectType, GraphQLInputObjectType)
    assert [isinstance(served, k) for k in kinds] == [isinstance(expected, k) for k in kinds]
    if isinstance(expected, GraphQLEnumType):
        assert set(expected.values) <= set(served.values)  # type: ignore[union-attr]
    if isinstance(expected, GraphQLScalarType):
        return
    if isinstance(expected, GraphQLObjectType | GraphQLInputObjectType):
        for field_name, field in expected.fields.items():
            assert field_name in served.fields, f"{name}.{field_name} is missing"  # type: ignore[union-attr]
            served_field = served.fields[field_name]  # type: ignore[union-attr]
            assert str(served_field.type) == str(field.type), f"{name}.{field_name}"
            if isinstance(expected, GraphQLInputObjectType):
                assert default_of(served_field) == default_of(field), f"{name}.{field_name}"
            for arg_name, arg in getattr(field, "args", {}).items():
                served_arg = served_field.args.get(arg_name)
                assert served_arg is not None, f"{name}.{field_name}({arg_name}) is missing"
                assert str(served_arg.type) == str(arg.type), f"{name}.{field_name}({arg_name})"
                assert default_of(served_arg) == default_of(arg), (
                    f"default of {name}.{field_name}({arg_name})"
                )
            extra_required = {
                arg_name
                for arg_name, arg in getattr(served_field, "args", {}).items()
                if arg_name not in getattr(field, "args", {}) and str(arg.type).endswith("!")
            }
            assert not extra_required, f"{name}.{field_name} gained required arguments"


def test_schema_file_matches_the_code() -> None:
    exported = schema.as_str() + "\n"
    assert (ROOT / "schema.graphql").read_text() == exported, (
        "schema.graphql is stale: run `audit-graph export-schema > schema.graphql`"
    )
