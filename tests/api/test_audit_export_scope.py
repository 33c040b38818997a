"""What ``GET /v1/audit/export`` shows to whom (issue 19, item 5; ADR 0042).

Two districts, each with its tokens, its webhook (a URL with credentials in it, a secret
rotated once) and a case. The auditor exports the whole log; an admin only what concerns
its own subtree, be it a city's, a district's or an office's; no other role exports. No
token hash, no secret's ciphertext and no URL credential is in any export.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import msgspec
import pytest
from litestar.testing import TestClient

import audit
from api.app import create_app
from api.audit import AuditService
from api.subscriptions import SubscriptionCreate
from api.tokens import ROLES, TokenBook, secret_hash
from domain.application import CommandCenter
from domain.demo import DEMO_ADMIN, load_demo
from domain.meta import Context
from domain.subscription import Subscription
from notifiers.book import SubscriptionBook
from notifiers.secrets import Keyring
from projections.service import ReadModels
from tests.unit.builders import ctx, issue, raise_warning

#: The second district and its office, beside the demo's Haiwan (HW).
OTHER_DISTRICT = [
    ("HB", "海北区人民政府", "Haibei District Government", "district", "government", "HC"),
    ("HB-DT", "东滩街道办事处", "Dongtan Sub-district Office", "office", "government", "HB"),
]

PEOPLE: dict[str, tuple[str, list[str]]] = {
    "auditor": ("HC", ["auditor"]),
    "city admin": ("HC", ["admin"]),
    "haiwan admin": ("HW", ["admin"]),
    "haibei admin": ("HB", ["admin"]),
    "donghu admin": ("HW-DH", ["admin"]),
    "admin and auditor": ("HW", ["admin", "auditor"]),
    **{f"haiwan {role}": ("HW", [role]) for role in ROLES if role not in ("admin", "auditor")},
}

HW_URL = "https://ops:hunter2@hooks.haiwan.example:8443/services/T0/B0/XXXXSECRET?key=abc"
HB_URL = "https://hooks.haibei.example/in?token=zzzSECRET"
HB_URL_LATER = "https://relay:pa55@hooks.haibei.example/v2/in"


class World:
    """The record both districts left, and what must never be exported."""

    def __init__(self, client: TestClient[Any], center: CommandCenter) -> None:
        self.client = client
        self.center = center
        self.headers: dict[str, dict[str, str]] = {}
        self.secrets: list[str] = []
        self.ids: dict[str, UUID] = {}

    def export(self, who: str, **params: Any) -> list[dict[str, Any]]:
        r = self.client.get("/v1/audit/export", params=params, headers=self.headers[who])
        assert r.status_code == 200, r.text
        return [json.loads(line) for line in r.text.splitlines()]

    def text(self, who: str) -> str:
        r = self.client.get("/v1/audit/export", headers=self.headers[who])
        assert r.status_code == 200, r.text
        return r.text


def hook(url: str) -> dict[str, Any]:
    """A registration's fields as the API gives them, for ``url``."""
    fields = msgspec.structs.asdict(SubscriptionCreate(url=url))
    del fields["unit"], fields["secret"]
    return fields


@pytest.fixture
def world(center: CommandCenter, audit_settings: audit.AuditSettings) -> Iterator[World]:
    load_demo(center)
    for code, name, name_en, level, kind, parent in OTHER_DISTRICT:
        center.register_unit(
            Context(DEMO_ADMIN, command_id=f"test:{code}"),
            code=code,
            name=name,
            name_en=name_en,
            level=level,
            kind=kind,
            parent=parent,
        )
    book = TokenBook(center)
    issued = {name: book.issue(user=name, unit=u, roles=r) for name, (u, r) in PEOPLE.items()}
    hooks = SubscriptionBook(center, Keyring.generate())
    hw_hook = hooks.register(ctx("HW"), unit="HW", **hook(HW_URL)).id
    hooks.rotate(ctx("HW"), hw_hook)
    hb_hook = hooks.register(ctx("HB"), unit="HB", **hook(HB_URL)).id
    hooks.update(ctx("HB"), hb_hook, {"url": HB_URL_LATER})
    ids = {
        "hw_instruction": issue(center, "HW", "HW-DH"),
        "xl_instruction": issue(center, "HW", "HW-XL"),
        "hw_warning": raise_warning(center, unit="HW-WATER"),
        "hb_instruction": issue(center, "HB", "HB-DT"),
        "hb_warning": raise_warning(center, unit="HB-DT", by="HB"),
        "hw_hook": hw_hook,
        "hb_hook": hb_hook,
    }
    reads = ReadModels.beside(center)
    chain = audit.AuditChain.beside(center, reads.store, audit_settings)
    while chain.step():
        pass
    app = create_app(center, reads=reads)
    app.state.audit = AuditService.from_settings(audit_settings)
    with TestClient(app) as client:
        w = World(client, center)
        w.headers = {name: {"Authorization": f"Bearer {t.secret}"} for name, t in issued.items()}
        w.ids = ids
        w.secrets = [t.secret for t in issued.values()] + [
            secret_hash(t.secret) for t in issued.values()
        ]
        for sid in (hw_hook, hb_hook):
            s: Any = center.repository.get(sid)
            w.secrets += [s.secret_ciphertext, s.previous_ciphertext]
        w.secrets = [x for x in w.secrets if x]
        yield w


def aggregates(lines: list[dict[str, Any]]) -> set[str]:
    return {line["aggregate"] for line in lines}


# -- no secret leaves, whoever asks ------------------------------------------------------


