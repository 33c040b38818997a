"""A page's form as the API's command body, and a refusal as words beside its field.

A form posts the fields of the same body the API takes (``api/schemas.py``), as text;
:func:`body_of` reads them into that body (empty fields left out, lists from repeated
fields), so a page checks exactly what the API checks. Each form carries a ``command_id``
made when the page was drawn: the same form sent twice (a double click, a reload) is one
command, as for an API client that retries (ADR 0025).

:func:`act` runs one command from a page and answers ``303 See Other`` to the page that
shows its result (post, redirect, get: a reload never sends it again); the page then
reads with the session's own-write consistency (ADR 0045), so it shows the new state.
A refusal is a :class:`FormRefused`, which the handler turns into its page drawn again
with the message at the field it concerns and the values as sent (a :class:`Redraw`).
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin
from uuid import UUID

import msgspec
from litestar import Request, Response
from litestar.concurrency import sync_to_thread
from litestar.response import Redirect

from api.http import Call
from api.problems import ProblemError
from api.schemas import Input
from api.screens.errors import FormRefused, refusal_text
from api.screens.pages import Page, page_of, render
from domain.application import Outcome
from domain.errors import ConcurrencyConflict, DomainError, NotFound, NotPermitted
from domain.meta import Context
from texts.catalogue import catalogue

Body = TypeVar("Body", bound=msgspec.Struct)
_AT = re.compile(r"at `\$\.([A-Za-z_][\w]*)")
#: A required field left empty (left out of the body, as every empty field is).
_MISSING = re.compile(r"missing required field `([A-Za-z_][\w]*)`")
#: The fields a page's form carries that no body has.
FORM_ONLY = frozenset({"csrf", "next"})


def _is_list(annotation: Any) -> bool:
    if get_origin(annotation) is Annotated:  # a list with bounds: list[X] and its Meta
        return _is_list(get_args(annotation)[0])
    if get_origin(annotation) in (list, tuple):
        return True
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_is_list(a) for a in get_args(annotation))
    return False


async def fields_of(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The form's fields (read once: the page guard has read it for the CSRF check)."""
    form = await request.form()
    return {key: form.getall(key) for key in form}


def body_of(fields: dict[str, Any], body: type[Body]) -> Body:
    """The form's fields as ``body``; a field that is not valid is a :class:`FormRefused`
    naming it."""
    wanted: dict[str, Any] = {}
    hints = {f.name: f.type for f in msgspec.structs.fields(body)}
    for name, annotation in hints.items():
        values = [v for v in fields.get(name, []) if isinstance(v, str) and v.strip() != ""]
        if _is_list(annotation):
            if values:
                wanted[name] = [v.strip() for v in values]
        elif values:
            wanted[name] = values[0].strip() if name != "password" else values[0]
    try:
        return msgspec.convert(wanted, body, strict=False)
    except msgspec.ValidationError as e:
        named = _AT.search(str(e)) or _MISSING.search(str(e))
        field = named.group(1) if named else "form"
        message = str(e).split(" - at `", 1)[0]
        raise FormRefused({field: message}) from None


def refusal(request: Request[Any, Any, Any], error: DomainError | ProblemError) -> FormRefused:
    """An error of the command path as the form's messages: at the field it names, in
    the page's language where the catalogue has words for it."""
    if isinstance(error, ProblemError):
        named = {e.field: e.message for e in error.errors}
        if named and catalogue().has(f"problem.{error.code}"):
            # Words for the refusal's code, at each field it names.
            named = dict.fromkeys(named, refusal_text(request, error))
        if named:
            return FormRefused(named, error.status)
        return FormRefused({"form": refusal_text(request, error)}, error.status)
    field = getattr(error, "field", None) or "form"
    status = 409 if isinstance(error, ConcurrencyConflict) else 422
    if isinstance(error, NotPermitted):
        status = 403  # as the API answers it
    return FormRefused({field: refusal_text(request, error)}, status)


def act(
    call: Call,
    data: Input | None,
    command: Callable[[Context], Outcome],
    *,
    then: str,
) -> Response[Any]:
    """Run one command from a page, then go to ``then``; a refusal is a
    :class:`FormRefused` (a not-found stays the not-found page)."""
    try:
        call.run(data, command)
    except NotFound:
        raise
    except (DomainError, ProblemError) as e:
        raise refusal(call.request, e) from None
    return Redirect(then, status_code=303)


def act_and_show(
    call: Call, data: Input | None, command: Callable[[Context], Outcome], *, listed: str
) -> Response[Any]:
    """Run a command that makes something, then show what it made at ``listed/{id}``; a
    form sent again is answered from its first time, which names nothing made: the list."""
    made: list[UUID] = []

    def making(ctx: Context) -> Outcome:
        done = command(ctx)
        made.append(done.id)
        return done

    act(call, data, making, then=listed)
    return Redirect(f"{listed}/{made[0]}" if made else listed, status_code=303)


@dataclass(frozen=True)
class Redraw:
    """How a page with forms is drawn: the first time (200, no messages, no values), or
    again after one of its forms was refused: the refusal's status, its messages at that
    form's fields and, where the form keeps them, the values as sent, each under the
    form's name (``send.title``), as the templates look them up."""

    status: int = 200
    errors: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def refused(
        cls,
        refusal: FormRefused,
        form: str,
        fields: dict[str, Any] | None = None,
        *,
        lists: tuple[str, ...] = (),
    ) -> Redraw:
        """``form`` refused: its messages, and its ``fields`` as sent (the CSRF token left
        out), one text a field but the whole list of each of ``lists``."""
        errors = {f"{form}.{k}": m for k, m in refusal.errors.items()}
        values: dict[str, Any] = {}
        if fields is not None:
            values = {f"{form}.{k}": v[0] for k, v in fields.items() if v and k != "csrf"}
            values |= {f"{form}.{name}": list(fields.get(name, [])) for name in lists}
        return cls(refusal.status, errors, values)

    def page(self, request: Request[Any, Any, Any]) -> Page:
        """The page to draw, with copies of the messages and values (a page may add some)."""
        return page_of(request, errors=dict(self.errors), values=dict(self.values))

    def render(
        self, request: Request[Any, Any, Any], template: str, **context: Any
    ) -> Response[str]:
        """The page ``template`` drawn so, with ``context``."""
        return render(request, template, status=self.status, page=self.page(request), **context)


FIRST = Redraw()


async def posted(
    request: Request[Any, Any, Any], handle: Callable[..., Response[Any]], *args: Any
) -> Response[Any]:
    """A form's post: its fields read here, then ``handle(request, *args, fields)`` run in
    a worker thread (it reads and writes the store, which blocks)."""
    fields = await fields_of(request)
    return await sync_to_thread(handle, request, *args, fields)
