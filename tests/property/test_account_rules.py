"""The rules of an account under generated input (hypothesis; ADR 0052): which
usernames and passwords are taken, that a username names one account whatever its
case, and that under any sequence of openings, password changes and closings exactly
the open accounts sign in, each with its latest password only."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from api.accounts import AccountBook
from closedloop.bootstrap import load_calendar
from closedloop.settings import DEFAULT_CALENDAR
from domain.account import (
    MAX_PASSWORD,
    MAX_USERNAME,
    MIN_PASSWORD,
    MIN_USERNAME,
    AccountClosed,
    PasswordRefused,
    UsernameRefused,
    account_id,
    check_password,
    check_username,
)
from domain.application import CommandCenter
from domain.demo import load_demo
from domain.errors import AlreadyExists, NotFound

CALENDAR = load_calendar(DEFAULT_CALENDAR)


def is_username(text: str) -> bool:
    """The rule as the brief words it: 3 to 64 letters or digits (any script) or . _ - @."""
    return MIN_USERNAME <= len(text) <= MAX_USERNAME and all(
        c.isalnum() or c in "._-@" for c in text
    )


_LIKELY = st.text(alphabet=st.sampled_from("abzAZ09._-@ 张伟海湾/!é\t"), min_size=0, max_size=70)


@given(st.one_of(_LIKELY, st.text(max_size=70)))
def test_a_username_is_taken_exactly_when_it_follows_the_rule(text: str) -> None:
    if is_username(text):
        assert check_username(text) == text
    else:
        with pytest.raises(UsernameRefused):
            check_username(text)


_ASCII_NAME = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@"),
    min_size=MIN_USERNAME,
    max_size=MAX_USERNAME,
)


@given(_ASCII_NAME)
def test_a_username_names_one_account_whatever_its_case(name: str) -> None:
    assert account_id(name.upper()) == account_id(name.lower()) == account_id(name)


@given(_ASCII_NAME, st.text(max_size=MAX_PASSWORD + 5))
def test_a_password_is_taken_exactly_when_long_enough_and_not_the_username(
    username: str, password: str
) -> None:
    allowed = (
        MIN_PASSWORD <= len(password) <= MAX_PASSWORD
        and "\x00" not in password
        and password.casefold() != username.casefold()
    )
    if allowed:
        check_password(password, username)
    else:
        with pytest.raises(PasswordRefused):
            check_password(password, username)


@given(_ASCII_NAME.filter(lambda n: len(n) >= MIN_PASSWORD))
def test_the_username_in_another_case_is_no_password(username: str) -> None:
    with pytest.raises(PasswordRefused):
        check_password(username.swapcase(), username)


PEOPLE = ("wang.wei", "li.na", "zhang.min")
PASSWORDS = st.sampled_from(("first password", "second password", "a third one!"))


class AccountLives(RuleBasedStateMachine):
    """Open, re-password and close accounts at random; who signs in follows."""

    @initialize()
    def open_the_center(self) -> None:
        self.center = CommandCenter(
            env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, calendar=CALENDAR
        )
        load_demo(self.center)
        self.book = AccountBook(self.center, hasher=PasswordHasher.from_parameters(CHEAPEST))
        #: username -> its latest password, while open.
        self.open: dict[str, str] = {}
        self.closed: set[str] = set()

    @rule(who=st.sampled_from(PEOPLE), password=PASSWORDS)
    def open_an_account(self, who: str, password: str) -> None:
        if who in self.open or who in self.closed:
            with pytest.raises(AlreadyExists):
                self.book.open(
                    username=who, name=who, unit="HW", roles=["handler"], password=password
                )
            return
        self.book.open(username=who, name=who, unit="HW", roles=["handler"], password=password)
        self.open[who] = password

    @rule(who=st.sampled_from(PEOPLE), password=PASSWORDS)
    def change_a_password(self, who: str, password: str) -> None:
        if who not in self.open:
            with pytest.raises((AccountClosed, NotFound)):
                self.book.change_password(who, password)
            return
        self.book.change_password(who, password)
        self.open[who] = password

    @rule(who=st.sampled_from(PEOPLE))
    def close_an_account(self, who: str) -> None:
        if who not in self.open:
            with pytest.raises((AccountClosed, NotFound)):
                self.book.close(who, "left")
            return
        self.book.close(who, "left")
        del self.open[who]
        self.closed.add(who)

    @invariant()
    def exactly_the_open_accounts_sign_in_with_their_latest_password(self) -> None:
        for who in PEOPLE:
            for password in ("first password", "second password", "a third one!"):
                signed_in = self.book.verify(who, password) is not None
                assert signed_in == (self.open.get(who) == password), (who, password)

    def teardown(self) -> None:
        self.center.close()


AccountLives.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_account_lives = AccountLives.TestCase