@pytest.mark.parametrize("who", ["auditor", "city admin", "haiwan admin", "haibei admin"])
def test_no_export_holds_a_token_hash_a_secret_or_a_url_credential(world: World, who: str) -> None:
    text = world.text(who)
    assert text
    for secret in world.secrets:
        assert secret not in text
    for credential in ("hunter2", "XXXXSECRET", "key=abc", "zzzSECRET", "pa55", "services/T0"):
        assert credential not in text


def test_an_event_with_a_secret_shows_what_was_replaced_and_keeps_its_bytes_home(
    world: World,
) -> None:
    lines = world.export("auditor")
    by_type: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        by_type.setdefault(line["type"].rsplit(":", 1)[-1], []).append(line)
    issued = by_type["AccessToken.Issued"]
    assert len(issued) == len(PEOPLE)
    for line in issued:
        assert line["redacted"] == ["token_hash"]
        assert line["payload"]["token_hash"] == "[redacted]"
        assert line["payload"]["user"] in PEOPLE  # who holds a token stays on the record
        assert line["chain"]["state"] is None
        assert line["chain"]["hash"]  # still linked into the chain
    registered = {line["payload"]["unit"]: line for line in by_type["Subscription.Registered"]}
    assert registered["HW"]["payload"]["url"] == (
        "https://[redacted]@hooks.haiwan.example:8443/[redacted]"
    )
    assert registered["HB"]["payload"]["url"] == "https://hooks.haibei.example/[redacted]"
    assert registered["HW"]["payload"]["secret_ciphertext"] == "[redacted]"
    assert registered["HW"]["payload"]["secret_fingerprint"].startswith("sha256:")
    (rotated,) = by_type["Subscription.SecretRotated"]
    assert rotated["redacted"] == ["secret_ciphertext", "previous_ciphertext"]
    (updated,) = by_type["Subscription.Updated"]
    assert (
        updated["payload"]["changes"]["url"] == "https://[redacted]@hooks.haibei.example/[redacted]"
    )
    # An event with nothing secret keeps its stored bytes for an outside verifier.
    for line in by_type["Instruction.Issued"]:
        assert "redacted" not in line
        assert line["chain"]["state"]


# -- the auditor's whole log, an admin's subtree -----------------------------------------


@pytest.mark.parametrize("who", ["auditor", "admin and auditor"])
def test_the_auditor_exports_every_event_of_the_log(world: World, who: str) -> None:
    lines = world.export(who)
    assert [line["position"] for line in lines] == list(range(1, world.center.head_position() + 1))


def test_a_district_admin_exports_its_district_and_nothing_of_another(world: World) -> None:
    ids = {k: str(v) for k, v in world.ids.items()}
    haiwan, haibei = world.export("haiwan admin"), world.export("haibei admin")
    assert {ids["hw_instruction"], ids["xl_instruction"], ids["hw_warning"], ids["hw_hook"]} <= (
        aggregates(haiwan)
    )
    assert {ids["hb_instruction"], ids["hb_warning"], ids["hb_hook"]}.isdisjoint(aggregates(haiwan))
    assert {ids["hb_instruction"], ids["hb_warning"], ids["hb_hook"]} <= aggregates(haibei)
    assert {ids["hw_instruction"], ids["hw_warning"], ids["hw_hook"]}.isdisjoint(aggregates(haibei))
    # Nor the other district's units, people or tokens, in any field of any line.
    assert '"HB' not in json.dumps(haiwan, ensure_ascii=False)
    assert not [line for line in haibei if '"HW' in json.dumps(line, ensure_ascii=False)]
    listed = [line for line in haiwan if line["type"].endswith("TokenRoster.Listed")]
    assert {line["payload"]["unit"] for line in listed} == {"HW", "HW-DH"}


def test_an_office_admin_exports_what_concerns_its_office_not_its_sibling(world: World) -> None:
    ids = {k: str(v) for k, v in world.ids.items()}
    donghu = aggregates(world.export("donghu admin"))
    assert ids["hw_instruction"] in donghu  # issued by the district to the office
    assert ids["xl_instruction"] not in donghu  # to the sibling office
    assert ids["hw_hook"] not in donghu  # the district's own webhook


def test_the_city_admin_exports_both_districts(world: World) -> None:
    city = aggregates(world.export("city admin"))
    assert {str(v) for v in world.ids.values()} <= city


def test_an_admins_export_leaves_gaps_that_still_link_to_the_chain(world: World) -> None:
    whole = {line["position"]: line for line in world.export("auditor")}
    part = world.export("haibei admin")
    assert len(part) < len(whole)
    for line in part:
        before = whole.get(line["position"] - 1)
        expected = before["chain"]["hash"] if before else "0" * 64
        assert line["chain"]["prev"] == expected
        assert line["chain"]["hash"] == whole[line["position"]]["chain"]["hash"]


def test_a_slice_of_an_admins_export_is_the_slice_of_its_whole(world: World) -> None:
    whole = world.export("haiwan admin")
    middle = whole[len(whole) // 3]["position"]
    part = world.export("haiwan admin", from_position=middle)
    assert part == [line for line in whole if line["position"] >= middle]


# -- everyone else -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "who", [f"haiwan {role}" for role in ROLES if role not in ("admin", "auditor")]
)
def test_no_other_role_exports(world: World, who: str) -> None:
    r = world.client.get("/v1/audit/export", headers=world.headers[who])
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")


def test_a_subscription_keeps_its_full_url_on_the_server(world: World) -> None:
    """What the export redacts is still there for the admin who manages the webhook."""
    subscription: Any = world.center.repository.get(world.ids["hw_hook"])
    assert isinstance(subscription, Subscription)
    assert subscription.url == HW_URL
