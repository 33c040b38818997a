"""The published OpenAPI document as a contract the server keeps (ADR 0046).

Litestar writes the document from the handlers' signatures and the msgspec Structs; this
module closes the gaps between what it writes and what the server does:

- a Struct that refuses unknown fields says ``additionalProperties: false``
  (:class:`ClosedStructs`; Litestar's own plugin leaves it out);
- a time in a query is RFC 3339 with its offset, as its ``format: date-time`` says
  (:func:`strict_times`; Litestar's non-strict conversion read ``until=0.5`` as 0.5 s
  after 1970);
- ``OPTIONS`` answers every method of its path (:func:`allow_every_method`; Litestar's
  automatic handler kept the methods of the first handler registered on the path);
- query parameters that go together (a time or a version; a period or its bounds) are
  one object parameter whose schema says how (:func:`grouped_query`);
- the refusals that depend on the record, the clock or the configuration, which no schema
  can state, are answered with problem types of their own, listed in every 422 response's
  description (:data:`BEYOND_SCHEMA`), so that a client and a contract test can tell
  them from a malformed request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Litestar

# Litestar's plugin for Structs is not exported; it is extended, not copied (litestar <3).
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    Parameter,
    Reference,
    Schema,
)
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import ParameterKwarg
from litestar.routes import HTTPRoute
from litestar.types import Message, Scope

from api.problems import invalid

if TYPE_CHECKING:
    from litestar import Request
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.handlers import HTTPRouteHandler
    from litestar.typing import FieldDefinition

#: The problem types (``urn:closedloop:problem:<code>``) of refusals that a request the
#: schema allows may get, because they depend on what is on the record, on the clock or on
#: the server's configuration, or compare two values: no schema can state them.
BEYOND_SCHEMA: dict[str, str] = {
    "position-not-written": "`min_position` names a position the log does not hold yet",
    "business-time-refused": "`occurred_at` lies before the record or the step it follows, "
    "or ahead of the clock",
    "time-past": "a deadline that has already passed",
    "target-refused": "a webhook URL whose host is not in the allowed networks",
    "outside-subtree": "a unit outside the caller's subtree",
    "outside-years": "a time that the calendar's zone or UTC shows outside years 1 to 9999",
    "cursor-unknown": "a `cursor` this API did not hand out",
    "template-invalid": "a subscription's own template that does not parse (Jinja2)",
    "period-reversed": "a period whose end (`to`) does not come after its start (`from`)",
    "duration-refused": "a `due_in` of zero or of more than ten years",
    "placement-refused": "a unit under a parent of a level or kind it may not sit under, "
    "or under a deactivated one",
    "password-refused": "a password that is the username (ADR 0052)",
    "unit-deactivated": "an account for a unit that was deactivated (ADR 0052)",
}


def described(summary: str) -> str:
    """The API's description: ``summary``, then the problem types of :data:`BEYOND_SCHEMA`."""
    listed = "\n".join(
        f"- `urn:closedloop:problem:{code}`: {what}" for code, what in BEYOND_SCHEMA.items()
    )
    return (
        f"{summary}\n\nA request the schema allows may still be refused (422) by a rule "
        f"that depends on the record, the clock or the configuration; its problem type "
        f"is one of:\n\n{listed}"
    )


class ClosedStructs(StructSchemaPlugin):
    """Litestar's schema of a msgspec Struct, with ``additionalProperties: false`` when the
    Struct refuses unknown fields (every input of ours does, 422 naming the field), the
    bounds of its lists' items, and the rules across fields a Struct states in its
    ``contract_rules`` (a ``ClassVar`` of Schema fields, e.g. ``one_of``) because its
    ``__post_init__`` or its handler checks them."""

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        info = msgspec.inspect.type_info(field_definition.type_)
        if not isinstance(info, msgspec.inspect.StructType):
            return schema
        if info.forbid_unknown_fields:
            schema.additional_properties = False
        for field in info.fields:
            _bound_items(field.type, (schema.properties or {}).get(field.encode_name))
        for name, value in getattr(field_definition.type_, "contract_rules", {}).items():
            setattr(schema, name, value)
        return schema


