"""Known write documents, answered without the general executor.

A service sends the same logEvent (or logEvents) document for every tool
call; only the variables change. Through strawberry's executor each call
costs several times the write itself (extension hooks, variable coercion
field by field, argument conversion, result completion), and no public
extension point removes that cost (bench/README.md, "One GraphQL engine").
So the plainest write documents take a short path:

- A document is learned, never parsed or validated here: the first request
  with its text goes through strawberry as any other, and once strawberry has
  validated it (its rules, its limits), `LearnWrites` records it if it has the
  plain shape: one mutation, one write field whose one argument is the
  operation's one variable, of exactly the argument's type, and below it
  fields that are plain attributes (no arguments, directives, fragments or
  resolvers), or `__typename`.
- A later request with that exact text and no `extensions` has its variables
  decoded by msgspec straight into the store's `NewEvent`s (a Struct derived
  from the input type and the columns: the GraphQL names and defaults, Int's
  32-bit range, unknown fields refused; DateTime parsed by the scalar's own
  function). The same store function the resolver calls runs (mutation.WRITES)
  and its result is serialized field by field with the schema's serializers.
  An error is located at the field, coded and logged as the executor does
  (errors.py).
- Anything else goes to the executor before anything is written: a value the
  decoder does not take (a null for a field with a default, an integer ID,
  1.0 for an Int, a bad date-time: the executor coerces or reports it), a
  caller the field's permissions do not plainly allow, a permission class
  that decides by anything but scopes, another operationName. Each such
  fallback is counted by reason (`declined`) and logged once per document.

So this module changes the cost of a write, never its answer;
tests/test_fast_writes.py sends generated requests both ways and compares
answers and rows. It uses only public names of strawberry, graphql-core and
msgspec.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
from graphql import (
    DocumentNode,
    FieldNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    located_error,
)
from strawberry import Schema
from strawberry.extensions import SchemaExtension
from strawberry.types.base import StrawberryList, StrawberryOptional, has_object_definition

from graph.auth import RequireScope
from graph.store.columns import INPUT_COLUMNS
from graph.store.validation import COLUMN_TYPES, DecodedEvent

from .context import Context
from .errors import client_error, log_errors
from .mutation import WRITES
from .scalars import SERIALIZERS, parse_datetime

log = logging.getLogger(__name__)

Response = dict[str, Any]
Serialize = Callable[[Any], Any]


class Declined(Exception):
    """A request the short path does not take; the executor answers it."""


@dataclass(frozen=True, slots=True)
class WriteDocument:
    """One learned write document, ready to answer any request that sends its text."""

    operation_name: str | None
    field_node: FieldNode
    response_key: str
    permissions: tuple[type[RequireScope], ...]
    decode: Callable[[msgspec.Raw], Any]
    write: Callable[..., Awaitable[Any]]
    serialize: Serialize

    def allows(self, operation_name: Any, context: Context) -> bool:
        if operation_name is not None and operation_name != self.operation_name:
            return False
        return all(permission.allows(context.scopes) for permission in self.permissions)

    async def answer(self, argument: Any, context: Context) -> Response:
        """Run the write and answer as the executor does."""
        try:
            result = self.serialize(await self.write(context.store, argument))
        except Exception as exc:
            # As the executor reports a resolver's error; the field is non-null, so data is null.
            error = located_error(exc, [self.field_node], [self.response_key])
            log_errors([error], context.request_id)
            return {"data": None, "errors": [client_error(error, context.request_id).formatted]}
        return {"data": {self.response_key: result}}


class Envelope(msgspec.Struct, forbid_unknown_fields=True):
    """A GraphQL-over-HTTP request body, its variables left undecoded."""

    query: str
    variables: msgspec.Raw = msgspec.Raw(b"null")
    operation_name: Any = msgspec.field(default=None, name="operationName")
    extensions: Any = None


ENVELOPE = msgspec.json.Decoder(Envelope)


class WriteDocuments:
    """The learned write documents of one schema, by query text, and what was declined."""

    def __init__(self, schema: Schema, maxsize: int = 256) -> None:
        self.schema = schema
        self.maxsize = maxsize
        self.documents: dict[str, WriteDocument] = {}
        # Requests answered here by field, and fallbacks to the executor by
        # reason (each document logged once), for metrics and tests.
        self.answered: collections.Counter[str] = collections.Counter()
        self.declined: collections.Counter[str] = collections.Counter()
        self._logged: set[str] = set()
        self.field_names = tuple(name.encode() for name in WRITES)

    def learn(self, query: str, document: DocumentNode) -> None:
        if query in self.documents or len(self.documents) >= self.maxsize:
            return
        try:
            self.documents[query] = prepare(self.schema, document)
        except Declined as exc:
            self.decline(query, f"not the plain write shape ({exc})")
        except Exception:
            # A bug here must cost the short path, never the request.
            log.exception("could not prepare a write document; the executor keeps it")
            self.decline(query, "an error while preparing it")

    def decline(self, query: str, reason: str) -> None:
        self.declined[reason.split(" (")[0]] += 1
        if query not in self._logged and len(self._logged) < self.maxsize:
            self._logged.add(query)
            log.info("write document left to the executor: %s: %.200r", reason, query)

    async def answer(self, body: bytes, context: Context) -> Response | None:
        """The response to a JSON request body, or None to leave it to the executor."""
        if not any(name in body for name in self.field_names):
            return None  # not a write: no decoding
        try:
            envelope = ENVELOPE.decode(body)
        except (msgspec.MsgspecError, RecursionError):
            return None
        document = self.documents.get(envelope.query)
        if document is None or envelope.extensions:
            return None
        if not document.allows(envelope.operation_name, context):
            self.decline(envelope.query, "another operation or a caller without the scope")
            return None
        try:
            argument = document.decode(envelope.variables)
        except (msgspec.MsgspecError, RecursionError, Declined):
            self.decline(envelope.query, "variables the decoder does not take")
            return None
        self.answered[document.field_node.name.value] += 1
        return await document.answer(argument, context)


class LearnWrites(SchemaExtension):
    """Hands every document strawberry validated without error to the schema's WriteDocuments."""

    def on_validate(self) -> Iterator[None]:
        yield
        context = self.execution_context
        if context.pre_execution_errors or context.graphql_document is None or not context.query:
            return
        documents: WriteDocuments = context.schema.write_documents  # type: ignore[attr-defined]
        if any(name in context.query for name in WRITES):
            documents.learn(context.query, context.graphql_document)


