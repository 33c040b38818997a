"""The world the authorization matrix runs in: the demo district with a second district
beside it, a token for every role at every unit the matrix names, and the targets the
operations act on (a warning, an instruction at each stage, a token, a subscription, a
delivery), built through the command center the way the API would build them.

A target is made once and shared by the requests that are refused, since a refusal
stores nothing; after a request that was allowed to change something, every target is
made afresh (:meth:`World.spent`), so that each request finds the state it needs.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST
from litestar.testing import TestClient

import audit
from api.accounts import AccountBook
from api.app import create_app
from api.rate_limits import RateLimits
from api.tokens import ROLES, TokenBook
from closedloop.bootstrap import build_command_center, build_read_models
from closedloop.intake_config import build_intake
from closedloop.settings import Settings
from domain.application import CommandCenter
from domain.cap_sender_commands import CapSenderCases
from domain.demo import load_demo
from domain.meta import Actor, Context, now
from domain.notice_commands import NoticeCases
from domain.readings import DeadLetter, Station
from domain.silence_commands import SilenceCases
from notifiers.outbox import DELIVERIES
from notifiers.secrets import Keyring
from notifiers.service import Notifiers
from projections.store import ViewStore
from tests.fakes import fast_config

#: Another district of the city, beside HW: "outside" for what belongs to HW itself.
OTHER_DISTRICT = ("HY", "海阳区人民政府", "Haiyang District Government", "district", "government")
#: The units whose people the matrix sends requests as.
UNITS = ("HC", "HW", "HY", "HW-DH", "HW-XL", "HW-DH-QS", "HW-WATER")
#: Where the matrix's subscriptions send: loopback, and nothing is delivered (no worker).
HOOK = "http://127.0.0.1:9/hook"

CAP = """<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{ident}</identifier><sender>met@haiwan</sender><sent>{sent}</sent>
  <status>Actual</status><msgType>{msg_type}</msgType><scope>Public</scope>{references}
  <info><language>zh-CN</language><category>Met</category><event>台风</event>
    <urgency>Immediate</urgency><severity>Severe</severity><certainty>Likely</certainty>
    <headline>台风橙色预警</headline>
    <area><areaDesc>{area}</areaDesc></area></info>