#: A list item's msgspec bounds and their names in Litestar's Schema.
_ITEM_BOUNDS = {
    "min_length": "min_length",
    "max_length": "max_length",
    "pattern": "pattern",
    "ge": "minimum",
    "le": "maximum",
}


def _bound_items(info: Any, schema: Any) -> None:
    """The bounds of a list's items (``list[Annotated[str, Meta(min_length=1)]]``), which
    Litestar leaves out of the items' schema, stated again on it, also when the list's
    schema is a branch of a ``oneOf`` (an optional list); and a field's
    ``extra_json_schema``."""
    if isinstance(info, msgspec.inspect.Metadata):
        # ``extra_json_schema`` (a pattern stated, not checked by msgspec, so that the
        # server's own check can say in words what is wrong): Litestar leaves it out.
        for name, value in (info.extra_json_schema or {}).items():
            if isinstance(schema, Schema):
                setattr(schema, name, value)
        info = info.type
    if isinstance(info, msgspec.inspect.UnionType):
        for branch in info.types:
            _bound_items(branch, schema)
        return
    if not isinstance(info, msgspec.inspect.ListType | msgspec.inspect.SetType):
        return
    arrays = [schema, *(schema.one_of or [])] if isinstance(schema, Schema) else []
    for array in arrays:
        items = array.items if isinstance(array, Schema) else None
        if not isinstance(items, Schema):
            continue
        item = info.item_type
        if isinstance(item, msgspec.inspect.Metadata):
            for name, value in (item.extra_json_schema or {}).items():
                setattr(items, name, value)
            item = item.type
        for bound, name in _ITEM_BOUNDS.items():
            value = getattr(item, bound, None)
            if value is not None and getattr(items, name) is None:
                setattr(items, name, value)


#: RFC 3339's date-time (JSON Schema's ``format: date-time``): seconds and offset required.
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_TIMES: dict[int, tuple[str, ...]] = {}


def _query_times(handler: HTTPRouteHandler) -> tuple[str, ...]:
    """The names of ``handler``'s query parameters that are times (once per handler)."""
    key = id(handler)
    if key not in _TIMES:
        names = []
        for name, field in handler.parsed_fn_signature.parameters.items():
            kwarg = field.kwarg_definition
            if isinstance(kwarg, ParameterKwarg) and (kwarg.header or kwarg.cookie):
                continue
            inner = field.inner_types[0] if field.is_optional and field.inner_types else field
            if inner.is_subclass_of(datetime):
                query = kwarg.query if isinstance(kwarg, ParameterKwarg) else None
                names.append(query or name)
        _TIMES[key] = tuple(names)
    return _TIMES[key]


async def strict_times(request: Request[Any, Any, Any]) -> None:
    """Litestar's ``before_request`` hook: a time in the query is refused (422 naming it)
    unless it is RFC 3339 with seconds and an offset, before Litestar converts it."""
    for name in _query_times(request.route_handler):
        for raw in request.query_params.getall(name, []):
            if not _RFC3339.fullmatch(raw):
                raise invalid(
                    name,
                    "a time is RFC 3339 with its offset, e.g. 2026-12-06T08:00:00+08:00",
                )


async def allow_every_method(message: Message, scope: Scope) -> None:
    """Litestar's ``before_send`` hook: the automatic answer to ``OPTIONS`` lists every
    method of the path. Litestar builds it with the first handler of a path and keeps it
    when it merges a later one into the route, so ``/v1/units`` said ``GET, OPTIONS``."""
    if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
        return
    headers = list(message.get("headers", []))
    if not any(name.lower() == b"allow" for name, _ in headers):
        return
    template = scope.get("path_template")
    methods = next(
        (
            sorted(route.methods)
            for route in scope["app"].routes
            if isinstance(route, HTTPRoute) and route.path_format == template
        ),
        None,
    )
    if methods is None:
        return
    allow = ", ".join(methods).encode()
    message["headers"] = [
        (name, allow if name.lower() == b"allow" else value) for name, value in headers
    ]


