"""``closedloop account …`` and ``closedloop demo accounts`` on each real store, and a
one-time sign-in address redeemed by two processes at once: one wins (ADR 0052)."""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST

from api.accounts import AccountBook
from closedloop import cli
from closedloop.settings import Settings
from domain.application import CommandCenter
from tests.conftest import opened_center


def run(settings: Settings, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    args = cli.parser().parse_args(list(argv))
    status: int = args.func(args, settings)
    out, err = capsys.readouterr()
    return status, out, err


def cheap(center: CommandCenter) -> AccountBook:
    return AccountBook(center, hasher=PasswordHasher.from_parameters(CHEAPEST))


def test_demo_accounts_opens_each_demo_person_once_and_prints_an_address_that_signs_in_once(
    demo: CommandCenter, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(database_url=database_url)
    run(settings, capsys, "demo", "accounts")
    status, out, _ = run(settings, capsys, "demo", "accounts")

    assert status == 0
    addresses = [line.split()[-1] for line in out.splitlines() if "/sign-in/once/" in line]
    assert len(addresses) == len(cli.DEMO_TOKENS) + 1
    assert all(a.startswith("http://127.0.0.1:8000/sign-in/once/clo_") for a in addresses)
    book = cheap(demo)
    assert len(book.units_of_accounts()) == len(cli.DEMO_TOKENS) + 1
    screen = book.redeem_ticket(addresses[-1].rsplit("/", 1)[1])
    assert screen is not None
    assert (screen.unit, screen.roles) == ("HW", ("screen",))
    assert book.redeem_ticket(addresses[-1].rsplit("/", 1)[1]) is None


def test_an_account_created_with_a_password_on_stdin_signs_in_with_it(
    demo: CommandCenter,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a password from a pipe\n"))
    settings = Settings(database_url=database_url)

    status, out, err = run(
        settings, capsys, "account", "create", "--user", "li.na", "--unit", "HW-DH",
        "--role", "handler", "--role", "dispatcher", "--name", "李娜",
    )  # fmt: skip

    assert status == 0, err
    assert out == ""  # nothing generated, nothing shown
    principal = cheap(demo).verify("li.na", "a password from a pipe")
    assert principal is not None
    assert principal.roles == ("handler", "dispatcher")


def test_a_generated_password_is_printed_once_and_a_closed_account_is_listed_closed(
    demo: CommandCenter, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(database_url=database_url)
    _, out, _ = run(
        settings, capsys, "account", "create", "--user", "wang.wei", "--unit", "HW",
        "--role", "dispatcher", "--generate-password",
    )  # fmt: skip
    password = out.strip()
    assert cheap(demo).verify("wang.wei", password) is not None

    run(settings, capsys, "account", "close", "--user", "wang.wei", "--reason", "retired")
    _, listed, _ = run(settings, capsys, "account", "list")

    assert listed.startswith("wang.wei\tclosed\tHW\tdispatcher")
    assert cheap(demo).verify("wang.wei", password) is None
    assert cli.main(["account", "close", "--user", "wang.wei", "--reason", "again"]) == 1


def test_two_processes_redeeming_one_address_at_once_sign_in_once(
    demo: CommandCenter, database_url: str
) -> None:
    cheap(demo).open(
        username="wang.wei", name="王伟", unit="HW", roles=["handler"], password="long enough!"
    )
    for _ in range(5):
        secret = cheap(demo).issue_ticket("wang.wei")
        with opened_center(database_url) as first, opened_center(database_url) as second:
            books = [cheap(first), cheap(second)]
            start = threading.Barrier(2)

            def redeem(
                book: AccountBook, secret: str = secret, start: threading.Barrier = start
            ) -> object:
                start.wait()
                return book.redeem_ticket(secret)

            with ThreadPoolExecutor(2) as pool:
                answers = list(pool.map(redeem, books))

        assert sum(a is not None for a in answers) == 1, answers
