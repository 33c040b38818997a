"""The whistles view (ADR 0078) on SQLite and PostgreSQL: its rows and figures follow
the log, ``projections verify`` finds it identical to a rebuild, and the check-in watch
restarted on the same store acts nothing twice."""

from __future__ import annotations

from datetime import timedelta

from domain.application import CommandCenter
from domain.demo import load_demo
from domain.meta import Actor, Context, now
from domain.whistle_watch import CheckInWatch
from projections.runner import Runner
from projections.store import ViewStore
from projections.verify import verify_views
from projections.whistles import figures, whistle


def _as(unit: str, **kw: object) -> Context:
    return Context(Actor(person=f"p@{unit}", unit=unit, role="dispatcher"), **kw)  # type: ignore[arg-type]


def test_the_view_counts_each_department_and_verifies_against_a_rebuild(
    center: CommandCenter, store: ViewStore
) -> None:
    load_demo(center)
    earlier = now() - timedelta(hours=2)
    wid = center.blow_whistle(
        _as("HW-DH", occurred_at=earlier),
        unit="HW-DH",
        matter="a blocked drain",
        place="Hupan road 12",
        departments=["HW-WATER", "HW-URBAN", "HW-TRANS"],
    ).id
    center.check_in(_as("HW-WATER", occurred_at=earlier + timedelta(minutes=10)), wid, "Li")
    center.check_in(_as("HW-URBAN", occurred_at=earlier + timedelta(minutes=50)), wid, "Zhao")
    # The watch, then the same watch restarted (a new one, reading the log from the start).
    first = CheckInWatch(center).tick()
    assert [(a["act"], a["department"]) for a in first] == [
        ("remind", "HW-TRANS"),
        ("escalate", "HW-TRANS"),
    ]
    assert CheckInWatch(center).tick() == []
    center.close_whistle(_as("HW-DH"), wid, "cleared")
    Runner(center, store).catch_up()

    with store.read() as tx:
        row = whistle(tx, str(wid))
        counted = {f["department"]: f for f in figures(tx, visible_to="HW")}
        outside = figures(tx, visible_to="HW-XL")
    assert row is not None
    assert row["status"] == "closed"
    by = {s["department"]: s for s in row["summons"]}
    assert by["HW-TRANS"]["reminded"] == 1
    assert by["HW-TRANS"]["escalated_to"] == "HW"
    # By hand: water on time after 600 s, urban late after 3000 s, transport absent.
    assert counted == {
        "HW-TRANS": {
            "department": "HW-TRANS",
            "summoned": 1,
            "on_time": 0,
            "late": 0,
            "absent": 1,
            "mean_seconds_to_check_in": None,
        },
        "HW-URBAN": {
            "department": "HW-URBAN",
            "summoned": 1,
            "on_time": 0,
            "late": 1,
            "absent": 0,
            "mean_seconds_to_check_in": 3000.0,
        },
        "HW-WATER": {
            "department": "HW-WATER",
            "summoned": 1,
            "on_time": 1,
            "late": 0,
            "absent": 0,
            "mean_seconds_to_check_in": 600.0,
        },
    }
    assert outside == []
    verdicts = {v.view: v for v in verify_views(center, store)}
    assert verdicts["whistles"].ok, verdicts["whistles"].line()