def prepare(schema: Schema, document: DocumentNode) -> WriteDocument:
    """A validated document as a WriteDocument, or Declined naming why it is not one."""
    (operation,) = document.definitions if len(document.definitions) == 1 else (None,)
    if not isinstance(operation, OperationDefinitionNode):
        raise Declined("more than one definition")
    if operation.operation != OperationType.MUTATION or operation.directives:
        raise Declined("not a plain mutation")
    definitions = operation.variable_definitions or ()
    selections = operation.selection_set.selections
    if len(definitions) != 1 or len(selections) != 1:
        raise Declined("not one variable and one field")
    (definition,), (field_node,) = definitions, selections
    if definition.default_value is not None or definition.directives:
        raise Declined("a variable default or directive")
    if not isinstance(field_node, FieldNode) or field_node.directives:
        raise Declined("a fragment or a directive")
    write = WRITES.get(field_node.name.value)
    if write is None or len(field_node.arguments or ()) != 1:
        raise Declined("not a write field with one argument")
    (argument_node,) = field_node.arguments
    value = argument_node.value
    if not (isinstance(value, VariableNode) and value.name.value == definition.variable.name.value):
        raise Declined("an inline argument")
    # Validation has made the variable's type the argument's own: both are
    # non-null, and a variable without a default cannot be nullable there.
    field = schema.get_field_for_type(field_name=field_node.name.value, type_name="Mutation")
    assert field is not None
    permissions = tuple(field.permission_classes)
    if not all(plain_scope_check(permission) for permission in permissions):
        raise Declined("a permission that decides by more than scopes")
    return WriteDocument(
        operation_name=operation.name.value if operation.name else None,
        field_node=field_node,
        response_key=field_node.alias.value if field_node.alias else field_node.name.value,
        permissions=permissions,  # type: ignore[arg-type]
        decode=variables_decoder(schema, definition.variable.name.value, write.many),
        write=write.call,
        serialize=serializer(schema, field.type, field_node.selection_set),
    )


def plain_scope_check(permission: type) -> bool:
    """A RequireScope whose has_permission is RequireScope's own: it decides by scopes alone."""
    return (
        isinstance(permission, type)
        and issubclass(permission, RequireScope)
        and permission.has_permission is RequireScope.has_permission
    )