</alert>"""


@dataclass(frozen=True)
class Req:
    """One request of an operation, valid in every respect but who sends it.

    ``shows`` is for a list: whether the answer shows the target (a list answers 200 to
    everyone, scoped to what the caller may see)."""

    method: str
    path: str
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    shows: Callable[[Any], bool] | None = None


def context(role: str, unit: str) -> Context:
    return Context(Actor(person=f"{role}@{unit}", unit=unit, role=role))


@dataclass
class World:
    client: TestClient[Any]
    center: CommandCenter
    notifiers: Notifiers
    secrets: dict[tuple[str, str], str]
    _targets: dict[str, Any] = field(default_factory=dict)
    _serial: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    # -- who asks ------------------------------------------------------------------------

    def bearer(self, role: str, unit: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secrets[role, unit]}"}

    def send(self, req: Req, headers: dict[str, str]) -> httpx.Response:
        return self.client.request(
            req.method,
            req.path,
            json=req.json,
            content=req.content,
            headers={**req.headers, **headers},
        )

    # -- targets -------------------------------------------------------------------------

    def serial(self) -> int:
        return next(self._serial)

    def target(self, name: str, make: Callable[[], Any]) -> Any:
        if name not in self._targets:
            self._targets[name] = make()
        return self._targets[name]

    def spent(self) -> None:
        """Something was changed: every target is made again before its next use."""
        self._targets.clear()

    def warning(self, stage: str = "raised") -> UUID:
        """An open warning of Qingshan community (HW-DH-QS), raised by HW's monitor
        (``merged``: merged into another, ``main``)."""

        def make() -> UUID:
            c = self.center
            wid = c.raise_warning(
                context("monitor", "HW"),
                source="level-gauge",
                rule="reservoir.level",
                theme="reservoir",
                level=2,
                title="Qingshan reservoir above the flood limit",
                unit="HW-DH-QS",
                dedup_key=f"matrix-{self.serial()}",
            ).id
            if stage in ("acknowledged", "confirmed"):
                c.acknowledge_warning(context("duty_officer", "HW"), wid)
            if stage == "confirmed":
                c.assess_warning(context("duty_officer", "HW"), wid, confirmed=True)
            if stage == "merged":  # merged into a main case of its own (ADR 0082)
                main = self.warning("main")
                c.merge_warning(context("dispatcher", "HW"), wid, main, "one matter")
            return wid

        wid: UUID = self.target(f"warning {stage}", make)
        return wid

    def instruction(self, stage: str = "dispatched") -> UUID:
        """An instruction from the district (HW) to Donghu office (HW-DH), at ``stage``:
        dispatched, signed, returned, extension asked, deferral asked, deferred, submitted,
        parked, disputed or closed from the public (a 12345 warning's case, verified)."""

        def make() -> UUID:
            c = self.center

            # A context each: a command id is one command's.
            def district() -> Context:
                return context("dispatcher", "HW")

            def office() -> Context:
                return context("handler", "HW-DH")

            warning_ids = []
            if stage == "closed from the public":
                wid = c.raise_warning(
                    context("monitor", "HW"),
                    source="12345",
                    rule="hotline.drain",
                    theme="other",
                    level=4,
                    title="A caller reports a blocked drain",
                    unit="HW-DH",
                    dedup_key=f"matrix-{self.serial()}",
                ).id
                c.acknowledge_warning(context("duty_officer", "HW"), wid)
                c.assess_warning(context("duty_officer", "HW"), wid, confirmed=True)
                warning_ids = [wid]
            iid = c.issue_instruction(
                district(),
                lead_unit="HW-DH",
                title="Inspect the Qingshan dam",
                deadline=now() + timedelta(days=3),
                warning_ids=warning_ids,
            ).id
            if stage == "returned":
                c.return_to_issuer(office(), iid, "not ours")
            if stage in (
                "signed",
                "extension asked",
                "submitted",
                "deferral asked",
                "deferred",
                "closed from the public",
            ):
                c.sign_for(office(), iid)
            if stage in ("deferral asked", "deferred"):
                c.request_deferral(office(), iid, "the court has not ruled")
            if stage == "deferred":
                c.decide_deferral(district(), iid, granted=True)
            if stage == "extension asked":
                c.request_extension(
                    office(), iid, deadline=now() + timedelta(days=9), reason="the rain"
                )
            if stage in ("submitted", "closed from the public"):
                c.submit(office(), iid, "inspected; no damage")
            if stage == "closed from the public":
                c.verify(district(), iid, accepted=True)
            if stage == "parked":
                c.park(district(), iid, "after the flood season")
            if stage == "disputed":
                c.file_dispute(office(), iid, "the dam is the water bureau's")
            return iid

        iid: UUID = self.target(f"instruction {stage}", make)
        return iid

    def whistle(self) -> UUID:
        """An open whistle blown by Donghu office (HW-DH), summoning the water bureau
        (HW-WATER) and the urban management bureau (ADR 0078)."""

        def make() -> UUID:
            wid: UUID = self.center.blow_whistle(
                context("dispatcher", "HW-DH"),
                unit="HW-DH",
                matter="a blocked drain floods Hupan road",
                place="Hupan road 12",
                departments=["HW-WATER", "HW-URBAN"],
            ).id
            return wid

        wid: UUID = self.target("whistle", make)
        return wid

    def silence(self) -> UUID:
        """A live silence on Qingshan community's rain gauge (HW-DH-QS), set by Donghu
        office's duty officer (ADR 0085)."""

        def make() -> UUID:
            gauge = Station("qingshan-rain-gauge", "HW-DH-QS")
            cases = SilenceCases(self.center, {gauge.id: gauge}.get, lambda _: False)
            sid: UUID = cases.set_silence(
                context("duty_officer", "HW-DH"),
                kind="station",
                target=gauge.id,
                metric=None,
                starts_at=now(),
                ends_at=now() + timedelta(hours=2),
                category="maintenance",
                reason="the gauge is cleaned",
            ).id
            return sid

        sid: UUID = self.target("silence", make)
        return sid

    def disposition(self) -> UUID:
        """Donghu office's disposition of a signed instruction."""
        return self.center.instruction(self.instruction("signed")).dispositions["HW-DH"]

    def notice(self) -> UUID:
        """A notice from Donghu office (HW-DH) to Qingshan community (HW-DH-QS), its
        receipt not yet confirmed (ADR 0077)."""

        def make() -> UUID:
            return (
                NoticeCases(self.center)
                .send(
                    context("dispatcher", "HW-DH"),
                    title="Typhoon Haikui approaches",
                    body="Check the embankments.",
                    kind="warning",
                    confirm_by=now() + timedelta(days=1),
                    addressees=["HW-DH-QS"],
                )
                .id
            )

        nid: UUID = self.target("notice", make)
        return nid

    def token(self) -> str:
        """The token id of a handler of Qingshan community (HW-DH-QS)."""

        def make() -> str:
            issued = TokenBook(self.center).issue(
                user=f"qingshan-{self.serial()}", unit="HW-DH-QS", roles=["handler"]
            )
            return issued.token_id

        token_id: str = self.target("token", make)
        return token_id

    def account(self) -> str:
        """The username of a handler of Qingshan community (HW-DH-QS)."""

        def make() -> str:
            username = f"qingshan.{self.serial()}"
            AccountBook(self.center, hasher=PasswordHasher.from_parameters(CHEAPEST)).open(
                username=username,
                name="青山社区承办人",
                unit="HW-DH-QS",
                roles=["handler"],
                password="a long enough password",
            )
            return username

        username: str = self.target("account", make)
        return username

    def cap_sender(self) -> str:
        """A CAP sender bound to Donghu office (HW-DH), by HW's admin."""

        def make() -> str:
            sender = f"matrix{self.serial()}@donghu"
            r = self.client.post(
                "/v1/cap-senders",
                json={"sender": sender, "units": ["HW-DH"]},
                headers=self.bearer("admin", "HW"),
            )
            assert r.status_code in (200, 201), r.text
            return sender

        sender: str = self.target("cap sender", make)
        return sender

    def subscription(self, active: bool = True) -> str:
        """A webhook subscription of Donghu office (HW-DH), registered by HW's admin."""

        def make() -> str:
            r = self.client.post(
                "/v1/subscriptions",
                json={"url": HOOK, "unit": "HW-DH", "active": active},
                headers=self.bearer("admin", "HW"),
            )
            assert r.status_code == 201, r.text
            sid: str = r.json()["id"]
            return sid

        sid: str = self.target(f"subscription {active}", make)
        return sid

    def delivery(self) -> str:
        """A delivery to the subscription that was given up on (dead), so it may be
        sent again."""

        def make() -> str:
            sid = self.subscription()
            # A warning of its own, raised after the subscription: a subscription hears
            # what comes after it, so the shared warning, when an earlier case made it
            # before the subscription, would derive nothing.
            self.warning("heard by the subscription")
            # The outbox derives the delivery as it follows the log; the worker that
            # would give up on it does not run, so it is marked given up on here.
            deadline = (
                time.monotonic() + 60
            )  # a bound, not a pause: under a loaded machine the outbox can lag
            while True:
                with self.notifiers.store.transaction() as tx:
                    rows = tx.execute(
                        f"UPDATE {DELIVERIES} SET status = 'dead' "  # noqa: S608 (a constant)
                        "WHERE subscription_id = ? RETURNING id",
                        (sid,),
                    )
                if rows or time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            assert rows, "no delivery was derived for the subscription"
            delivery_id: str = rows[0][0]
            return delivery_id

        delivery_id: str = self.target("delivery", make)
        return delivery_id

    def cap(self, area: str, *, cancels: str | None = None) -> tuple[bytes, str]:
        """A fresh CAP message (its own identifier) for the area named, and its key;
        an alert, or the cancel of the message whose key ``cancels`` gives."""
        sent = (now() - timedelta(minutes=1)).astimezone().isoformat(timespec="seconds")
        ident = f"matrix-{self.serial()}"
        body = CAP.format(
            ident=ident,
            sent=sent,
            area=area,
            msg_type="Cancel" if cancels else "Alert",
            references=f"<references>{cancels}</references>" if cancels else "",
        )
        return body.encode(), f"met@haiwan,{ident},{sent}"


@contextmanager
def world(directory: Path) -> Iterator[World]:
    """The API on a fresh SQLite store with the demo district and a second district."""
    center = build_command_center(Settings(database_url=f"sqlite:///{directory}/store.sqlite3"))
    load_demo(center)
    # The matrix's CAP messages come from one sender that speaks for the district and
    # both offices the table names, so that what refuses the outside one is its subtree.
    CapSenderCases(center).bind(
        context("admin", "HC"), "met@haiwan", units=["HW", "HW-DH", "HW-XL"]
    )
    code, name, name_en, level, kind = OTHER_DISTRICT
    center.register_unit(
        context("admin", "HC"),
        code=code,
        name=name,
        name_en=name_en,
        level=level,
        kind=kind,
        parent="HC",
    )
    book = TokenBook(center)
    secrets = {
        (role, unit): book.issue(user=f"{role}@{unit}", unit=unit, roles=[role]).secret
        for role in ROLES
        for unit in UNITS
    }
    store = ViewStore.for_env(center.env)
    # The outbox follows the log (the subscriptions are listed from it); no worker
    # delivers, so nothing leaves the process.
    notifiers = Notifiers(
        center, store, keyring=Keyring.generate(), config=fast_config(), deliver=False
    )
    intake = build_intake(center)
    # A dead letter of HW-DH-QS's gauge (ADR 0079), for GET /v1/readings/rejected.
    intake.readings.reject(
        [DeadLetter("mqtt", "closedloop/HW-DH-QS/qingshan-rain-gauge", "HW-DH-QS", "?", "x", now())]
    )
    app = create_app(
        center,
        reads=build_read_models(center),
        intake=intake,
        on_startup=[lambda: notifiers.start()],
        on_shutdown=[lambda: notifiers.stop()],
        # The matrix sends thousands of refused requests from one address: what answers
        # must be the authorization, not the abuse limits (tests/api/test_abuse_limits.py).
        rate_limits=RateLimits(auth_failures="off", writes="off"),
    )
    app.state["webhooks"] = notifiers
    app.state["audit_settings"] = audit.AuditSettings(key_path=directory / "audit.key")

    def sees_everything_written(request: httpx.Request) -> None:
        # Like a client carrying the position of its last write (read-your-writes).
        if request.method == "GET" and "x-min-position" not in request.headers:
            request.headers["X-Min-Position"] = str(center.head_position())

    try:
        with TestClient(app) as client:
            client.event_hooks["request"] = [sees_everything_written]
            yield World(client, center, notifiers, secrets)
    finally:
        store.close()
        center.close()
