"""The runner's decoder makes the very events the store's mapper makes."""

from __future__ import annotations

from datetime import UTC, datetime

from bench.workload import storm_warning
from domain.application import CommandCenter
from projections.decoding import event_decoder
from tests.projections.workload import run_workload


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
