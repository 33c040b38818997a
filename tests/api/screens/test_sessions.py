"""A session's two clocks: idle and absolute expiry, for people and for hall screens."""

from __future__ import annotations

import pytest

from api.screens.sessions import SessionBook, SessionPolicy
from domain.application import CommandCenter
from projections.store import ViewStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def book(center: CommandCenter) -> tuple[SessionBook, Clock]:
    clock = Clock()
    store = ViewStore.for_env(center.env)
    policy = SessionPolicy(idle_seconds=600, absolute_seconds=3600)
    return SessionBook(store, policy, clock), clock


def test_a_session_used_within_its_idle_time_lives_until_its_absolute_end(
    book: tuple[SessionBook, Clock],
) -> None:
    sessions, clock = book
    secret, opened = sessions.open("account:a", kiosk=False)
    for _ in range(5):
        clock.now += 590
        found = sessions.find(secret)
        assert found is not None
        assert found.csrf == opened.csrf
    clock.now = opened.ends_at
    assert sessions.find(secret) is None


def test_a_session_left_idle_ends_and_stays_ended(book: tuple[SessionBook, Clock]) -> None:
    sessions, clock = book
    secret, _ = sessions.open("account:a", kiosk=False)
    clock.now += 601
    assert sessions.find(secret) is None
    clock.now -= 601
    assert sessions.find(secret) is None  # the record is gone, not only out of date


def test_a_hall_screen_stays_signed_in_for_days(book: tuple[SessionBook, Clock]) -> None:
    sessions, clock = book
    secret, _ = sessions.open("token:x", kiosk=True)
    for _ in range(10):
        clock.now += 24 * 3600
        assert sessions.find(secret) is not None


def test_signing_out_ends_only_that_session(book: tuple[SessionBook, Clock]) -> None:
    sessions, _ = book
    one, _ = sessions.open("account:a", kiosk=False)
    two, _ = sessions.open("account:a", kiosk=False)
    sessions.end(one)
    assert sessions.find(one) is None
    assert sessions.find(two) is not None
    sessions.end_all_of("account:a")
    assert sessions.find(two) is None


def test_a_cookie_of_another_shape_is_never_looked_up(book: tuple[SessionBook, Clock]) -> None:
    sessions, _ = book
    for forged in ("", "x", "' OR 1=1 --", "a" * 5000):
        assert sessions.find(forged) is None
