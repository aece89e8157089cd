"""The write mutations run without the general executor, for documents seen before.

A service sends the same logEvent (or logEvents) document for every tool
call; only the variables change. Through strawberry and graphql-core each call
paid for the extension hooks, the executor's bookkeeping, the permission
wrapper and the result completion: about three times the CPU of the write
itself (bench/README.md, "Write path").

A document is prepared once per query text: parsed and validated with the
schema's own rules and limits, and taken only in the plainest shape: one
mutation operation, one write field whose argument is the operation's one
variable, and below it plain fields (no arguments, directives or fragments).
A run gets the write's argument from the request body in one of two ways.
The usual request is decoded by msgspec straight into the argument's values
(`decoder`: the store's NewEvents for logEvent(s), checked as graphql-core
checks a variable). Any other is decoded as JSON, its variable coerced as
graphql-core's `coerce_input_value` does (a coercion built once per document
from the same scalar parsers and defaults, which hands anything unusual to
that function) and converted with strawberry's own `convert_argument`. Either
way it calls the same store function the resolver calls
(mutation.WRITES), completes the result with the schema's own field resolvers
and scalar serializers, and reports an error the way the executor does
(located at the field, coded and logged by errors.py).

Whatever falls outside that (a variable that does not coerce, a caller
without the field's scope, an operationName that names no operation) makes
`run` answer None before anything is written, and the request goes through the
general executor, which answers it exactly as it always has. So this module
changes the cost of a write, never its answer; tests/test_prepared.py checks
that side by side.

The schema's extensions (schema/__init__.py) act only on parsing, validation
and errors, which are covered here; an extension added later that acts on
every operation must be mirrored here or this path turned off for it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, get_type_hints

import msgspec
from graphql import (
    FieldNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    Undefined,
    VariableNode,
    coerce_input_value,
    is_required_input_field,
    located_error,
    parse,
    type_from_ast,
)
from graphql.utilities.coerce_input_value import coerce_default_value
from strawberry.permission import PermissionExtension
from strawberry.schema.schema import validate_document
from strawberry.types.arguments import StrawberryArgument, convert_argument

from graph.auth import RequireScope

from .context import Context
from .errors import client_error, log_errors
from .mutation import WRITES

if TYPE_CHECKING:
    from . import AuditSchema

Complete = Callable[[Any], Any]
Coerce = Callable[[Any], Any]
Response = dict[str, Any]


class Unprepared(Exception):
    """The document or the request is not one this path takes."""


@dataclass(frozen=True, slots=True)
class PreparedWrite:
    """One write document, ready to run for any variables."""

    schema: AuditSchema = field(repr=False)
    operation_name: str | None
    variable: str
    variable_type: GraphQLInputType
    coerce: Coerce
    argument: str
    strawberry_argument: StrawberryArgument
    permissions: tuple[type[RequireScope], ...]
    write: Callable[..., Awaitable[Any]]
    field_node: FieldNode
    response_key: str
    complete: Complete
    decode: Decode | None

    def takes(self, operation_name: Any, context: Context) -> bool:
        """Whether the request names this operation and the caller may run the field."""
        if operation_name is not None and operation_name != self.operation_name:
            return False
        return all(permission.allows(context.scopes) for permission in self.permissions)

    async def run(self, variables: Any, operation_name: Any, context: Context) -> Response | None:
        """The response the executor would give, or None to leave the request to it."""
        if not self.takes(operation_name, context):
            return None
        if type(variables) is not dict or variables.keys() != {self.variable}:
            return None
        try:
            value = self.coerce(variables[self.variable])
        except Declined:
            # The variable types here are not recursive (a list of flat input
            # objects at most), so graphql-core's nesting-depth guard cannot trip.
            value = coerce_input_value(variables[self.variable], self.variable_type)
            if value is Undefined:
                return None
        # What strawberry's convert_arguments does for the one argument, whose
        # name it would otherwise convert on every call.
        converted = convert_argument(
            value,
            self.strawberry_argument.type,
            scalar_registry=self.schema.schema_converter.scalar_registry,
            config=self.schema.config,
            path=(self.argument,),
        )
        return await self.answer(converted, context)

    async def answer(self, argument: Any, context: Context) -> Response:
        """Run the write with its argument's value and answer as the executor does."""
        try:
            result = self.complete(
                await self.write(context.store, **{self.strawberry_argument.python_name: argument})
            )
        except Exception as exc:
            # As the executor reports a resolver's error; the field is non-null,
            # so data is null.
            error = located_error(exc, [self.field_node], [self.response_key])
            log_errors([error], context.request_id)
            return {"data": None, "errors": [client_error(error, context.request_id).formatted]}
        return {"data": {self.response_key: result}}


