"""People's accounts and one-time sign-in tickets (ADR 0052), on the in-memory store:
the rules of opening, changing and closing an account, who ``verify`` lets in, and a
ticket that signs in once and not after its hour."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST
from freezegun import freeze_time

from api.accounts import AccountBook
from domain.account import AccountClosed, PasswordRefused, UsernameRefused, account_id
from domain.application import CommandCenter
from domain.calendar import WorkingCalendar
from domain.demo import load_demo
from domain.errors import AlreadyExists, InvalidValue, NotFound
from domain.meta import SYSTEM, Context
from tests.unit.builders import frozen_clock_center

PASSWORD = "correct horse battery"


@pytest.fixture
def app(calendar: WorkingCalendar) -> Iterator[CommandCenter]:
    """The demo district in memory, able to save events under ``freeze_time``."""
    center = frozen_clock_center(calendar)
    load_demo(center)
    try:
        yield center
    finally:
        center.close()


@pytest.fixture
def book(app: CommandCenter) -> AccountBook:
    return AccountBook(app, hasher=PasswordHasher.from_parameters(CHEAPEST))


def open_wang(book: AccountBook, **given: object) -> None:
    fields: dict[str, object] = {
        "username": "wang.wei",
        "name": "王伟",
        "unit": "HW-DH",
        "roles": ["handler"],
        "password": PASSWORD,
        **given,
    }
    book.open(**fields)  # type: ignore[arg-type]


def test_an_opened_account_signs_in_with_its_password_as_its_unit_and_roles(
    book: AccountBook,
) -> None:
    open_wang(book)

    principal = book.verify("wang.wei", PASSWORD)

    assert principal is not None
    assert (principal.user, principal.unit, principal.roles) == ("wang.wei", "HW-DH", ("handler",))
    assert principal.token_id == f"account:{account_id('wang.wei')}"


def test_the_store_holds_a_hash_and_never_the_password(
    book: AccountBook, app: CommandCenter
) -> None:
    open_wang(book)

    stored = b"".join(n.state for n in app.recorder.select_notifications(1, 10_000))

    assert PASSWORD.encode() not in stored
    assert book.account("wang.wei").password_hash.startswith("$argon2id$")


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("wang.wei", "wrong password!"),
        ("nobody.here", PASSWORD),
        ("no", PASSWORD),  # not a username at all
        ("wang.wei", ""),
        ("wang.wei", "x" * 5000),
    ],
)
def test_a_wrong_password_or_an_unknown_name_signs_nobody_in(
    book: AccountBook, username: str, password: str
) -> None:
    open_wang(book)

    assert book.verify(username, password) is None


def test_a_username_is_taken_once_whatever_its_case(book: AccountBook) -> None:
    open_wang(book)

    with pytest.raises(AlreadyExists):
        open_wang(book, username="Wang.Wei")
    assert book.verify("WANG.WEI", PASSWORD) is not None


def test_a_chinese_username_is_a_username(book: AccountBook) -> None:
    open_wang(book, username="王伟@海湾")

    assert book.verify("王伟@海湾", PASSWORD) is not None


@pytest.mark.parametrize(
    ("given", "refused"),
    [
        ({"username": "a b c"}, UsernameRefused),
        ({"username": "ab"}, UsernameRefused),
        ({"username": "x" * 65}, UsernameRefused),
        ({"password": "short"}, PasswordRefused),
        ({"password": "wang.wei.1"[:10], "username": "wang.wei.1"}, PasswordRefused),
        ({"unit": "NOWHERE"}, NotFound),
        ({"roles": ["mayor"]}, InvalidValue),
        ({"roles": []}, InvalidValue),
        ({"name": "  "}, InvalidValue),
    ],
)
def test_an_account_against_the_rules_is_refused_and_nothing_is_stored(
    book: AccountBook, app: CommandCenter, given: dict[str, object], refused: type[Exception]
) -> None:
    head = app.head_position()

    with pytest.raises(refused):
        open_wang(book, **given)

    assert app.head_position() == head


def test_a_deactivated_unit_gets_no_account_and_its_people_stop_signing_in(
    book: AccountBook, app: CommandCenter
) -> None:
    open_wang(book, unit="HW-DH-QS")
    app.deactivate_unit(Context(actor=SYSTEM), "HW-DH-QS", "merged")

    assert book.verify("wang.wei", PASSWORD) is None
    with pytest.raises(InvalidValue, match="deactivated"):
        open_wang(book, username="li.na", unit="HW-DH-QS")


def test_a_closed_account_signs_in_no_more_and_takes_no_change(book: AccountBook) -> None:
    open_wang(book)
    principal = book.verify("wang.wei", PASSWORD)
    assert principal is not None
    assert book.principal_of(principal.token_id) == principal

    book.close("wang.wei", "left the office")

    assert book.verify("wang.wei", PASSWORD) is None
    assert book.principal_of(principal.token_id) is None
    with pytest.raises(AccountClosed):
        book.change_password("wang.wei", "another good one")


def test_a_changed_password_replaces_the_old_one(book: AccountBook) -> None:
    open_wang(book)

    book.change_password("wang.wei", "a brand new secret")

    assert book.verify("wang.wei", PASSWORD) is None
    assert book.verify("wang.wei", "a brand new secret") is not None


def test_an_account_opened_without_a_password_gets_one_generated_and_shown_once(
    book: AccountBook,
) -> None:
    written = book.open(username="li.na", name="李娜", unit="HW", roles=["dispatcher"])

    assert written.password is not None
    assert len(written.password) >= 10
    assert book.verify("li.na", written.password) is not None


def test_a_hash_made_with_weaker_parameters_is_made_again_at_sign_in(
    app: CommandCenter,
) -> None:
    AccountBook(app, hasher=PasswordHasher.from_parameters(CHEAPEST)).open(
        username="wang.wei", name="王伟", unit="HW", roles=["handler"], password=PASSWORD
    )
    stronger = AccountBook(app, hasher=PasswordHasher(time_cost=2, memory_cost=1024))

    assert stronger.verify("wang.wei", PASSWORD) is not None

    assert not stronger.hasher.check_needs_rehash(stronger.account("wang.wei").password_hash)


def test_the_roles_of_an_account_change_on_the_record(book: AccountBook) -> None:
    open_wang(book)

    book.change_roles("wang.wei", ["handler", "dispatcher"])

    principal = book.verify("wang.wei", PASSWORD)
    assert principal is not None
    assert principal.roles == ("handler", "dispatcher")


# -- one-time sign-in tickets -------------------------------------------------------------


def test_a_ticket_signs_its_person_in_once(book: AccountBook) -> None:
    open_wang(book)
    secret = book.issue_ticket("wang.wei")

    first = book.redeem_ticket(secret)
    second = book.redeem_ticket(secret)

    assert first is not None
    assert first.user == "wang.wei"
    assert second is None


def test_a_ticket_expires_after_its_hour(book: AccountBook) -> None:
    open_wang(book)
    with freeze_time("2026-12-07T02:00:00Z"):
        secret = book.issue_ticket("wang.wei")
    with freeze_time("2026-12-07T03:00:00Z"):
        assert book.redeem_ticket(secret) is None


def test_a_ticket_within_its_time_signs_in(book: AccountBook) -> None:
    open_wang(book)
    with freeze_time("2026-12-07T02:00:00Z"):
        secret = book.issue_ticket("wang.wei", timedelta(minutes=10))
    with freeze_time("2026-12-07T02:09:59Z"):
        assert book.redeem_ticket(secret) is not None


@pytest.mark.parametrize("secret", ["", "clo_", "clo_unknown", "cl_abc", "clo_" + "x" * 200])
def test_an_unknown_ticket_signs_nobody_in_and_stores_nothing(
    book: AccountBook, app: CommandCenter, secret: str
) -> None:
    head = app.head_position()

    assert book.redeem_ticket(secret) is None
    assert app.head_position() == head


def test_a_closed_account_gets_no_ticket_and_its_tickets_sign_nobody_in(
    book: AccountBook,
) -> None:
    open_wang(book)
    secret = book.issue_ticket("wang.wei")
    book.close("wang.wei", "left")

    assert book.redeem_ticket(secret) is None
    with pytest.raises(AccountClosed):
        book.issue_ticket("wang.wei")


@pytest.mark.parametrize("ttl", [timedelta(0), timedelta(days=8)])
def test_a_ticket_lives_more_than_no_time_and_at_most_a_week(
    book: AccountBook, ttl: timedelta
) -> None:
    open_wang(book)

    with pytest.raises(InvalidValue):
        book.issue_ticket("wang.wei", ttl)
