"""The abuse limits' counting (ADR 0043): moving windows, the wait a refusal names, whose
failures count together; and their settings, refused when they cannot be used."""

from __future__ import annotations

import pytest
from freezegun import freeze_time

from api.rate_limits import AUTH_FAILURES, WRITES, RateLimits, client_key, parse_rate
from closedloop.settings import Settings, SettingsError


def test_an_address_is_refused_once_its_failures_are_spent_until_the_oldest_leaves_the_window() -> (
    None
):
    with freeze_time("2026-12-06 08:00:00") as clock:
        limits = RateLimits(auth_failures="3/minute", writes="off")
        for _ in range(2):
            limits.failed("203.0.113.9")
            clock.tick(10)
        assert limits.address_wait("203.0.113.9") is None
        limits.failed("203.0.113.9")  # at 08:00:20; the first was at 08:00:00
        assert limits.address_wait("203.0.113.9") == 40
        clock.tick(39)
        assert limits.address_wait("203.0.113.9") == 1
        clock.tick(1.5)
        assert limits.address_wait("203.0.113.9") is None
    assert limits.failed_authentications == 3
    assert limits.refused == {AUTH_FAILURES: 2, WRITES: 0}


def test_another_address_keeps_its_own_allowance() -> None:
    limits = RateLimits(auth_failures="2/minute", writes="off")
    limits.failed("203.0.113.9")
    limits.failed("203.0.113.9")
    assert limits.address_wait("203.0.113.9") is not None
    assert limits.address_wait("203.0.113.10") is None


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9"),  # one host's /64
        ("::ffff:203.0.113.9", "203.0.113.9"),  # IPv4 written as IPv6
    ],
)
def test_addresses_of_one_host_count_together(one: str, other: str) -> None:
    assert client_key(one) == client_key(other)
    limits = RateLimits(auth_failures="1/minute", writes="off")
    limits.failed(one)
    assert limits.address_wait(other) is not None


def test_neighbouring_ipv6_networks_count_apart() -> None:
    assert client_key("2001:db8:1:2::1") != client_key("2001:db8:1:3::1")


def test_a_token_past_its_writes_waits_for_the_tightest_window_and_a_refusal_costs_nothing() -> (
    None
):
    with freeze_time("2026-12-06 08:00:00") as clock:
        limits = RateLimits(auth_failures="off", writes="2/second;3/minute")
        assert limits.write_wait("t1") is None
        assert limits.write_wait("t1") is None
        assert limits.write_wait("t1") == 1  # the second's two are spent
        clock.tick(1.1)
        assert limits.write_wait("t1") is None  # the refused one took nothing
        assert limits.write_wait("t1") == 59  # now the minute's three are spent
        assert limits.write_wait("t2") is None
    assert limits.refused == {AUTH_FAILURES: 0, WRITES: 2}


def test_a_limit_turned_off_never_refuses() -> None:
    limits = RateLimits(auth_failures="off", writes="off")
    for _ in range(1000):
        limits.failed("203.0.113.9")
        assert limits.write_wait("t1") is None
    assert limits.address_wait("203.0.113.9") is None


@pytest.mark.parametrize("text", ["0/minute", "ten/minute", "1/fortnight", "", "60"])
def test_a_rate_that_cannot_be_used_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_rate(text)


def test_the_limits_and_timeouts_come_from_the_environment() -> None:
    server = Settings.from_env(
        {
            "CLOSEDLOOP_AUTH_FAILURE_LIMIT": "5/second;30/minute",
            "CLOSEDLOOP_WRITE_LIMIT": "off",
            "CLOSEDLOOP_HEADER_TIMEOUT_SECONDS": "2.5",
            "CLOSEDLOOP_BODY_TIMEOUT_SECONDS": "20",
            "CLOSEDLOOP_KEEP_ALIVE_SECONDS": "3",
            "CLOSEDLOOP_MAX_CONNECTIONS": "500",
        }
    ).server
    assert (server.auth_failure_limit, server.write_limit) == ("5/second;30/minute", "off")
    assert (server.header_timeout_seconds, server.body_timeout_seconds) == (2.5, 20.0)
    assert (server.keep_alive_seconds, server.max_connections) == (3, 500)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("CLOSEDLOOP_WRITE_LIMIT", "0/minute"),
        ("CLOSEDLOOP_AUTH_FAILURE_LIMIT", "lots"),
        ("CLOSEDLOOP_HEADER_TIMEOUT_SECONDS", "0"),
        ("CLOSEDLOOP_BODY_TIMEOUT_SECONDS", "-1"),
        ("CLOSEDLOOP_KEEP_ALIVE_SECONDS", "2.5"),
        ("CLOSEDLOOP_MAX_CONNECTIONS", "0"),
    ],
)
def test_a_limit_that_cannot_be_used_stops_the_start_naming_its_variable(
    name: str, text: str
) -> None:
    with pytest.raises(SettingsError, match=f"^{name} must be .*not '{text}'"):
        Settings.from_env({name: text})
