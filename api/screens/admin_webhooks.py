"""``/admin/webhooks``: the subtree's webhook subscriptions and their deliveries (issue 20,
ADR 0058).

The list shows each subscription of the admin's subtree with its state (active, or
disabled and why); a subscription's page shows its recent deliveries, newest first, with
their status, attempts and last error, a redeliver button on each finished one, and the
switch that enables or disables it. Everything goes through the same reads, checks and
commands as ``/v1/subscriptions`` and ``/v1/deliveries``; a subscription or a delivery
outside the subtree is the not-found page. The signing secret is never shown here: it is
in the answer to a registration or a rotation over the API only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

import msgspec
from anyio import to_thread
from litestar import Request, Response
from litestar.params import FromPath
from litestar.response import Redirect

from api.http import Call, On
from api.problems import ProblemError
from api.schemas import Input
from api.screens.admin_common import admin_form, admin_page, draw, redraw, run_checked
from api.screens.errors import FormRefused
from api.screens.forms import body_of, fields_of, refusal
from api.screens.pages import Page
from api.subscriptions import (
    outbox_caught_up,
    owned,
    redeliver_for,
    view,
    webhooks_of,
)
from domain.application import Outcome
from domain.errors import NotFound
from domain.meta import Context
from notifiers.delivery import REDELIVERABLE, deliveries, delivery

#: How many of a subscription's deliveries its page shows (the API pages through more).
RECENT = 30


class Disabling(Input, kw_only=True):
    """Why a subscription is disabled, said on its page."""

    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


def _list_page(request: Request[Any, Any, Any], call: Call) -> Response[str]:
    webhooks = webhooks_of(request)
    outbox_caught_up(call, webhooks, None)
    center = call.center
    rows = webhooks.book.listed(lambda unit: center.is_within(unit, call.principal.unit))
    return draw(request, "admin_webhooks.html.j2", "webhooks", subscriptions=rows)


def _subscription_page(
    request: Request[Any, Any, Any],
    call: Call,
    sid: UUID,
    *,
    status: int = 200,
    page: Page | None = None,
) -> Response[str]:
    subscription = view(owned(call, sid))
    webhooks = webhooks_of(request)
    recent = deliveries(webhooks.store, subscription_ids=[str(sid)], limit=RECENT, attempts=True)
    return draw(
        request,
        "admin_webhook.html.j2",
        "webhooks",
        status=status,
        page=page,
        subscription=subscription,
        deliveries=recent,
        redeliverable=REDELIVERABLE,
    )


@admin_page("/admin/webhooks")
def webhooks_page(request: Request[Any, Any, Any], call: On) -> Response[str]:
    """The subtree's subscriptions and their state."""
    return _list_page(request, call)


@admin_page("/admin/webhooks/{sid:uuid}")
def subscription_page(
    request: Request[Any, Any, Any], call: On, sid: FromPath[UUID]
) -> Response[str]:
    """One subscription: its filters, its state and its recent deliveries."""
    return _subscription_page(request, call, sid)


def _switching(sid: UUID, enable: bool) -> Callable[[Call, Any], Callable[[Context], Outcome]]:
    """The API's enable or disable of ``sid``, once it is found within the subtree."""

    def checked(call: Call, data: Any) -> Callable[[Context], Outcome]:
        owned(call, sid)
        book = webhooks_of(call.request).book
        if enable:
            return lambda ctx: book.enable(ctx, sid)
        return lambda ctx: book.disable(ctx, sid, data.reason)

    return checked


@admin_form("/admin/webhooks/{sid:uuid}/{switch:str}")
async def switch_subscription(
    request: Request[Any, Any, Any], call: On, sid: FromPath[UUID], switch: FromPath[str]
) -> Response[Any]:
    """Enable a subscription, or disable it saying why."""
    if switch not in ("enable", "disable"):
        raise NotFound("page not found")
    fields = await fields_of(request)
    then = f"/admin/webhooks/{sid}"
    try:
        body: type[Input] = Input if switch == "enable" else Disabling
        data = body_of(fields, body)
        return await run_checked(
            call, data, _switching(sid, switch == "enable"), {"invalid-transition": switch}, then
        )
    except FormRefused as e:
        errors = {switch if k == "form" else k: v for k, v in e.errors.items()}
        return await redraw(
            _subscription_page, request, call, sid, status=e.status, errors=errors, fields=fields
        )


@admin_form("/admin/deliveries/{delivery_id:str}/redeliver")
async def redeliver(
    request: Request[Any, Any, Any], call: On, delivery_id: FromPath[str]
) -> Response[Any]:
    """Send a delivery again (the same ``webhook-id``), due now."""
    await fields_of(request)  # read once: the guard checked its CSRF token
    webhooks = webhooks_of(request)
    found = await to_thread.run_sync(delivery, webhooks.store, delivery_id)
    if found is None:
        raise NotFound("delivery not found")
    sid = UUID(found["subscription_id"])
    try:
        await to_thread.run_sync(redeliver_for, call, delivery_id)
    except ProblemError as e:
        # Found within the subtree, but pending or cancelled: said beside its row.
        said = next(iter(refusal(request, e).errors.values()))
        errors = {f"delivery-{delivery_id}": said}
        return await redraw(_subscription_page, request, call, sid, status=e.status, errors=errors)
    return Redirect(f"/admin/webhooks/{sid}", status_code=303)


WEBHOOK_PAGE_HANDLERS = [webhooks_page, subscription_page, switch_subscription, redeliver]
