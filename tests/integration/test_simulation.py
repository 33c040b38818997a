"""``closedloop demo simulate``: one storm day played on a frozen clock over a fresh
store (ADR 0050). Sleeping moves the clock instead of waiting, so the day, played
at the default speed, takes as long as its commands; the deadline watch looks at every
pause, as ``closedloop serve`` runs it beside the simulator."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import msgspec
import pytest
from freezegun import freeze_time

import audit
from closedloop import cli
from closedloop.catalogues import load_calendar
from closedloop.intake_config import build_intake
from closedloop.settings import DEFAULT_CALENDAR, Settings
from closedloop.simulation import COMMAND_PREFIX, Simulator, is_simulator
from closedloop.storm_script import Observe, ScriptError, load_script
from domain.demo import bind_demo_senders, load_demo
from domain.instruction import Instruction
from domain.meta import Actor, Context, now
from domain.warning import EarlyWarning
from domain.watch import DeadlineWatch
from projections.registry import build_views
from projections.runner import Runner
from projections.store import ViewStore
from projections.verify import verify_views
from tests.unit.builders import FrozenClockCenter

#: A summer morning in the district (02:00 UTC is 10:00 there): coaches keep the day limit.
START = "2026-07-01T02:00:00+00:00"


@pytest.fixture
def played(database_url: str) -> Iterator[tuple[FrozenClockCenter, int, list[str]]]:
    """The demo district, then one storm day at the default speed, on a fresh SQLite file
    (as ``make run``) and a fresh PostgreSQL schema; the log position where the simulator
    began, and what it said."""
    settings = Settings(database_url=database_url)
    center = FrozenClockCenter(env=settings.store_env(), calendar=load_calendar(DEFAULT_CALENDAR))
    lines: list[str] = []
    try:
        with freeze_time(START) as clock:
            load_demo(center)
            bind_demo_senders(center)
            began = center.head_position()
            watch = DeadlineWatch(center)

            def sleep(seconds: float) -> None:
                clock.tick(timedelta(seconds=seconds))
                watch.tick()

            simulator = Simulator(
                center,
                build_intake(center, settings),
                load_script(),
                seed=7,
                sleep=sleep,
                clock=lambda: now().timestamp(),
                say=lines.append,
            )
            simulator.check_district()
            assert simulator.run(once=True) == 1
        yield center, began, lines
    finally:
        center.close()


def events_since(center: FrozenClockCenter, position: int) -> list[Any]:
    return [center.mapper.to_domain_event(n) for n in center.iter_log(position + 1)]


def names(center: FrozenClockCenter, aggregate_id: UUID) -> list[str]:
    return [type(e).__name__ for e in center.history(aggregate_id)]


def test_a_storm_day_closes_loops_from_readings_and_cap_as_people_would(
    played: tuple[FrozenClockCenter, int, list[str]],
) -> None:
    center, began, lines = played
    events = events_since(center, began)
    assert not [line for line in lines if "refused" in line], lines
    warnings = {e.originator_id for e in events if type(e).__name__ == "Raised"}
    found = [center.warning(w) for w in warnings]
    by_rule = {w.rule: w for w in found}
    assert {"reservoir", "meteorological", "environment", "transportation"} <= {
        w.theme for w in found
    }
    # The reservoir rose through its levels and fell back: the rule raised and resolved it.
    reservoir = by_rule["reservoir.flood_limit"]
    assert names(center, reservoir.id).count("LevelChanged") >= 3
    assert "Resolved" in names(center, reservoir.id)
    # The CAP rainstorm warning: raised yellow, updated to orange, then cancelled.
    (rain,) = [w for w in found if w.source == "met@haiwan.gov.cn"]
    rain_events = names(center, rain.id)
    assert rain_events.index("LevelChanged") < rain_events.index("Cancelled")
    assert rain.level == 2
    assert rain.attributes["level_from"] == "colour 黄色"
    assert all(w.status == "closed" for w in found), [(w.rule, w.status) for w in found]


def test_instructions_are_signed_for_reworked_returned_late_and_closed(
    played: tuple[FrozenClockCenter, int, list[str]],
) -> None:
    center, began, _ = played
    events = events_since(center, began)
    kinds = Counter(type(e).__name__ for e in events)
    issued = {e.originator_id for e in events if type(e).__name__ == "Issued"}
    instructions = [center.instruction(i) for i in issued if center.find(i) is not None]
    instructions = [i for i in instructions if isinstance(i, Instruction)]
    assert len(instructions) >= 12
    # Playbooks issued instructions of their own, as the system, for the warnings raised.
    by_playbook = [e for e in events if type(e).__name__ == "Issued" and e.meta.role == "system"]
    assert len(by_playbook) >= 8
    for kind in ("SignedFor", "ResultSubmitted", "Verified", "ReturnedToIssuer", "Redirected"):
        assert kinds[kind] >= 1, kind
    assert any(i.rework_count >= 1 for i in instructions), "none was sent back for rework"
    late = [i for i in instructions if i.submitted_at and i.submitted_at > i.original_deadline]
    assert len(late) >= 2
    assert kinds["MarkedOverdue"] >= 1, "the deadline watch marked nothing overdue"
    assert all(i.status == "closed" for i in instructions)


def test_every_event_of_the_simulator_names_a_simulator_actor(
    played: tuple[FrozenClockCenter, int, list[str]],
) -> None:
    center, began, _ = played
    events = events_since(center, began)
    assert events
    ours = [e for e in events if is_simulator(e.meta.person)]
    # Everything else is the system answering: rules, playbooks and the deadline watch.
    others = {(e.meta.person, e.meta.role) for e in events if not is_simulator(e.meta.person)}
    assert {role for _, role in others} == {"system"}, others
    assert {e.meta.role for e in ours} == {"monitor", "dispatcher", "handler", "duty_officer"}
    for e in ours:
        person, unit = e.meta.person.rsplit("@", 1)
        assert person.endswith(e.meta.role)
        assert unit == e.meta.unit
    # Steps people take on the board are the simulator's own commands, and name the
    # script's beat as the cause where the domain names none of its own.
    steps = [e for e in ours if e.meta.role != "monitor"]
    assert all(e.meta.command_id.startswith(COMMAND_PREFIX) for e in steps)
    why = {e.meta.command for e in steps if (e.meta.cause or "").startswith("simulation storm-day")}
    assert {"SignFor", "Submit", "Verify", "Return", "AcknowledgeWarning", "CloseWarning"} <= why


def test_the_views_and_the_audit_chain_verify_after_the_day(
    played: tuple[FrozenClockCenter, int, list[str]], audit_settings: audit.AuditSettings
) -> None:
    center, _, _ = played
    store = ViewStore.for_env(center.env)
    try:
        Runner(center, store, build_views(store, center.calendar), listen=False).catch_up()
        verdicts = list(verify_views(center, store))
        assert verdicts
        assert all(v.ok for v in verdicts), [v.line() for v in verdicts]
        with store.read() as tx:
            rows = list(tx.execute("SELECT count(*) FROM instructions"))
        assert rows[0][0] >= 12
        chain = audit.AuditChain.beside(center, store, audit_settings)
        assert chain.catch_up() == center.head_position()
        verified = audit.verify(center, store, chain.signer.public)
        assert verified.ok, verified.summary()
        assert verified.chained == center.head_position()
    finally:
        store.close()


def test_a_stop_ends_the_day_between_two_beats(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'stop.sqlite3'}")
    center = FrozenClockCenter(env=settings.store_env(), calendar=load_calendar(DEFAULT_CALENDAR))
    stop = threading.Event()
    lines: list[str] = []

    def say(line: str) -> None:
        lines.append(line)
        if len(lines) == 6:  # the title, then five beats
            stop.set()

    try:
        with freeze_time(START) as clock:
            load_demo(center)
            bind_demo_senders(center)
            simulator = Simulator(
                center,
                build_intake(center, settings),
                load_script(),
                stop=stop,
                sleep=lambda s: clock.tick(timedelta(seconds=s)),
                clock=lambda: now().timestamp(),
                say=say,
            )
            assert simulator.run() == 1
        assert "stopped before beat" in lines[-1]
        assert len([line for line in lines if line.startswith("  [")]) == 5
        # What it did is whole: each warning it raised loads, with its level.
        raised = [
            center.mapper.to_domain_event(n).originator_id
            for n in center.iter_log()
            if n.topic.endswith("EarlyWarning.Raised")
        ]
        assert len(raised) == 4
        assert all(isinstance(center.find(w), EarlyWarning) for w in raised)
    finally:
        center.close()


def test_a_step_a_person_took_first_is_found_done_and_the_day_goes_on(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'first.sqlite3'}")
    center = FrozenClockCenter(env=settings.store_env(), calendar=load_calendar(DEFAULT_CALENDAR))
    person = Context(Actor(person="王芳", unit="HW-DH", role="handler"))
    lines: list[str] = []

    def scenic() -> list[Instruction]:
        issued = [
            n.originator_id for n in center.iter_log() if n.topic.endswith("Instruction.Issued")
        ]
        found = [center.instruction(i) for i in issued]
        return [i for i in found if i.title.startswith("疏导东湖景区游客")]

    def say(line: str) -> None:
        lines.append(line)
        if "issue: HW → HW-DH: 疏导东湖景区游客" in line:
            # The office's handler signs for it on the board before the simulated one.
            center.sign_for(person, scenic()[0].id)

    try:
        with freeze_time(START) as clock:
            load_demo(center)
            bind_demo_senders(center)
            simulator = Simulator(
                center,
                build_intake(center, settings),
                load_script(),
                sleep=lambda s: clock.tick(timedelta(seconds=s)),
                clock=lambda: now().timestamp(),
                say=say,
            )
            simulator.run(once=True)
        (sign,) = [line for line in lines if "[00:09] sign" in line]
        assert sign.endswith("nothing in a state for it")
        assert "over (" in lines[-1]
        (done,) = scenic()
        assert done.status == "closed"
        signed = [e for e in center.history(done.id) if type(e).__name__ == "SignedFor"]
        assert [e.meta.person for e in signed] == ["王芳"]
    finally:
        center.close()


def test_the_simulation_needs_the_demo_district_and_a_speed_above_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLOSEDLOOP_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    assert cli.main(["demo", "simulate", "--once"]) == 1
    assert "run `closedloop demo load` first" in capsys.readouterr().err
    for speed in ("0", "-5", "fast", "1e9"):
        with pytest.raises(SystemExit) as exit_:
            cli.main(["demo", "simulate", "--speed", speed])
        assert exit_.value.code == 2
        assert "--speed" in capsys.readouterr().err


def test_a_reading_outside_its_monitors_subtree_is_refused_before_anything_is_played(
    tmp_path: Path,
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'reach.sqlite3'}")
    center = FrozenClockCenter(env=settings.store_env(), calendar=load_calendar(DEFAULT_CALENDAR))
    try:
        load_demo(center)
        bind_demo_senders(center)
        day = load_script()
        beats = tuple(
            replace(b, act=msgspec.structs.replace(b.act, monitor="HW-DH"))
            if isinstance(b.act, Observe) and b.act.unit == "E-QSRES"
            else b
            for b in day.beats
        )
        head = center.head_position()
        simulator = Simulator(center, build_intake(center, settings), day._replace(beats=beats))
        with pytest.raises(ScriptError, match="a monitor of HW-DH reports only for units under it"):
            simulator.check_district()
        assert center.head_position() == head
    finally:
        center.close()
