"""The notices view (ADR 0077) on SQLite and PostgreSQL: a notice and its receipts as the
aggregate has them, listed for the sender's and the addressees' subtrees, and equal to a
rebuild (``projections verify``)."""

from __future__ import annotations

from datetime import timedelta

from domain.application import CommandCenter
from domain.demo import load_demo
from domain.meta import Actor, Context, now
from domain.notice_commands import NoticeCases
from domain.notice_watch import NoticeWatch
from domain.roster import ShiftPlan
from domain.roster_commands import RosterCases
from projections.notices import notices
from projections.runner import Runner
from projections.store import ViewStore
from projections.verify import verify_views


def _ctx(unit: str, role: str) -> Context:
    return Context(Actor(person=f"{role}@{unit}", unit=unit, role=role))


def test_the_notices_view_follows_sends_receipts_and_reminders_and_verifies(
    center: CommandCenter, store: ViewStore
) -> None:
    load_demo(center)
    cases = NoticeCases(center)
    limit = now() + timedelta(hours=1)
    nid = cases.send(
        _ctx("HW-DH", "dispatcher"),
        title="Meeting at nine",
        body="In the hall.",
        kind="meeting",
        confirm_by=limit,
        addressees=["HW-DH-QS", "HW-DH-HP", "HW-DH-LY"],
    ).id
    cases.confirm_receipt(_ctx("HW-DH-QS", "duty_officer"), nid)
    cases.confirm_receipt(_ctx("HW-DH-HP", "duty_officer"), nid, at=limit + timedelta(minutes=5))
    # Who is on duty at the late community when the watch reminds it (ADR 0098).
    RosterCases(center).arrange_shifts(
        _ctx("SYSTEM", "system"),
        "HW-DH-LY",
        [ShiftPlan("duty_officer", "值班员孙八", "副班", now(), limit + timedelta(hours=2))],
    )
    NoticeWatch(center).tick(limit + timedelta(minutes=10))
    Runner(center, store).catch_up()

    with store.transaction() as tx:
        (row,), _ = notices(tx, visible_to="HW-DH-QS")
        assert (row["addressed"], row["confirmed"], row["late"], row["reminded"]) == (3, 2, 1, 1)
        assert notices(tx, visible_to="HW")[0][0]["id"] == str(nid)
        assert notices(tx, visible_to="HW-XL")[0] == []
        assert notices(tx, visible_to=None, addressee="HW-DH-LY")[0][0]["id"] == str(nid)
        receipts = dict(
            tx.execute(
                "SELECT unit, status || ':' || reminded FROM notice_receipts "
                "WHERE notice_id = ? ORDER BY unit",
                (str(nid),),
            )
        )
        named = dict(
            tx.execute(
                "SELECT unit, reminded_on_duty FROM notice_receipts WHERE notice_id = ?",
                (str(nid),),
            )
        )
    assert receipts == {"HW-DH-HP": "late:0", "HW-DH-LY": "missing:1", "HW-DH-QS": "on_time:0"}
    assert named == {"HW-DH-HP": None, "HW-DH-LY": "值班员孙八", "HW-DH-QS": None}

    verdicts = {v.view: v for v in verify_views(center, store)}
    assert verdicts["notices"].ok, verdicts["notices"].line()
