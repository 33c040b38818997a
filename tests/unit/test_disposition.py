"""Dispositions: one unit's handling of one instruction, from sign-for to verification."""

from __future__ import annotations

from uuid import uuid4

import pytest

from domain.application import CommandCenter
from domain.disposition import Disposition, DispositionStatus, disposition_id
from domain.errors import InvalidTransition, InvalidValue, NotFound, NotPermitted
from tests.unit.builders import (
    DISTRICT,
    OFFICE,
    OTHER_OFFICE,
    WATER,
    closed,
    ctx,
    event_names,
    issue,
    last_event,
    meta,
    nothing_stored,
    signed,
    submitted,
)


def opened(unit: str = OFFICE) -> Disposition:
    disposition = Disposition(instruction_id=uuid4(), unit=unit, meta=meta(unit, "SignFor"))
    disposition.collect_events()
    return disposition


def in_status(status: DispositionStatus) -> Disposition:
    disposition = opened()
    if status != DispositionStatus.OPEN:
        if status == DispositionStatus.CLOSED_UNVERIFIED:
            disposition.end("instruction cancelled", meta(DISTRICT))
        else:
            disposition.submit("done", meta(OFFICE))
            if status == DispositionStatus.ACCEPTED:
                disposition.record_verification(True, "", meta(DISTRICT))
    disposition.collect_events()
    assert disposition.status == status
    return disposition


FINISHED = [DispositionStatus.ACCEPTED, DispositionStatus.CLOSED_UNVERIFIED]


# -- the aggregate on its own ---------------------------------------------------------


def test_signing_for_an_instruction_opens_a_disposition_in_its_loop() -> None:
    iid = uuid4()
    the_meta = meta(OFFICE, "SignFor", loop_id=iid)
    disposition = Disposition(instruction_id=iid, unit=OFFICE, meta=the_meta)
    [event] = disposition.collect_events()
    assert isinstance(event, Disposition.Opened)
    assert (event.instruction_id, event.unit) == (iid, OFFICE)
    assert disposition.status == DispositionStatus.OPEN
    assert disposition.opened_at == the_meta.occurred_at
    assert disposition.loop_id == iid
    assert disposition.id == disposition_id(iid, OFFICE)


def test_an_action_is_recorded_with_who_when_and_its_evidence() -> None:
    disposition = opened()
    the_meta = meta(OFFICE)
    disposition.record_action(
        " Closed the bank road ", [" https://evidence/1.jpg ", "", "  ", "file:42"], the_meta
    )
    [event] = disposition.collect_events()
    assert isinstance(event, Disposition.ActionRecorded)
    assert event.text == "Closed the bank road"
    assert event.evidence == ["https://evidence/1.jpg", "file:42"]
    [action] = disposition.actions
    assert action["kind"] == "action"
    assert action["person"] == the_meta.person
    assert action["occurred_at"] == the_meta.occurred_at.isoformat()


@pytest.mark.parametrize(
    ("text", "evidence", "what"),
    [
        ("  ", None, "action"),
        ("x" * 10_001, None, "action"),
        ("photos", [f"file:{n}" for n in range(21)], "at most 20"),
        ("photo", ["x" * 1_001], "1000 characters"),
    ],
)
def test_an_action_without_text_or_with_too_much_evidence_is_refused(
    text: str, evidence: list[str] | None, what: str
) -> None:
    disposition = opened()
    with pytest.raises(InvalidValue, match=what):
        disposition.record_action(text, evidence, meta(OFFICE))
    assert disposition.collect_events() == []


def test_only_the_unit_itself_writes_on_its_disposition() -> None:
    disposition = opened()
    with pytest.raises(NotPermitted):
        disposition.record_action("did something", None, meta(WATER))
    with pytest.raises(NotPermitted):
        disposition.report_progress("halfway", meta(WATER))
    assert disposition.collect_events() == []


def test_progress_is_reported_on_the_record_of_actions() -> None:
    disposition = opened()
    disposition.report_progress("half of the residents moved", meta(OFFICE))
    [event] = disposition.collect_events()
    assert isinstance(event, Disposition.ProgressReported)
    assert [(a["kind"], a["text"]) for a in disposition.actions] == [
        ("progress", "half of the residents moved")
    ]


