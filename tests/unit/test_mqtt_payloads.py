"""The MQTT door's topics and payloads (ADR 0079): JSON and the compact format, read
without a broker; the compact format round-trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from closedloop.mqtt_payloads import (
    KEPT_PAYLOAD,
    MessageReading,
    Topic,
    Unreadable,
    bounded,
    compact,
    parse_payload,
    parse_topic,
)

AT = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
GAUGE = Topic("E-QSRES", "qingshan-reservoir")


def test_a_topic_names_the_unit_the_station_and_perhaps_the_metric() -> None:
    assert parse_topic("closedloop/E-QSRES/qingshan-reservoir") == GAUGE
    assert parse_topic("closedloop/HW/g1/water_level") == Topic("HW", "g1", "water_level")
    for bad in ("closedloop/HW", "other/HW/g1", "closedloop//g1", "closedloop/HW/g1/m/x"):
        with pytest.raises(Unreadable):
            parse_topic(bad)


def test_a_json_reading_or_list_of_them_is_read() -> None:
    one = b'{"metric": "water_level", "value": 51.2, "unit_of_measure": "m",'
    one += b' "observed_at": "2026-12-07T16:00:00+08:00"}'
    [r] = parse_payload(one, GAUGE)
    assert (r.metric, r.value, r.unit_of_measure, r.observed_at) == ("water_level", 51.2, "m", AT)
    many = b'[{"value": 1, "observed_at": "2026-12-07T08:00:00Z"},'
    many += b' {"value": null, "observed_at": "2026-12-07T08:01:00Z"}]'
    readings = parse_payload(many, Topic("HW", "g1", "rain"))
    assert [(r.metric, r.value) for r in readings] == [("rain", 1), ("rain", None)]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "empty"),
        (b"{not json", "JSON"),
        (b'{"value": 1, "observed_at": "2026-12-07T08:00:00"}', "offset"),
        (b'{"value": 1, "observed_at": "2026-12-07T08:00:00Z"}', "no metric"),
        (b'{"value": 1, "observed_at": "2026-12-07T08:00:00Z", "metric": "x", "v": 2}', "JSON"),
        (b"water_level,1,m", "four fields"),
        (b"water_level,1,m,yesterday", "neither milliseconds"),
        (b"\xff\xfe", "UTF-8"),
        (b"[]", "no reading"),
    ],
)
def test_what_cannot_be_read_says_why(payload: bytes, reason: str) -> None:
    with pytest.raises(Unreadable, match=reason):
        parse_payload(payload, GAUGE)


def test_a_metric_other_than_the_topics_is_unreadable() -> None:
    with pytest.raises(Unreadable, match="not the topic's"):
        parse_payload(b"rain,1,mm,1796630400000", Topic("HW", "g1", "water_level"))


def test_a_value_that_is_not_a_number_is_left_for_the_intake_to_refuse() -> None:
    [r] = parse_payload(b"water_level,high,m,1796630400000", GAUGE)
    assert r.value == "high"


def test_a_dead_letter_keeps_a_bounded_payload() -> None:
    assert bounded(b"abc") == "abc"
    kept = bounded(b"x" * (KEPT_PAYLOAD + 10))
    assert kept.startswith("x" * KEPT_PAYLOAD)
    assert kept.endswith(f"({KEPT_PAYLOAD + 10} bytes)")


_instants = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2199, 1, 1), timezones=st.just(UTC)
)
_readings = st.builds(
    MessageReading,
    metric=st.sampled_from(["water_level", "rainfall_mm", "pm2_5"]),
    value=st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
    unit_of_measure=st.sampled_from(["m", "mm", "ug/m3", ""]),
    observed_at=_instants,
)


@given(st.lists(_readings, min_size=1, max_size=20))
def test_the_compact_format_round_trips(readings: list[MessageReading]) -> None:
    assert parse_payload(compact(readings), GAUGE) == readings


def test_whole_milliseconds_are_written_as_a_number() -> None:
    r = MessageReading("water_level", 3.5, "m", AT + timedelta(milliseconds=5))
    assert compact([r]) == f"water_level,3.5,m,{int(AT.timestamp() * 1000) + 5}".encode()
