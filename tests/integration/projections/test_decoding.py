"""The runner's decoder makes the very events the store's mapper makes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, UUIDAsHex
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.workload import storm_warning
from domain.application import CommandCenter
from domain.meta import MetaAsDict
from projections.decoding import UUID_CACHE, _FastJSONTranscoder, event_decoder
from tests.integration.projections.workload import run_workload


def test_every_event_of_the_log_decodes_as_the_mapper_decodes_it(center: CommandCenter) -> None:
    run_workload(center, rounds=1)
    decode = event_decoder(center.mapper)
    assert decode != center.mapper.to_domain_event, "the faster decoder is not in use"
    notifications = center.recorder.select_notifications(1, 10_000)
    assert len(notifications) == center.head_position()
    for n in notifications:
        ours, theirs = decode(n), center.mapper.to_domain_event(n)
        assert type(ours) is type(theirs)
        assert vars(ours) == vars(theirs)


def test_what_msgspec_refuses_is_decoded_by_the_store_s_own_transcoder(
    center: CommandCenter,
) -> None:
    # NaN and Infinity are valid to the standard library's json, not to msgspec.
    raised = storm_warning(1, datetime(2026, 1, 1, tzinfo=UTC)).collect_events()[0]
    raised.attributes.update(x=float("nan"), y=float("inf"))  # type: ignore[attr-defined]
    stored = center.mapper.to_stored_event(raised)
    assert b"NaN" in stored.state
    event = event_decoder(center.mapper)(stored)
    assert event.attributes["x"] != event.attributes["x"]  # NaN
    assert event.attributes["y"] == float("inf")
    assert event.meta == raised.meta  # type: ignore[attr-defined]


# Any value the store can write: JSON scalars, UUIDs, datetimes and the domain's Meta,
# nested in lists and objects, including objects that merely look transcoded.
_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["uuid_hex", "datetime_iso", "closedloop_meta", "0" * 32])
    | st.uuids()
    | st.datetimes(timezones=st.just(UTC))
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["_type_", "_data_", "a", "b", "meta"]), inner, max_size=3
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(value=st.dictionaries(st.text(max_size=8), _values, max_size=5))
def test_any_stored_state_decodes_as_the_store_decodes_it(value: dict[str, Any]) -> None:
    store = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DatetimeAsISO(), MetaAsDict()):
        store.register(transcoding)
    data = store.encode(value)
    try:
        expected: Any = store.decode(data)
    except Exception as e:  # the store itself cannot decode it: nor may we differ
        with pytest.raises(type(e)):
            _FastJSONTranscoder(store).decode(data)
        return
    ours = _FastJSONTranscoder(store).decode(data)
    # repr tells 1 from 1.0 and True, and shows the order of keys.
    assert repr(ours) == repr(expected)


def test_the_memory_of_uuids_is_bounded_and_answers_equal_uuids() -> None:
    store = JSONTranscoder()
    store.register(UUIDAsHex())
    fast = _FastJSONTranscoder(store)
    first = uuid4()
    assert fast.decode(store.encode([first, first])) == [first, first]
    for _ in range(UUID_CACHE + 10):
        fast.decode(store.encode(uuid4()))
    assert len(fast._uuids) <= UUID_CACHE
    assert fast.decode(store.encode(first)) == first