@dataclass
class Published(Operation):
    """Every operation of ours: a request body whose schema admits ``null`` (a handler's
    ``data: X | None = None``) may be left out, so it is not ``required``; Litestar marks
    every body required."""

    def __post_init__(self) -> None:
        body = self.request_body
        if body is None or isinstance(body, Reference):
            return
        for media in (body.content or {}).values():
            schema = media.schema
            if isinstance(schema, Schema) and any(
                isinstance(s, Schema) and s.type == OpenAPIType.NULL for s in schema.one_of or []
            ):
                body.required = False


def publish_exactly(app: Litestar) -> None:
    """Give every route handler of ``app`` that names no operation class of its own
    :class:`Published` (Litestar has no application-wide setting for it)."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if handler.operation_class is Operation:
                handler.operation_class = Published


def grouped_query(
    *names: str, title: str, description: str, required: bool = False, **rules: Any
) -> type[Operation]:
    """An ``operation_class`` that publishes the query parameters ``names`` as one object
    parameter, form style and exploded (each property is a parameter of its own on the
    wire), whose schema carries ``rules`` (``max_properties=1``, ``one_of=[...]``): the one
    way OpenAPI 3.1 can say "a time or a version, not both" of a query."""

    @dataclass
    class Grouped(Published):
        def __post_init__(self) -> None:
            super().__post_init__()
            given = [p for p in self.parameters or [] if isinstance(p, Parameter)]
            chosen = {p.name: p for p in given if p.name in names and p.param_in == "query"}
            if not chosen:
                return
            schema = Schema(
                type=OpenAPIType.OBJECT,
                properties={name: _not_null(chosen[name].schema) for name in names},
                additional_properties=False,
                description=description,
                **rules,
            )
            rest = [p for p in self.parameters or [] if p not in chosen.values()]
            self.parameters = [
                *rest,
                Parameter(
                    name=title,
                    param_in="query",
                    schema=schema,
                    style="form",
                    explode=True,
                    required=required,
                    description=description,
                ),
            ]

    return Grouped


def _not_null(schema: Any) -> Any:
    """A parameter's schema without its ``null`` branch (a query holds no null): Litestar
    writes ``oneOf: [{type: integer}, {type: null}]`` with the bounds beside the ``oneOf``."""
    if not (isinstance(schema, Schema) and schema.one_of):
        return schema
    kept = [s for s in schema.one_of if not (isinstance(s, Schema) and s.type == OpenAPIType.NULL)]
    if len(kept) != 1 or not isinstance(kept[0], Schema):
        return schema
    inner = kept[0]
    merged = {
        f.name: getattr(inner, f.name)
        if getattr(inner, f.name) is not None
        else getattr(schema, f.name)
        for f in fields(Schema)
    }
    merged["one_of"] = None
    return Schema(**merged)


def also_answered(operation: type[Operation], **media: Schema) -> type[Operation]:
    """``operation`` (an operation class), whose success response also lists the media
    types ``media`` (e.g. a report's ``text/csv`` and ``text/html``, chosen by a query or
    by ``Accept``): Litestar's document has the one media type of the handler's return."""

    @dataclass
    class Answered(operation):  # type: ignore[valid-type,misc]
        def __post_init__(self) -> None:
            super().__post_init__()
            for status, response in (self.responses or {}).items():
                if status.startswith("2") and isinstance(response, OpenAPIResponse):
                    response.content = {
                        **(response.content or {}),
                        **{kind: OpenAPIMediaType(schema=s) for kind, s in media.items()},
                    }

    return Answered
