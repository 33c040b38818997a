"""``/v1/cap-senders``: which units and tokens may speak for each CAP sender, for the
admin role (ADR 0041).

A CAP message from a sender no binding gives to the sending token is refused
(``POST /v1/cap`` answers 403). An admin binds senders to the units and tokens of its own
subtree and rebinds or unbinds only those bound there; the rules are the domain's
(``domain/cap_sender_commands.py``).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import msgspec
from litestar import Controller, Response, get, post
from litestar.openapi.spec import Schema
from litestar.params import JSONBody

from api.http import READ, WRITE, On
from api.problems import invalid
from api.schemas import Code, Input
from domain.application import Outcome
from domain.cap_sender_commands import CapSenderCases
from domain.cap_senders import MAX_BOUND, MAX_SENDER, check_sender
from domain.errors import InvalidValue
from domain.meta import Context

ADMIN = {"role": "admin"}

Sender = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SENDER)]
#: What domain.cap_senders.check_sender refuses (NUL, spaces, commas, '<', '&'), stated in
#: the schema; checked there, so that the problem says what is wrong in words.
_SENDER_RULE = Schema(properties={"sender": Schema(pattern=r"^[^\x00 ,<&\t\r\n]+$")})
TokenId = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]


class CapSenderBinding(Input, kw_only=True):
    """Bind ``sender`` to the units whose monitors, and the tokens (public ids), that may
    send CAP messages in its name; it replaces the sender's earlier binding. At least one
    unit or token (a binding to nobody is an unbinding, which has its own route)."""

    contract_rules: ClassVar[dict[str, Any]] = {
        "all_of": [
            _SENDER_RULE,
            Schema(
                any_of=[
                    Schema(required=["units"], properties={"units": Schema(min_items=1)}),
                    Schema(required=["tokens"], properties={"tokens": Schema(min_items=1)}),
                ]
            ),
        ]
    }

    sender: Sender
    units: Annotated[list[Code], msgspec.Meta(max_length=MAX_BOUND)] = msgspec.field(
        default_factory=list
    )
    tokens: Annotated[list[TokenId], msgspec.Meta(max_length=MAX_BOUND)] = msgspec.field(
        default_factory=list
    )


class CapSenderUnbinding(Input, kw_only=True):
    sender: Sender
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class CapSenderEntry(msgspec.Struct, kw_only=True):
    sender: str
    units: list[str]
    tokens: list[str]


def _sender(sender: str) -> str:
    try:
        return check_sender(sender)
    except InvalidValue as e:
        raise invalid("sender", str(e)) from None


class CapSenderController(Controller):
    path = "/v1/cap-senders"
    tags = ("intake",)

    @get("/", sync_to_thread=True, opt=ADMIN, responses=READ)
    def list_senders(self, call: On) -> list[CapSenderEntry]:
        """The senders bound to a unit or token of the admin's subtree."""
        center, unit = call.center, call.principal.unit
        token_units = {e["token_id"]: e["unit"] for e in call.services.tokens.list()}

        def ours(entry: dict[str, Any]) -> bool:
            places = [*entry["units"], *(token_units.get(t, "") for t in entry["tokens"])]
            return any(p and center.is_within(p, unit) for p in places)

        bindings = CapSenderCases(center).bindings()
        return [msgspec.convert(e, CapSenderEntry) for e in bindings if ours(e)]

    @post("/", sync_to_thread=True, opt=ADMIN, responses=WRITE)
    def bind_sender(self, call: On, data: JSONBody[CapSenderBinding]) -> Response[Any]:
        sender = _sender(data.sender)
        if not data.units and not data.tokens:
            raise invalid("units", "bind a CAP sender to at least one unit or token")

        def act(ctx: Context) -> Outcome:
            return CapSenderCases(call.center).bind(
                ctx, sender, units=data.units, tokens=data.tokens
            )

        return call.run(data, act, id_of=lambda o: sender, creates=True)

    @post("/unbind", sync_to_thread=True, opt=ADMIN, status_code=200, responses=WRITE)
    def unbind_sender(self, call: On, data: JSONBody[CapSenderUnbinding]) -> Response[Any]:
        sender = _sender(data.sender)

        def act(ctx: Context) -> Outcome:
            return CapSenderCases(call.center).unbind(ctx, sender, data.reason)

        return call.run(data, act, id_of=lambda o: sender)


CAP_SENDER_HANDLERS = [CapSenderController]
