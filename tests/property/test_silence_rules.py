"""Silences' period rules (ADR 0085), for any period: a period is taken exactly when it
ends after it starts, ends in the future, starts no earlier than now less the clock
skew and lasts at most the bound; and a silence is active exactly within its period
until it is ended."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import SilencePeriodRefused
from domain.meta import CLOCK_SKEW
from domain.silence import MAX_SILENCE, Silence, check_period

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
minutes = st.integers(-3 * 24 * 60, 40 * 24 * 60)


@given(start=minutes, length=st.integers(-600, 40 * 24 * 60))
def test_a_period_is_taken_exactly_when_every_rule_holds(start: int, length: int) -> None:
    starts = NOW + timedelta(minutes=start)
    ends = starts + timedelta(minutes=length)
    good = (
        ends > starts and ends > NOW and starts >= NOW - CLOCK_SKEW and ends - starts <= MAX_SILENCE
    )
    if good:
        check_period(starts, ends, NOW)
    else:
        with pytest.raises(SilencePeriodRefused):
            check_period(starts, ends, NOW)


@given(start=st.integers(0, 600), length=st.integers(1, 600), probe=st.integers(-60, 1300))
def test_a_silence_is_active_exactly_within_its_period(start: int, length: int, probe: int) -> None:
    s = Silence.__new__(Silence)
    s.starts_at = NOW + timedelta(minutes=start)
    s.ends_at = s.starts_at + timedelta(minutes=length)
    s.ended_at = None
    s.expired_at = None
    at = NOW + timedelta(minutes=probe)
    assert s.is_active(at) == (s.starts_at <= at < s.ends_at)
    s.ended_at = s.starts_at
    assert not s.is_active(at)