class PreparedWrites:
    """Prepared write documents by query text; a text that cannot be prepared maps to None."""

    def __init__(self, schema: AuditSchema, maxsize: int = 256) -> None:
        self._schema = schema
        self.get: Callable[[str], PreparedWrite | None] = functools.lru_cache(maxsize)(
            self._prepare
        )

    async def answer(self, body: bytes, context: Context) -> Response | None:
        """The response to a JSON request body, or None to leave it to the executor.

        A body is decoded straight into the write's argument when the
        document's decoder takes it (`decoder`); otherwise it is decoded as
        JSON and its variable coerced as the executor does.
        """
        if not any(name in body for name in WRITE_FIELD_NAMES):  # no decoding for other requests
            return None
        try:
            envelope = ENVELOPE.decode(body)
        except (msgspec.MsgspecError, RecursionError):  # RecursionError: nesting past the stack
            envelope = None
        if envelope is not None and not envelope.extensions:
            prepared = self.get(envelope.query)
            if prepared is None:
                return None
            if prepared.decode is not None and prepared.takes(envelope.operation_name, context):
                try:
                    argument = prepared.decode(envelope.variables)
                except (msgspec.MsgspecError, RecursionError, Declined):
                    pass  # not the plain case: coerced below, reported as the executor does
                else:
                    return await prepared.answer(argument, context)
        try:
            # Text, not bytes: json.loads would first guess the encoding in Python.
            request = json.loads(body.decode())
        except (ValueError, RecursionError):
            return None
        parts = request_parts(request)
        if parts is None:
            return None
        query, variables, operation_name = parts
        prepared = self.get(query)
        if prepared is None:
            return None
        return await prepared.run(variables, operation_name, context)

    def _prepare(self, query: str) -> PreparedWrite | None:
        try:
            return prepare(self._schema, query)
        except (GraphQLError, Unprepared):
            return None


def prepare(schema: AuditSchema, query: str) -> PreparedWrite:
    """Prepare `query`, or raise Unprepared (or the parser's GraphQLError)."""
    document = parse(query, max_tokens=schema.limits.max_tokens)
    if validate_document(schema._schema, document, schema.validation_rules):
        raise Unprepared
    (operation,) = document.definitions if len(document.definitions) == 1 else (None,)
    if not isinstance(operation, OperationDefinitionNode):
        raise Unprepared
    if operation.operation != OperationType.MUTATION or operation.directives:
        raise Unprepared
    definitions = operation.variable_definitions or ()
    selections = operation.selection_set.selections
    if len(definitions) != 1 or len(selections) != 1:
        raise Unprepared
    (definition,), (field_node,) = definitions, selections
    if definition.default_value is not None or definition.directives:
        raise Unprepared
    if not isinstance(field_node, FieldNode) or field_node.directives:
        raise Unprepared
    write = WRITES.get(field_node.name.value)
    if write is None or len(field_node.arguments or ()) != 1:
        raise Unprepared
    (argument_node,) = field_node.arguments
    variable = definition.variable.name.value
    if not (
        isinstance(argument_node.value, VariableNode) and argument_node.value.name.value == variable
    ):
        raise Unprepared

    mutation_type = schema._schema.mutation_type
    assert mutation_type is not None
    graphql_field = mutation_type.fields[field_node.name.value]
    variable_type = type_from_ast(schema._schema, definition.type)
    # Exactly the argument's type: no nullable variable in a non-null place.
    if str(variable_type) != str(graphql_field.args[argument_node.name.value].type):
        raise Unprepared
    strawberry_field = schema.get_field_for_type(
        field_name=field_node.name.value, type_name="Mutation"
    )
    assert strawberry_field is not None
    argument_name = argument_node.name.value
    (strawberry_argument,) = (
        argument
        for argument in strawberry_field.arguments
        if schema.config.name_converter.from_argument(argument) == argument_name
    )
    extensions, permissions = strawberry_field.extensions, strawberry_field.permission_classes
    if not all(isinstance(extension, PermissionExtension) for extension in extensions):
        raise Unprepared
    if not all(issubclass(permission, RequireScope) for permission in permissions):
        raise Unprepared
    return PreparedWrite(
        schema=schema,
        operation_name=operation.name.value if operation.name else None,
        variable=variable,
        variable_type=variable_type,  # type: ignore[arg-type]
        coerce=coercion(variable_type),  # type: ignore[arg-type]
        argument=argument_name,
        strawberry_argument=strawberry_argument,
        permissions=tuple(permissions),
        write=write,
        field_node=field_node,
        response_key=field_node.alias.value if field_node.alias else field_node.name.value,
        complete=completion(graphql_field.type, field_node.selection_set),
        decode=decoder(schema, variable, variable_type),  # type: ignore[arg-type]
    )