# The columns validation.COLUMN_TYPES does not check, as msgspec decodes them.
WIRE_TYPES: dict[str, Any] = {
    "boolean": bool,
    "timestamptz": str,  # parsed after decoding by the DateTime scalar's own function
    "jsonb": Any,
}


def variables_decoder(schema: Schema, variable: str, many: bool) -> Callable[[Any], Any]:
    """From the JSON of a request's variables to the write's NewEvent (or list of them)."""
    event = event_struct(schema)
    value_type = list[event] if many else event  # type: ignore[valid-type]
    variables = msgspec.defstruct(
        "Variables", [("value", value_type)], rename={"value": variable}, forbid_unknown_fields=True
    )
    decode = msgspec.json.Decoder(variables).decode

    def decode_variables(raw: msgspec.Raw) -> Any:
        value = decode(raw).value
        for item in value if many else (value,):
            if item.timestamp is not None:
                try:
                    item.timestamp = parse_datetime(item.timestamp)
                except (ValueError, OverflowError):  # Overflow: an offset past year 1 or 9999
                    raise Declined from None
        return value

    return decode_variables


def event_struct(schema: Schema) -> type[msgspec.Struct]:
    """NewEvent as msgspec decodes it from an AuditEventInput's JSON.

    A field with a default takes it when omitted; an explicit null there is
    not decoded (the executor turns it into the default). The names are the
    schema's own for each field of AuditEventInput.
    """
    definition = schema.get_type_by_name("AuditEventInput")
    assert definition is not None
    names = {
        field.python_name: schema.config.name_converter.get_graphql_name(field)
        for field in definition.fields  # type: ignore[union-attr]
    }
    fields: list[Any] = []
    for column in INPUT_COLUMNS:
        # The column's own checks where it has them, so the store need not repeat them.
        wire_type = COLUMN_TYPES.get(column.name) or WIRE_TYPES[column.kind]
        if column.required:
            fields.append((column.name, wire_type))
        elif column.default is None:
            fields.append((column.name, wire_type | None, None))
        else:
            fields.append((column.name, wire_type, column.default))
    return msgspec.defstruct(
        "AuditEventInputJSON",
        fields,
        bases=(DecodedEvent,),
        kw_only=True,
        rename=names,
        forbid_unknown_fields=True,
    )


def serializer(schema: Schema, type_: Any, selection_set: SelectionSetNode | None) -> Serialize:
    """What turns the write's result into its response value, for this selection."""
    if isinstance(type_, StrawberryOptional):
        inner = serializer(schema, type_.of_type, selection_set)
        return lambda value: None if value is None else inner(value)
    if isinstance(type_, StrawberryList):
        item = serializer(schema, type_.of_type, selection_set)
        return lambda values: [item(value) for value in values]
    if has_object_definition(type_):
        if selection_set is None:
            raise Declined("an object without a selection")
        return object_serializer(schema, type_, selection_set)
    serialize = SERIALIZERS.get(type_)
    return serialize if serialize is not None else plain_value


def plain_value(value: Any) -> Any:
    return value


def object_serializer(schema: Schema, type_: Any, selection_set: SelectionSetNode) -> Serialize:
    definition = type_.__strawberry_definition__
    fields = {schema.config.name_converter.get_graphql_name(f): f for f in definition.fields}
    parts: list[tuple[str, str | None, Serialize]] = []
    for selection in selection_set.selections:
        if not isinstance(selection, FieldNode) or selection.directives or selection.arguments:
            raise Declined("a fragment, directive or argument in the selection")
        key = selection.alias.value if selection.alias else selection.name.value
        if any(key == seen for seen, _, _ in parts):
            raise Declined("a response key selected twice")
        if selection.name.value == "__typename":
            parts.append((key, None, lambda _, name=definition.name: name))
            continue
        field = fields[selection.name.value]
        if field.base_resolver is not None:
            raise Declined("a field with a resolver")
        parts.append(
            (key, field.python_name, serializer(schema, field.type, selection.selection_set))
        )

    def serialize_object(source: Any) -> dict[str, Any]:
        return {
            key: serialize(source if name is None else getattr(source, name))
            for key, name, serialize in parts
        }

    return serialize_object
