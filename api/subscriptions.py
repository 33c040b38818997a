"""Webhook subscriptions and their deliveries: ``/v1/subscriptions`` and ``/v1/deliveries``.

Only the admin role acts here, and an admin manages the subscriptions of its own unit's
subtree: anything else answers 404, as if it did not exist. The signing secret is in the
answer to a registration and to a rotation, and nowhere else, ever. Register the
handlers with ``*SUBSCRIPTION_HANDLERS``; the notifiers' services are taken from the
application's state (``webhooks``) or built beside the read models on first use.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from api.access import Services
from api.commands import note_write
from api.http import READ, WRITE, Call, MinPosition, On, caught_up
from api.idempotency import command_id_for
from api.problems import ProblemError, invalid
from api.schemas import Code
from domain.application import Outcome
from domain.errors import NotFound, NotPermitted
from domain.meta import Context
from domain.subscription import (
    DEFAULT_CONCURRENCY,
    MAX_CONCURRENCY,
    MAX_FILTER_ITEMS,
    MAX_TEMPLATE,
    MAX_URL,
    Subscription,
)
from notifiers.delivery import (
    STATUSES,
    deliveries,
    delivery,
    redeliver,
)
from notifiers.outbox import TYPE_NAMES, OutboxView
from notifiers.service import Notifiers
from notifiers.transport import TargetRefused, check_target
from projections.runner import wait_in_store
from projections.store import tracking_name

ADMIN = {"role": "admin"}


#: What the domain checks a subscription's fields against (domain.subscription), stated
#: in the published schema too.
Url = Annotated[str, msgspec.Meta(max_length=MAX_URL, pattern=r"^\s*[Hh][Tt][Tt][Pp][Ss]?://")]
Names = Annotated[
    list[Annotated[str, msgspec.Meta(min_length=1, max_length=128)]],
    msgspec.Meta(max_length=MAX_FILTER_ITEMS),
]
Codes = Annotated[list[Code], msgspec.Meta(max_length=MAX_FILTER_ITEMS)]
MinLevel = Annotated[int, msgspec.Meta(ge=1, le=4)]
Language = Literal["zh", "en"]
Template = Annotated[str, msgspec.Meta(max_length=MAX_TEMPLATE)]
Description = Annotated[str, msgspec.Meta(max_length=200)]
#: How many of the endpoint's notifications may be on their way at once, each of a
#: different loop; a loop's own go one after another, in log order (ADR 0081).
Concurrency = Annotated[
    int,
    msgspec.Meta(
        ge=1,
        le=MAX_CONCURRENCY,
        description="notifications of different loops on their way to the endpoint at once",
    ),
]
#: ``whsec_`` (optional) and the base64 of 24 to 64 bytes (notifiers.secrets).
Secret = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^(whsec_)?(?:(?:[A-Za-z0-9+/]{4}){8,20}"
        r"(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}==)?"
        r"|(?:[A-Za-z0-9+/]{4}){21}(?:[A-Za-z0-9+/]{2}==)?)$"
    ),
]


class SubscriptionCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    url: Url
    event_types: Names = msgspec.field(default_factory=list)
    themes: Names = msgspec.field(default_factory=list)
    min_level: MinLevel | None = None
    units: Codes = msgspec.field(default_factory=list)
    subtrees: Codes = msgspec.field(default_factory=list)
    addressed_only: bool = False
    language: Language = "zh"
    template: Template | None = None
    description: Description | None = None
    active: bool = True
    concurrency: Concurrency = DEFAULT_CONCURRENCY
    #: A ``whsec_`` secret of the client's own; one is generated when not given.
    secret: Secret | None = None
    #: The unit that subscribes; defaults to the admin's own.
    unit: Code | None = None


class SubscriptionUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    url: Url | msgspec.UnsetType = msgspec.UNSET
    event_types: Names | msgspec.UnsetType = msgspec.UNSET
    themes: Names | msgspec.UnsetType = msgspec.UNSET
    min_level: MinLevel | msgspec.UnsetType | None = msgspec.UNSET
    units: Codes | msgspec.UnsetType = msgspec.UNSET
    subtrees: Codes | msgspec.UnsetType = msgspec.UNSET
    addressed_only: bool | msgspec.UnsetType = msgspec.UNSET
    language: Language | msgspec.UnsetType = msgspec.UNSET
    template: Template | msgspec.UnsetType | None = msgspec.UNSET
    description: Description | msgspec.UnsetType | None = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET
    concurrency: Concurrency | msgspec.UnsetType = msgspec.UNSET


class Reason(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason: str = "disabled by its admin"


class Rotation(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    secret: Secret | None = None


def webhooks_of(request: Request[Any, Any, Any]) -> Notifiers:
    """The notifiers' book and settings (no follower, no worker: those run elsewhere)."""
    state = request.app.state
    found: Notifiers | None = state.get("webhooks")
    if found is None:
        services: Services = state.services
        found = Notifiers(services.center, services.reads.store, follow=False, deliver=False)
        with services.reads.store.transaction() as tx:
            for statement in OutboxView.create_statements:
                tx.execute(statement)
        state["webhooks"] = found
    return found