class Declined(Exception):
    """A value `coercion` does not take; graphql-core's coerce_input_value decides."""


def coercion(type_: GraphQLInputType) -> Coerce:
    """graphql-core's coerce_input_value specialised for `type_`, for the usual values.

    It takes what clients normally send: null where the type allows it, a JSON
    list for a list, an object of known fields for an input object, each
    scalar coerced by the scalar's own `coerce_input_value`, defaults filled in
    from graphql-core's `coerce_default_value`. Anything else raises Declined
    and the generic function decides, with its special cases (one value
    where a list is expected, an integral float for Int). What it returns is
    what the generic function returns; it skips the generic type dispatch of
    every field, which was most of the coercion's cost (27 fields an event).
    """
    if isinstance(type_, GraphQLNonNull):
        inner = coercion(type_.of_type)

        def non_null(value: Any) -> Any:
            if value is None:
                raise Declined
            return inner(value)

        return non_null
    if isinstance(type_, GraphQLList):
        item = coercion(type_.of_type)

        def list_of(value: Any) -> Any:
            if value is None:
                return None
            if type(value) is not list:
                raise Declined
            return [item(element) for element in value]

        return list_of
    if isinstance(type_, GraphQLInputObjectType) and not type_.is_one_of:
        return input_object_coercion(type_)
    if isinstance(type_, GraphQLScalarType | GraphQLEnumType):
        coerce_leaf = type_.coerce_input_value

        def leaf(value: Any) -> Any:
            if value is None:
                return None
            try:
                return coerce_leaf(value)
            except Exception:
                raise Declined from None

        return leaf
    raise Unprepared


def input_object_coercion(type_: GraphQLInputObjectType) -> Coerce:
    fields = [
        (
            name,
            field.out_name or name,
            coercion(field.type),
            is_required_input_field(field),
            # What graphql-core fills in for an omitted field (memoised there).
            coerce_default_value(field),
        )
        for name, field in type_.fields.items()
    ]
    names = frozenset(type_.fields)
    out_type = type_.out_type

    def input_object(value: Any) -> Any:
        if value is None:
            return None
        if type(value) is not dict or not names.issuperset(value):
            raise Declined
        coerced: dict[str, Any] = {}
        for name, out_name, coerce, required, default in fields:
            if name in value:
                coerced[out_name] = coerce(value[name])
            elif required:
                raise Declined
            elif default is not Undefined:
                coerced[out_name] = default
        return out_type(coerced)

    return input_object


Decode = Callable[[msgspec.Raw], Any]