def test_a_progress_report_needs_a_note() -> None:
    disposition = opened()
    with pytest.raises(InvalidValue):
        disposition.report_progress(" ", meta(OFFICE))
    assert disposition.collect_events() == []


@pytest.mark.parametrize("status", FINISHED)
def test_a_finished_disposition_takes_no_more_actions_progress_or_results(
    status: DispositionStatus,
) -> None:
    disposition = in_status(status)
    with pytest.raises(InvalidTransition):
        disposition.record_action("more", None, meta(OFFICE))
    with pytest.raises(InvalidTransition):
        disposition.report_progress("more", meta(OFFICE))
    with pytest.raises(InvalidTransition):
        disposition.submit("more", meta(OFFICE))
    assert disposition.collect_events() == []


def test_a_submitted_result_waits_for_verification() -> None:
    disposition = opened()
    disposition.submit("40 residents moved", meta(OFFICE))
    [event] = disposition.collect_events()
    assert isinstance(event, Disposition.ResultSubmitted)
    assert disposition.status == DispositionStatus.SUBMITTED
    assert disposition.result == "40 residents moved"
    with pytest.raises(InvalidTransition, match="already submitted"):
        disposition.submit("again", meta(OFFICE))
    assert disposition.collect_events() == []


def test_actions_may_still_be_recorded_while_the_result_waits() -> None:
    disposition = in_status(DispositionStatus.SUBMITTED)
    disposition.record_action("photos of the empty houses", ["file:7"], meta(OFFICE))
    assert len(disposition.collect_events()) == 1


def test_an_accepted_result_finishes_the_disposition() -> None:
    disposition = in_status(DispositionStatus.SUBMITTED)
    disposition.record_verification(True, "", meta(DISTRICT))
    [event] = disposition.collect_events()
    assert isinstance(event, Disposition.Verified)
    assert disposition.status == DispositionStatus.ACCEPTED
    assert [v["accepted"] for v in disposition.verifications] == [True]


def test_a_rejected_result_reopens_the_disposition_for_rework() -> None:
    disposition = in_status(DispositionStatus.SUBMITTED)
    disposition.record_verification(False, "bank not checked", meta(DISTRICT))
    disposition.submit("bank checked", meta(OFFICE))
    disposition.record_verification(True, "", meta(DISTRICT))
    assert disposition.results == ["done", "bank checked"]
    assert [v["accepted"] for v in disposition.verifications] == [False, True]
    assert disposition.status == DispositionStatus.ACCEPTED


@pytest.mark.parametrize("status", [DispositionStatus.OPEN, *FINISHED])
def test_only_a_submitted_result_is_verified(status: DispositionStatus) -> None:
    disposition = in_status(status)
    with pytest.raises(InvalidTransition):
        disposition.record_verification(True, "", meta(DISTRICT))
    assert disposition.collect_events() == []


@pytest.mark.parametrize("status", [DispositionStatus.OPEN, DispositionStatus.SUBMITTED])
def test_an_instruction_cancelled_ends_an_unfinished_disposition(
    status: DispositionStatus,
) -> None:
    disposition = in_status(status)
    disposition.end("instruction cancelled", meta(DISTRICT))
    [event] = disposition.collect_events()
    assert isinstance(event, Disposition.Ended)
    assert disposition.status == DispositionStatus.CLOSED_UNVERIFIED


@pytest.mark.parametrize("status", FINISHED)
def test_ending_a_finished_disposition_records_nothing(status: DispositionStatus) -> None:
    disposition = in_status(status)
    disposition.end("instruction cancelled", meta(DISTRICT))
    assert disposition.collect_events() == []
    assert disposition.status == status


# -- through the application ------------------------------------------------------------


def test_progress_goes_on_the_units_disposition_and_leaves_the_instruction_alone(
    app: CommandCenter,
) -> None:
    iid = signed(app, DISTRICT, OFFICE)
    version = app.instruction(iid).version
    outcome = app.report_progress(ctx(OFFICE), iid, "half of the residents moved")
    assert outcome.id == disposition_id(iid, OFFICE)
    assert event_names(app, outcome.id) == ["Opened", "ProgressReported"]
    assert app.instruction(iid).version == version