def _context(call: Call) -> Context:
    key = call.request.headers.get("idempotency-key")
    args: dict[str, Any] = {"actor": call.actor}
    if key:
        args["command_id"] = command_id_for(call.principal.token_id, key)
    return Context(**args)


def outbox_caught_up(call: Call, webhooks: Notifiers, position: int | None) -> None:
    services = call.services
    caught_up(
        services,
        call.request,
        position,
        OutboxView.name,
        principal=call.principal,
        wait=lambda wanted: wait_in_store(
            webhooks.store, [OutboxView.name], wanted, services.read_wait
        ),
        reached=lambda: webhooks.store.positions().get(tracking_name(OutboxView.name), 0),
    )


def owned(call: Call, sid: UUID) -> Subscription:
    """The subscription, if it belongs to the admin's subtree; 404 otherwise."""
    subscription = webhooks_of(call.request).book.get(sid)
    if not call.center.is_within(subscription.unit, call.principal.unit):
        raise NotFound("subscription not found")
    return subscription


def _check_scope(call: Call, unit: str, fields: dict[str, Any]) -> None:
    center = call.center
    for name in ("units", "subtrees"):
        for code in fields.get(name) or []:
            center.unit(code)
            if not center.is_within(code, unit):
                raise invalid(
                    name, f"unit {code} lies outside the subtree of {unit}", code="outside-subtree"
                )


def _check_url(webhooks: Notifiers, url: str) -> None:
    try:
        check_target(url, webhooks.config.allowed_networks)
    except TargetRefused as e:
        raise invalid("url", str(e), code="target-refused") from None


def view(s: Subscription) -> dict[str, Any]:
    """A subscription as the API shows it: everything but its secret."""
    return {
        "id": str(s.id),
        "unit": s.unit,
        "url": s.url,
        "event_types": s.event_types,
        "themes": s.themes,
        "min_level": s.min_level,
        "units": s.units,
        "subtrees": s.subtrees,
        "addressed_only": s.addressed_only,
        "language": s.language,
        "template": s.template,
        "description": s.description,
        "active": s.active,
        "concurrency": s.concurrency,
        "disabled_reason": s.disabled_reason,
        "secret_fingerprint": s.secret_fingerprint,
        "previous_secret_until": s.previous_until.isoformat() if s.previous_until else None,
        "version": s.version,
    }


def _answer(call: Call, done: Outcome, status: int = 200, **extra: Any) -> Response[Any]:
    note_write(call.services, call.principal, done.position)
    body = {**view(webhooks_of(call.request).book.get(done.id)), "position": done.position, **extra}
    return Response(
        content=msgspec.json.encode(body),
        status_code=status,
        headers={"ETag": f'"{done.version}"', "Cache-Control": "no-store"},
        media_type="application/json",
    )