INT32 = Annotated[int, msgspec.Meta(ge=-(2**31), le=2**31 - 1)]
# GraphQL's own scalars, as msgspec takes exactly what graphql-core's parse_value
# takes; anything else (an int for ID, an integral float for Int) fails to
# decode and goes the generic way.
BUILT_IN_SCALARS: dict[str, Any] = {"String": str, "ID": str, "Boolean": bool, "Int": INT32}


def decoder(schema: AuditSchema, variable: str, type_: GraphQLInputType) -> Decode | None:
    """A function from the JSON of a request's variables to the write's argument, or None.

    For a variable of a non-null input object or a non-null list of them, whose
    fields are scalars: msgspec decodes the JSON straight into the values the
    write function would get from strawberry's conversion, with the same
    checks as graphql-core's coercion: for an input that converts to a store
    value by renaming, that store value (`input_struct`), which is all a write
    function uses of it. Custom scalars are decoded as JSON and parsed by
    their own parse_value.
    Whatever it does not take raises msgspec's error or Declined, and the
    request is coerced the generic way, which also reports the error;
    tests/test_prepared.py checks that both ways give the same argument. For
    1000 events it replaced json.loads, coercion, conversion and to_store:
    24 ms -> 2.4 ms.
    """
    try:
        value_type, parse = decoded_type(schema, type_)
    except Unprepared:
        return None
    variables = msgspec.defstruct(
        "Variables", [("value", value_type)], rename={"value": variable}, forbid_unknown_fields=True
    )
    decode = msgspec.json.Decoder(variables).decode

    def decode_variables(raw: msgspec.Raw) -> Any:
        return parse(decode(raw).value)

    return decode_variables


def decoded_type(schema: AuditSchema, type_: GraphQLInputType) -> tuple[Any, Callable[[Any], Any]]:
    """The msgspec type of a non-null `type_`, and what completes a value decoded as it."""
    if not isinstance(type_, GraphQLNonNull):
        raise Unprepared
    inner = type_.of_type
    if isinstance(inner, GraphQLList):
        item_type, parse_item = decoded_type(schema, inner.of_type)
        return list[item_type], lambda items: [parse_item(item) for item in items]  # type: ignore[valid-type]
    if isinstance(inner, GraphQLInputObjectType) and not inner.is_one_of:
        return input_struct(schema, inner)
    raise Unprepared


def input_struct(
    schema: AuditSchema, type_: GraphQLInputObjectType
) -> tuple[type[msgspec.Struct], Callable[[Any], Any]]:
    """The store value of an input type, as msgspec decodes it from the input's JSON.

    For an input class whose `to_store` renames it into a msgspec Struct with
    the same field names (AuditEventInput -> NewEvent), an omitted or null
    field taking the store's default: the decoded object is that store value
    already (its `to_store` returns it), one conversion fewer per event. A
    null where the store's default is not None declines (msgspec cannot turn
    it into the default), and so does anything else to_store would convert.
    """
    definition = schema.get_type_by_name(type_.name)
    to_store = getattr(definition, "origin", None) and getattr(definition.origin, "to_store", None)
    store_type = get_type_hints(to_store).get("return") if to_store else None
    if not (isinstance(store_type, type) and issubclass(store_type, msgspec.Struct)):
        raise Unprepared
    store_fields = {field.name: field for field in msgspec.structs.fields(store_type)}
    if {field.python_name for field in definition.fields} != store_fields.keys():
        raise Unprepared
    fields: list[tuple[str, Any, Any]] = []
    names: dict[str, str] = {}
    custom: list[tuple[str, Callable[[Any], Any]]] = []
    for strawberry_field in definition.fields:
        name = schema.config.name_converter.get_graphql_name(strawberry_field)
        graphql_field = type_.fields[name]
        nullable = not isinstance(graphql_field.type, GraphQLNonNull)
        scalar = graphql_field.type if nullable else graphql_field.type.of_type
        if not isinstance(scalar, GraphQLScalarType):
            raise Unprepared
        python_name = strawberry_field.python_name
        names[python_name] = name
        store_default = store_fields[python_name].default
        graphql_default = coerce_default_value(graphql_field)
        python_type = BUILT_IN_SCALARS.get(scalar.name)
        if python_type is None:
            if graphql_default is not Undefined:  # parsed already: not to be parsed again
                raise Unprepared
            python_type = Any  # any JSON, parsed after decoding
            custom.append((python_name, scalar.parse_value))
        if is_required_input_field(graphql_field):
            default = msgspec.NODEFAULT
        elif store_default is msgspec.NODEFAULT:
            raise Unprepared
        else:
            given = graphql_default is not Undefined and graphql_default is not None
            default = graphql_default if given else store_default
            if store_default is None:
                python_type = python_type | None
        fields.append((python_name, python_type, default))
    struct = msgspec.defstruct(
        type_.name,
        fields,
        bases=(store_type,),
        kw_only=True,
        rename=names,
        forbid_unknown_fields=True,
        namespace={"to_store": lambda self: self},  # decoded, it is the store value
    )

    def parse(value: Any) -> Any:
        # A custom scalar's value, null aside, through its own parse_value; what
        # it raises, graphql-core reports as a coercion error.
        for name, parse_value in custom:
            given = getattr(value, name)
            if given is not None:
                try:
                    setattr(value, name, parse_value(given))
                except Exception:
                    raise Declined from None
        return value

    return struct, parse