def test_units_working_jointly_each_keep_their_own_disposition(app: CommandCenter) -> None:
    iid = issue(app, DISTRICT, OFFICE, cooperating_units=[WATER])
    app.sign_for(ctx(OFFICE), iid)
    app.sign_for(ctx(WATER), iid)
    app.report_progress(ctx(OFFICE), iid, "residents moving")
    app.report_progress(ctx(WATER), iid, "spillway opening")
    ours, theirs = disposition_id(iid, OFFICE), disposition_id(iid, WATER)
    assert ours != theirs
    assert [a["text"] for a in app.disposition(ours).actions] == ["residents moving"]
    assert [a["text"] for a in app.disposition(theirs).actions] == ["spillway opening"]


def test_a_unit_that_has_not_signed_for_it_cannot_report(app: CommandCenter) -> None:
    iid = issue(app, DISTRICT, OFFICE)
    with nothing_stored(app), pytest.raises(InvalidTransition):
        app.report_progress(ctx(OFFICE), iid, "on my way")
    with nothing_stored(app), pytest.raises(NotPermitted):
        app.report_progress(ctx(OTHER_OFFICE), iid, "we are here too")


def test_no_progress_on_a_closed_instruction(app: CommandCenter) -> None:
    iid = closed(app, DISTRICT, OFFICE)
    with nothing_stored(app), pytest.raises(InvalidTransition):
        app.report_progress(ctx(OFFICE), iid, "one more thing")


def test_an_action_is_recorded_on_the_disposition_by_its_unit(app: CommandCenter) -> None:
    iid = signed(app, DISTRICT, OFFICE)
    did = disposition_id(iid, OFFICE)
    app.record_action(ctx(OFFICE), did, "Closed the bank road", ["file:1"])
    recorded = last_event(app, did)
    assert (type(recorded).__name__, recorded.evidence) == ("ActionRecorded", ["file:1"])
    assert recorded.meta.loop_id == iid


def test_another_unit_cannot_record_an_action_on_a_disposition(app: CommandCenter) -> None:
    iid = signed(app, DISTRICT, OFFICE)
    did = disposition_id(iid, OFFICE)
    for unit in (DISTRICT, OTHER_OFFICE):
        with nothing_stored(app), pytest.raises(NotPermitted):
            app.record_action(ctx(unit), did, "did something")


def test_no_action_is_recorded_once_the_instruction_is_closed(app: CommandCenter) -> None:
    iid = closed(app, DISTRICT, OFFICE)
    with nothing_stored(app), pytest.raises(InvalidTransition):
        app.record_action(ctx(OFFICE), disposition_id(iid, OFFICE), "one more photo")


def test_an_action_on_an_unknown_disposition_is_refused(app: CommandCenter) -> None:
    with nothing_stored(app), pytest.raises(NotFound):
        app.record_action(ctx(OFFICE), uuid4(), "did something")


def test_the_issuers_verification_is_recorded_on_the_leads_disposition(
    app: CommandCenter,
) -> None:
    iid = submitted(app, DISTRICT, OFFICE)
    did = disposition_id(iid, OFFICE)
    app.verify(ctx(DISTRICT), iid, accepted=False, note=" bank not checked ")
    assert app.disposition(did).status == DispositionStatus.OPEN
    assert last_event(app, did).note == "bank not checked"
    app.submit(ctx(OFFICE), iid, "bank checked")
    app.verify(ctx(DISTRICT), iid, accepted=True)
    assert event_names(app, did) == [
        "Opened",
        "ResultSubmitted",
        "Verified",
        "ResultSubmitted",
        "Verified",
    ]
    assert app.disposition(did).status == DispositionStatus.ACCEPTED


def test_cancelling_the_instruction_ends_every_disposition_on_it(app: CommandCenter) -> None:
    iid = issue(app, DISTRICT, OFFICE, cooperating_units=[WATER])
    app.sign_for(ctx(OFFICE), iid)
    app.sign_for(ctx(WATER), iid)
    app.submit(ctx(WATER), iid, "spillway opened")
    app.cancel_instruction(ctx(DISTRICT), iid, "the storm turned away")
    for unit in (OFFICE, WATER):
        did = disposition_id(iid, unit)
        assert app.disposition(did).status == DispositionStatus.CLOSED_UNVERIFIED
        assert last_event(app, did).reason == "instruction cancelled"