class SubscriptionController(Controller):
    path = "/v1/subscriptions"
    tags = ("webhooks",)

    @get("/event-types", sync_to_thread=False, responses=READ)
    def event_types(self) -> list[str]:
        """Every notification type a subscription may ask for."""
        return list(TYPE_NAMES)

    @post("/", sync_to_thread=True, opt=ADMIN, responses=WRITE)
    def create(self, call: On, data: JSONBody[SubscriptionCreate]) -> Response[Any]:
        """Register an endpoint; the answer holds its secret, shown this once."""
        webhooks = webhooks_of(call.request)
        center = call.center
        unit = data.unit or call.principal.unit
        center.unit(unit)
        if not center.is_within(unit, call.principal.unit):
            # Who may act for which unit is authority, answered as for tokens and units.
            raise NotPermitted(
                f"an admin of {call.principal.unit} subscribes only for units under it, "
                f"not for {unit}"
            )
        fields = msgspec.structs.asdict(data)
        fields.pop("unit")
        _check_scope(call, unit, fields)
        _check_url(webhooks, data.url)
        if data.template:
            webhooks.outbox.texts.check(data.template)
        done = webhooks.book.register(_context(call), unit=unit, **fields)
        return _answer(call, done, 201 if done.secret else 200, secret=done.secret)

    @get("/", sync_to_thread=True, opt=ADMIN, responses=READ)
    def list_(
        self,
        call: On,
        min_position: MinPosition = None,
    ) -> list[dict[str, Any]]:
        """The subscriptions of the admin's subtree (no secrets)."""
        webhooks = webhooks_of(call.request)
        outbox_caught_up(call, webhooks, min_position)
        center = call.center
        return webhooks.book.listed(lambda unit: center.is_within(unit, call.principal.unit))

    @get("/{sid:uuid}", sync_to_thread=True, opt=ADMIN, responses=READ)
    def get_(self, call: On, sid: FromPath[UUID]) -> Any:
        return view(owned(call, sid))

    @patch("/{sid:uuid}", sync_to_thread=True, opt=ADMIN, responses=WRITE)
    def update(
        self,
        call: On,
        sid: FromPath[UUID],
        data: JSONBody[SubscriptionUpdate],
    ) -> Response[Any]:
        webhooks = webhooks_of(call.request)
        subscription = owned(call, sid)
        changes = {
            k: v
            for k, v in msgspec.structs.asdict(data).items()
            if v is not msgspec.UNSET and k != "active"
        }
        _check_scope(call, subscription.unit, changes)
        if "url" in changes:
            _check_url(webhooks, changes["url"])
        if changes.get("template"):
            webhooks.outbox.texts.check(changes["template"])
        ctx = _context(call)
        done = webhooks.book.update(ctx, sid, changes) if changes else None
        if data.active is not msgspec.UNSET and data.active != subscription.active:
            if data.active:
                done = webhooks.book.enable(ctx.derived("enable"), sid)
            else:
                done = webhooks.book.disable(ctx.derived("disable"), sid, "disabled by its admin")
        done = done or Outcome(subscription.id, subscription.version, None)
        return _answer(call, done)

    @post("/{sid:uuid}/rotate", sync_to_thread=True, opt=ADMIN, responses=WRITE)
    def rotate(
        self,
        call: On,
        sid: FromPath[UUID],
        data: JSONBody[Rotation | None] = None,
    ) -> Response[Any]:
        """A new secret, shown this once; the previous one still signs for a grace period."""
        owned(call, sid)
        done = webhooks_of(call.request).book.rotate(
            _context(call), sid, data.secret if data else None
        )
        return _answer(call, done, secret=done.secret)

    @post("/{sid:uuid}/disable", sync_to_thread=True, opt=ADMIN, responses=WRITE)
    def disable(
        self,
        call: On,
        sid: FromPath[UUID],
        data: JSONBody[Reason],
    ) -> Response[Any]:
        owned(call, sid)
        ctx = _context(call)
        return _answer(call, webhooks_of(call.request).book.disable(ctx, sid, data.reason))

    @post("/{sid:uuid}/enable", sync_to_thread=True, opt=ADMIN, responses=WRITE)
    def enable(self, call: On, sid: FromPath[UUID]) -> Response[Any]:
        owned(call, sid)
        ctx = _context(call)
        return _answer(call, webhooks_of(call.request).book.enable(ctx, sid))

    @delete("/{sid:uuid}", sync_to_thread=True, opt=ADMIN, status_code=204, responses=WRITE)
    def delete_(self, call: On, sid: FromPath[UUID]) -> None:
        owned(call, sid)
        ctx = _context(call)
        webhooks_of(call.request).book.delete(ctx, sid, "deleted by its admin")


def visible_ids(call: Call) -> list[str]:
    """The ids of the subscriptions of the admin's subtree."""
    center = call.center
    rows = webhooks_of(call.request).book.listed(lambda u: center.is_within(u, call.principal.unit))
    return [r["id"] for r in rows]


def redeliver_for(call: Call, delivery_id: str) -> dict[str, Any]:
    """Send a delivery of the admin's subtree again (the API's route and the page's)."""
    webhooks = webhooks_of(call.request)
    found = delivery(webhooks.store, delivery_id)
    if found is None or found["subscription_id"] not in set(visible_ids(call)):
        raise NotFound("delivery not found")
    if not redeliver(webhooks.store, delivery_id):
        raise ProblemError(409, "the delivery is still pending or was cancelled")
    webhooks.poke()
    return {"id": delivery_id, "status": "pending"}


class DeliveryController(Controller):
    path = "/v1/deliveries"
    tags = ("webhooks",)

    @get("/", sync_to_thread=True, opt=ADMIN, responses=READ)
    def list_(
        self,
        call: On,
        subscription: FromQuery[UUID | None] = None,
        status: Annotated[str | None, QueryParameter(schema_extra={"enum": list(STATUSES)})] = None,
        since: FromQuery[datetime | None] = None,
        until: FromQuery[datetime | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
        min_position: MinPosition = None,
    ) -> list[dict[str, Any]]:
        """What was sent and what failed, newest first, with every attempt."""
        if status is not None and status not in STATUSES:
            raise invalid("status", f"a delivery's status is one of: {', '.join(STATUSES)}")
        webhooks = webhooks_of(call.request)
        outbox_caught_up(call, webhooks, min_position)
        visible = visible_ids(call)
        ids = [str(subscription)] if subscription is not None else visible
        ids = [i for i in ids if i in visible]
        return deliveries(
            webhooks.store,
            subscription_ids=ids,
            status=status,
            since=since,
            until=until,
            limit=limit,
            attempts=True,
        )

    @post(
        "/{delivery_id:str}/redeliver",
        sync_to_thread=True,
        opt=ADMIN,
        status_code=202,
        responses=WRITE,
    )
    def redeliver_(self, call: On, delivery_id: FromPath[str]) -> dict[str, Any]:
        """Send a notification again (same ``webhook-id``), due now, with a fresh schedule."""
        return redeliver_for(call, delivery_id)


SUBSCRIPTION_HANDLERS = [SubscriptionController, DeliveryController]