def completion(type_: GraphQLOutputType, selection_set: SelectionSetNode | None) -> Complete:
    """A function turning a resolver's value into its response value, as the executor does."""
    if isinstance(type_, GraphQLNonNull):
        inner = completion(type_.of_type, selection_set)

        def complete_non_null(value: Any) -> Any:
            if value is None:
                raise TypeError(f"null for the non-null type {type_}")
            return inner(value)

        return complete_non_null
    if isinstance(type_, GraphQLList):
        item = completion(type_.of_type, selection_set)
        return lambda value: None if value is None else [item(v) for v in value]
    if isinstance(type_, GraphQLScalarType):
        serialize = type_.serialize
        return lambda value: None if value is None else serialize(value)
    if isinstance(type_, GraphQLObjectType) and selection_set is not None:
        return object_completion(type_, selection_set)
    raise Unprepared


def object_completion(type_: GraphQLObjectType, selection_set: SelectionSetNode) -> Complete:
    fields: list[tuple[str, Callable[[Any], Any], Complete]] = []
    for selection in selection_set.selections:
        if not isinstance(selection, FieldNode) or selection.directives or selection.arguments:
            raise Unprepared
        key = selection.alias.value if selection.alias else selection.name.value
        if any(key == seen for seen, _, _ in fields):
            raise Unprepared
        if selection.name.value == "__typename":
            fields.append((key, lambda _source, name=type_.name: name, lambda value: value))
            continue
        graphql_field = type_.fields[selection.name.value]
        resolve = graphql_field.resolve
        # strawberry's resolver of a plain attribute, which needs no info.
        if not getattr(resolve, "_is_default", False):
            raise Unprepared
        fields.append(
            (
                key,
                lambda source, resolve=resolve: resolve(source, None),
                completion(graphql_field.type, selection.selection_set),
            )
        )

    def complete_object(source: Any) -> dict[str, Any]:
        return {key: complete(resolve(source)) for key, resolve, complete in fields}

    return complete_object


def request_parts(data: Any) -> tuple[str, Any, Any] | None:
    """(query, variables, operationName) of a plain single-operation request body."""
    if type(data) is not dict or not data.keys() <= REQUEST_KEYS or data.get("extensions"):
        return None
    query = data.get("query")
    if type(query) is not str:
        return None
    return query, data.get("variables"), data.get("operationName")


REQUEST_KEYS = frozenset({"query", "variables", "operationName", "extensions"})


class Envelope(msgspec.Struct, forbid_unknown_fields=True):
    """A request body as `request_parts` takes it, its variables left undecoded."""

    query: str
    variables: msgspec.Raw = msgspec.Raw(b"null")
    operation_name: Any = msgspec.field(default=None, name="operationName")
    extensions: Any = None


ENVELOPE = msgspec.json.Decoder(Envelope)
WRITE_FIELD_NAMES = tuple(name.encode() for name in WRITES)
