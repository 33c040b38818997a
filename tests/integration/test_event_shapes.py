"""Stored events keep loading after their classes change shape (ADR 0004).

Two halves. First, the mechanism, on each real store: events written in an older shape
are put straight into the store through the recorder, as an older release wrote them,
and loaded by today's classes, one field added with a default and one event upcast
from version 1 to 2. The aggregate that shows it is defined here, not in the domain.

Second, the guard: ``event_shapes.json`` records the fields of every event class of the
domain. A change that would stop old events from loading (a field removed, a field
without a default added, a class gone) fails unless the class's ``class_version`` is
raised with an upcaster for each step. When a change is intentional and follows the
rule, regenerate the record in the same commit::

    .venv/bin/python -m tests.integration.test_event_shapes
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import pkgutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Aggregate, decorated_funcs, event
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import TopicError, get_topic, resolve_topic

import domain
from domain.access_token import AccessToken, access_token_id
from domain.application import CommandCenter
from domain.base import LoopAggregate
from domain.idempotency_record import IdempotencyRecord, record_id
from domain.instruction import Instruction
from domain.meta import Actor, Context, Meta
from domain.notice import Notice
from domain.observation_batch import ObservationBatch, batch_id
from domain.token_roster import ROSTER_ID, TokenRoster
from domain.whistle import Whistle
from texts.timeline import describe

SHAPES_FILE = Path(__file__).with_name("event_shapes.json")
REGENERATE = ".venv/bin/python -m tests.integration.test_event_shapes"
RULE = (
    "Stored events are never rewritten, so every event class must still load every shape "
    "it was ever stored in (docs/adr/0004). Add a field only with a constant default, "
    "given both on the event class and on the parameter of the @event method that applies "
    "it; for anything else (remove, rename or retype a field, add one with no natural "
    "default) raise the class's class_version to N+1 and add "
    "@staticmethod upcast_vN_vN1(state) that edits the stored state into the new shape, "
    "with a test that loads the old shape. A renamed or moved class keeps its old topic "
    "with eventsourcing.utils.register_topic."
)

Shape = dict[str, Any]

# -- the mechanism, on a logbook that stands in for any domain aggregate -------------------

DESK = Actor(person="zhou.lan", unit="HW", role="duty officer")


class Logbook(LoopAggregate):
    """A duty desk's logbook, in its second shape."""

    class Opened(LoopAggregate.Created):
        title: str
        # Added in the second shape: the first one had a single desk, so the default is
        # true of every logbook opened before.
        desk: str = "district duty desk"

    class Noted(LoopAggregate.Event):
        text: str
        severity: str

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # Notes written before severity existed were never triaged; saying "routine"
            # would claim a judgement nobody made.
            state["severity"] = "untriaged"

    @event(Opened)
    def __init__(self, title: str, meta: Meta, desk: str = "district duty desk") -> None:
        self.title = title
        self.desk = desk
        self.notes: list[dict[str, str]] = []

    def note(self, text: str, severity: str, meta: Meta) -> None:
        self._noted(text=text, severity=severity, meta=meta)

    @event(Noted)
    def _noted(self, text: str, severity: str, meta: Meta) -> None:
        self.notes.append({"text": text, "severity": severity})


class HalfDone(LoopAggregate):
    """A field added with only one of its two defaults: old events fail to apply."""

    class Opened(LoopAggregate.Created):
        desk: str = "district duty desk"

    @event(Opened)
    def __init__(self, meta: Meta, desk: str) -> None:
        self.desk = desk


def meta(command: str, loop_id: UUID) -> Meta:
    return Context(DESK).meta(command, loop_id)


def store_old_shape(
    center: CommandCenter, aggregate_id: UUID, version: int, cls: type, state: dict[str, Any]
) -> None:
    """Put an event into the store exactly as an older release would have written it."""
    # The state goes through the application's own transcoder (datetimes, UUIDs, Meta),
    # and nothing else: this store has no compression and no cipher to apply.
    assert center.mapper.compressor is None
    assert center.mapper.cipher is None
    stored = StoredEvent(
        originator_id=aggregate_id,
        originator_version=version,
        topic=get_topic(cls),
        state=center.mapper.transcoder.encode(state),
    )
    center.recorder.insert_events([stored])


def stored_state(center: CommandCenter, aggregate_id: UUID, version: int) -> dict[str, Any]:
    (stored,) = center.recorder.select_events(aggregate_id, gt=version - 1, lte=version)
    decoded: dict[str, Any] = json.loads(stored.state)
    return decoded


def open_old_logbook(center: CommandCenter) -> UUID:
    """A logbook whose two events were stored in the first shape: no desk, no severity."""
    logbook_id = uuid4()
    store_old_shape(
        center,
        logbook_id,
        1,
        Logbook.Opened,
        {
            "timestamp": datetime(2026, 7, 1, 0, 30, tzinfo=UTC),
            "originator_topic": get_topic(Logbook),
            "meta": meta("OpenLogbook", logbook_id),
            "title": "台风“海葵”值班日志",
        },
    )
    store_old_shape(
        center,
        logbook_id,
        2,
        Logbook.Noted,
        {
            "timestamp": datetime(2026, 7, 1, 1, 5, tzinfo=UTC),
            "meta": meta("Note", logbook_id),
            "text": "Qingshan reservoir at 41.2 m, 0.3 m under the flood limit",
        },
    )
    return logbook_id


def test_an_event_stored_before_a_field_was_added_loads_with_that_fields_default(
    center: CommandCenter,
) -> None:
    logbook_id = open_old_logbook(center)

    assert "desk" not in stored_state(center, logbook_id, 1)
    logbook: Logbook = center.repository.get(logbook_id)
    assert isinstance(logbook, Logbook)
    assert logbook.title == "台风“海葵”值班日志"
    assert logbook.desk == "district duty desk"
    (opened, _) = center.history(logbook_id)
    assert opened.desk == "district duty desk"


def test_an_event_stored_in_version_1_is_upcast_to_version_2_when_loaded(
    center: CommandCenter,
) -> None:
    logbook_id = open_old_logbook(center)

    old = stored_state(center, logbook_id, 2)
    assert "severity" not in old
    assert "class_version" not in old
    logbook: Logbook = center.repository.get(logbook_id)
    assert logbook.notes == [
        {
            "text": "Qingshan reservoir at 41.2 m, 0.3 m under the flood limit",
            "severity": "untriaged",
        }
    ]
    (_, noted) = center.history(logbook_id)
    assert noted.severity == "untriaged"
    assert noted.meta.person == "zhou.lan"


def test_an_event_written_today_records_its_version_and_is_not_upcast_again(
    center: CommandCenter,
) -> None:
    logbook_id = open_old_logbook(center)
    logbook: Logbook = center.repository.get(logbook_id)
    logbook.note("reservoir released 120 m³/s", "urgent", meta("Note", logbook_id))
    center.save(logbook)

    new = stored_state(center, logbook_id, 3)
    assert new["class_version"] == 2
    assert new["severity"] == "urgent"
    again: Logbook = center.repository.get(logbook_id)
    assert [n["severity"] for n in again.notes] == ["untriaged", "urgent"]


def test_a_field_with_a_default_on_the_class_only_breaks_loading_old_events(
    center: CommandCenter,
) -> None:
    desk_id = uuid4()
    store_old_shape(
        center,
        desk_id,
        1,
        HalfDone.Opened,
        {
            "timestamp": datetime(2026, 7, 1, tzinfo=UTC),
            "originator_topic": get_topic(HalfDone),
            "meta": meta("OpenDesk", desk_id),
        },
    )

    # Why the guard below asks for the default twice (ADR 0004, rule 2).
    with pytest.raises(TypeError, match="desk"):
        center.repository.get(desk_id)


def store_under_topic(
    center: CommandCenter, aggregate_id: UUID, version: int, topic: str, state: dict[str, Any]
) -> None:
    """Put an event into the store under a topic given as text, as an older release named it."""
    stored = StoredEvent(
        originator_id=aggregate_id,
        originator_version=version,
        topic=topic,
        state=center.mapper.transcoder.encode(state),
    )
    center.recorder.insert_events([stored])


def test_tokens_and_idempotency_records_stored_under_their_old_api_topics_still_load(
    center: CommandCenter,
) -> None:
    # Before ADR 0033 these aggregates lived in api/tokens.py and api/idempotency.py.
    at = datetime(2026, 7, 1, 0, 30, tzinfo=UTC)
    token_id = access_token_id("f" * 64)
    store_under_topic(
        center,
        token_id,
        1,
        "api.tokens:AccessToken.Issued",
        {
            "timestamp": at,
            "originator_topic": "api.tokens:AccessToken",
            "token_hash": "f" * 64,
            "token_id": "tok_0123456789abcdef",
            "user": "li.wei",
            "unit": "HW",
            "roles": ["dispatcher"],
            "label": "duty desk",
            "issued_by": "cli",
        },
    )
    store_under_topic(
        center,
        token_id,
        2,
        "api.tokens:AccessToken.Revoked",
        {"timestamp": at, "by": "cli", "reason": "lost"},
    )
    store_under_topic(
        center,
        ROSTER_ID,
        1,
        "api.tokens:TokenRoster.Started",
        {"timestamp": at, "originator_topic": "api.tokens:TokenRoster"},
    )
    store_under_topic(
        center,
        ROSTER_ID,
        2,
        "api.tokens:TokenRoster.Listed",
        {
            "timestamp": at,
            "token_id": "tok_0123456789abcdef",
            "aggregate_id": token_id,
            "user": "li.wei",
            "unit": "HW",
            "roles": ["dispatcher"],
            "label": "duty desk",
            "issued_at": at,
        },
    )
    record = record_id("tok_0123456789abcdef", "key-1")
    store_under_topic(
        center,
        record,
        1,
        "api.idempotency:IdempotencyRecord.Recorded",
        {
            "timestamp": at,
            "originator_topic": "api.idempotency:IdempotencyRecord",
            "token_id": "tok_0123456789abcdef",
            "key": "key-1",
            "request_hash": "0" * 64,
            "status": 201,
            "body": "{}",
            "headers": {"ETag": '"1"'},
        },
    )

    token = center.repository.get(token_id)
    roster = center.repository.get(ROSTER_ID)
    replayed = center.repository.get(record)

    assert isinstance(token, AccessToken)
    assert token.revoked
    assert isinstance(roster, TokenRoster)
    assert roster.entries["tok_0123456789abcdef"]["user"] == "li.wei"
    assert isinstance(replayed, IdempotencyRecord)
    assert replayed.status == 201


def test_a_batch_stored_when_it_shared_the_conditions_module_still_loads(
    center: CommandCenter,
) -> None:
    # Before ADR 0033 ObservationBatch stood beside Condition in domain/condition.py.
    bid = batch_id("HW-WR", "hydro-0001")
    store_under_topic(
        center,
        bid,
        1,
        "domain.condition:ObservationBatch.Recorded",
        {
            "timestamp": datetime(2026, 7, 1, 0, 30, tzinfo=UTC),
            "originator_topic": "domain.condition:ObservationBatch",
            "meta": meta("ObserveBatch", bid),
            "unit": "HW-WR",
            "batch": "hydro-0001",
            "readings": 1,
            "results": [{"index": 0, "rule": None, "action": "no_rule", "warning_id": None}],
        },
    )

    batch = center.repository.get(bid)

    assert isinstance(batch, ObservationBatch)
    assert batch.readings == 1
    assert batch.results[0]["action"] == "no_rule"


# -- the watches' steps stored before they named the person on duty (ADR 0098) ------------

#: Each event of a watch's step that names the person on duty, with its own fields as its
#: first version stored them; what it reads as now, naming nobody.
FIRST_VERSIONS: list[tuple[type, dict[str, Any], dict[str, Any]]] = [
    (Instruction.Reminded, {"note": "请加快"}, {"on_duty": None, "on_roster": False}),
    (
        Instruction.MarkedOverdue,
        {"deadline": datetime(2026, 7, 1, 10, tzinfo=UTC), "note": ""},
        {"on_duty": None, "on_roster": False},
    ),
    (
        Instruction.Supervised,
        {"supervisor": "HC", "note": "重点督办"},
        {"on_duty": None, "on_roster": False},
    ),
    (
        Instruction.FollowUpReminded,
        {"due_at": datetime(2026, 7, 3, 10, tzinfo=UTC)},
        {"on_duty": None, "on_roster": False},
    ),
    (Whistle.Reminded, {"department": "HW-URBAN"}, {"on_duty": None, "on_roster": False}),
    (
        Whistle.Escalated,
        {"department": "HW-URBAN", "to": "HW"},
        {"on_duty": None, "on_roster": False},
    ),
    (Notice.LateReminded, {"units": ["HW-DH-HP", "HW-DH-QS"]}, {"on_duty": {}}),
]


@pytest.mark.parametrize(
    ("cls", "first", "named"), FIRST_VERSIONS, ids=[c.__qualname__ for c, _, _ in FIRST_VERSIONS]
)
def test_a_watchs_step_stored_before_it_named_anyone_reads_as_naming_nobody(
    center: CommandCenter, cls: type, first: dict[str, Any], named: dict[str, Any]
) -> None:
    aggregate_id = uuid4()
    state = {
        "timestamp": datetime(2026, 7, 1, 10, 5, tzinfo=UTC),
        "meta": meta("Watch", aggregate_id),
    }
    store_old_shape(center, aggregate_id, 2, cls, {**state, **first})

    (stored,) = center.recorder.select_events(aggregate_id)
    assert "class_version" not in json.loads(stored.state)
    event = center.mapper.to_domain_event(stored)

    assert type(event) is cls
    assert {name: getattr(event, name) for name in first} == first
    assert {name: getattr(event, name) for name in named} == named
    # The line on the timeline reads as it did before the name was kept.
    name = cls.__qualname__
    assert describe(name, vars(event), "en", "Asia/Shanghai") != name


def test_a_notice_reminded_before_it_named_anyone_still_loads_and_names_nobody(
    center: CommandCenter,
) -> None:
    nid = uuid4()
    at = datetime(2026, 7, 1, 2, tzinfo=UTC)
    store_old_shape(
        center,
        nid,
        1,
        Notice.Sent,
        {
            "timestamp": at,
            "originator_topic": get_topic(Notice),
            "meta": meta("SendNotice", nid),
            "sender": "HW-DH",
            "title": "台风“海葵”将至",
            "body": "请于18时前检查堤防。",
            "kind": "warning",
            "confirm_by": datetime(2026, 7, 1, 10, tzinfo=UTC),
            "addressees": ["HW-DH-HP", "HW-DH-QS"],
        },
    )
    store_old_shape(
        center,
        nid,
        2,
        Notice.LateReminded,
        {"timestamp": at, "meta": meta("RemindLateReceipts", nid), "units": ["HW-DH-HP"]},
    )

    notice = center.repository.get(nid)

    assert isinstance(notice, Notice)
    assert notice.reminded == ["HW-DH-HP"]
    assert notice.on_duty_when_reminded("HW-DH-HP") is None
    (_, reminded) = center.history(nid)
    assert reminded.on_duty == {}
    assert describe("Notice.LateReminded", vars(reminded), "zh", "Asia/Shanghai") == (
        "签收时限已过，催办未签收单位：HW-DH-HP"
    )


# -- the guard over the domain's event classes ---------------------------------------------


def domain_aggregates() -> list[type[LoopAggregate]]:
    """Every aggregate class defined in domain/, found after importing all its modules."""
    for module in pkgutil.iter_modules(domain.__path__, "domain."):
        importlib.import_module(module.name)
    found: list[type[LoopAggregate]] = []
    pending = list(LoopAggregate.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] == "domain":
            found.append(cls)
    return sorted(found, key=get_topic)


def domain_event_classes() -> dict[str, type]:
    """Every event class nested in a domain aggregate, by topic (its name on the record)."""
    return {
        get_topic(value): value
        for aggregate in domain_aggregates()
        for value in vars(aggregate).values()
        if isinstance(value, type) and issubclass(value, Aggregate.Event)
    }


def field_kind(f: dataclasses.Field[Any]) -> str:
    if f.default is not dataclasses.MISSING:
        return "default"
    if f.default_factory is not dataclasses.MISSING:
        # The mapper sets a stored event's __dict__ without running __init__, so a
        # factory gives an old event nothing: it counts as no default at all.
        return "default_factory"
    return "required"


def shape_of(cls: type) -> Shape:
    return {
        "class_version": getattr(cls, "class_version", 1),
        "fields": {f.name: field_kind(f) for f in dataclasses.fields(cls)},
    }


def applier_of(cls: type) -> Callable[..., Any] | None:
    """The method that applies events of this class to an aggregate."""
    if cls in decorated_funcs:
        func: Callable[..., Any] = decorated_funcs[cls]
        return func
    if issubclass(cls, Aggregate.Created):
        try:
            aggregate = resolve_topic(get_topic(cls).rsplit(".", 1)[0])
        except TopicError:
            return None
        init: Callable[..., Any] = aggregate.__init__
        return init
    return None


def shape_violations(recorded: Mapping[str, Shape], current: Mapping[str, type]) -> list[str]:
    """How the current classes break the rule against the shapes on record."""
    problems: list[str] = []
    for topic, old in sorted(recorded.items()):
        cls = current.get(topic)
        if cls is None:
            try:
                cls = resolve_topic(topic)
            except TopicError:
                problems.append(
                    f"{topic}: the class is gone, so its stored events no longer load; keep "
                    "it, or register its old topic for the class that replaces it"
                )
                continue
        old_version, new_version = old["class_version"], getattr(cls, "class_version", 1)
        if new_version < old_version:
            problems.append(f"{topic}: class_version went down from {old_version}")
            continue
        if new_version > old_version:
            problems += [
                f"{topic}: class_version is {new_version} but upcast_v{n}_v{n + 1} is missing"
                for n in range(old_version, new_version)
                if not callable(getattr(cls, f"upcast_v{n}_v{n + 1}", None))
            ]
            continue
        now = shape_of(cls)["fields"]
        problems += [
            f"{topic}: field {name!r} was removed without raising class_version"
            for name in old["fields"]
            if name not in now
        ]
        applier = applier_of(cls)
        parameters = inspect.signature(applier).parameters if applier else {}
        for name, kind in now.items():
            if name in old["fields"]:
                continue
            if kind != "default":
                problems.append(
                    f"{topic}: field {name!r} was added with no constant default "
                    f"({kind}) without raising class_version"
                )
            elif name in parameters and parameters[name].default is inspect.Parameter.empty:
                problems.append(
                    f"{topic}: field {name!r} has a default on the class but not on the "
                    f"parameter of {getattr(applier, '__qualname__', applier)}, which "
                    "old events will call without it"
                )
    return problems


def current_shapes() -> dict[str, Shape]:
    return {topic: shape_of(cls) for topic, cls in sorted(domain_event_classes().items())}


def recorded_shapes() -> dict[str, Shape]:
    data: dict[str, Shape] = json.loads(SHAPES_FILE.read_text(encoding="utf-8"))["events"]
    return data


def write_shapes() -> None:
    document = {
        "about": f"Fields of every stored event class. {RULE} Regenerate with: {REGENERATE}",
        "events": current_shapes(),
    }
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    SHAPES_FILE.write_text(text, encoding="utf-8")


def test_the_guard_sees_every_event_class_of_the_domain() -> None:
    topics = set(domain_event_classes())

    assert "domain.warning:EarlyWarning.Repeated" in topics
    assert "domain.instruction:Instruction.Issued" in topics
    assert "domain.network:Network.UnitJoined" in topics
    assert not any(topic.startswith("tests.") for topic in topics)


def test_no_stored_event_shape_is_broken_without_a_new_class_version() -> None:
    problems = shape_violations(recorded_shapes(), domain_event_classes())

    assert problems == [], (
        "An event class changed shape in a way that stops stored events from loading:\n  "
        + "\n  ".join(problems)
        + f"\n\n{RULE}\nOnce the change follows the rule, regenerate the record with "
        f"{REGENERATE}"
    )


def test_the_record_of_event_shapes_is_up_to_date() -> None:
    recorded, current = recorded_shapes(), current_shapes()

    changed = sorted(
        t for t in recorded.keys() | current.keys() if recorded.get(t) != current.get(t)
    )
    assert changed == [], (
        f"{SHAPES_FILE.name} differs from the event classes for: {', '.join(changed)}.\n"
        "If no rule is broken (the test above passes), record the new shapes in the same "
        f"commit as the change: {REGENERATE}\nand show the diff in review. {RULE}"
    )


# The guard must catch each kind of break; these feed it altered records of real classes.


def domain_record_without(topic: str, field: str) -> dict[str, Shape]:
    recorded = current_shapes()
    del recorded[topic]["fields"][field]
    return recorded


def test_the_guard_refuses_a_field_added_without_a_default() -> None:
    recorded = domain_record_without("domain.warning:EarlyWarning.Repeated", "level")

    problems = shape_violations(recorded, domain_event_classes())

    assert problems == [
        "domain.warning:EarlyWarning.Repeated: field 'level' was added with no constant "
        "default (required) without raising class_version"
    ]


def test_the_guard_refuses_a_field_removed() -> None:
    recorded = current_shapes()
    recorded["domain.instruction:Instruction.Verified"]["fields"]["verifier"] = "required"

    problems = shape_violations(recorded, domain_event_classes())

    assert problems == [
        "domain.instruction:Instruction.Verified: field 'verifier' was removed "
        "without raising class_version"
    ]


def test_the_guard_refuses_an_event_class_that_is_gone() -> None:
    recorded = current_shapes()
    recorded["domain.warning:EarlyWarning.Silenced"] = {"class_version": 1, "fields": {}}

    problems = shape_violations(recorded, domain_event_classes())

    assert len(problems) == 1
    assert problems[0].startswith("domain.warning:EarlyWarning.Silenced: the class is gone")


def test_the_guard_accepts_an_upcast_version_and_a_field_with_both_defaults() -> None:
    first_shape = {
        get_topic(Logbook.Opened): {
            "class_version": 1,
            "fields": {k: v for k, v in shape_of(Logbook.Opened)["fields"].items() if k != "desk"},
        },
        get_topic(Logbook.Noted): {
            "class_version": 1,
            "fields": {"text": "required", "meta": "required"},
        },
    }
    current = {get_topic(Logbook.Opened): Logbook.Opened, get_topic(Logbook.Noted): Logbook.Noted}

    assert shape_violations(first_shape, current) == []


def test_the_guard_refuses_a_new_version_without_its_upcaster(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Logbook.Noted, "class_version", 3)
    recorded = {get_topic(Logbook.Noted): {"class_version": 1, "fields": {}}}

    problems = shape_violations(recorded, {get_topic(Logbook.Noted): Logbook.Noted})

    assert problems == [
        f"{get_topic(Logbook.Noted)}: class_version is 3 but upcast_v2_v3 is missing"
    ]


def test_the_guard_refuses_a_default_given_on_the_class_but_not_on_the_method() -> None:
    topic = get_topic(HalfDone.Opened)
    fields = shape_of(HalfDone.Opened)["fields"]
    del fields["desk"]

    problems = shape_violations(
        {topic: {"class_version": 1, "fields": fields}}, {topic: HalfDone.Opened}
    )

    assert problems == [
        f"{topic}: field 'desk' has a default on the class but not on the parameter of "
        "HalfDone.__init__, which old events will call without it"
    ]


if __name__ == "__main__":
    write_shapes()
    print(f"wrote {SHAPES_FILE}")


def test_every_old_topic_resolves_in_a_process_that_imported_only_the_application() -> None:
    # A follower (`projections run`, `notifiers run`) imports the application and its own
    # modules, not the API's: the old topics must resolve there too (ADR 0033).
    probe = (
        "import domain.application\n"
        "from eventsourcing.utils import resolve_topic\n"
        "for topic in (\n"
        "    'api.tokens:AccessToken.Issued', 'api.tokens:AccessToken.Revoked',\n"
        "    'api.tokens:TokenRoster.Started', 'api.tokens:TokenRoster.Listed',\n"
        "    'api.idempotency:IdempotencyRecord.Recorded',\n"
        "    'domain.condition:ObservationBatch.Recorded',\n"
        "):\n"
        "    resolve_topic(topic)\n"
        "import sys\n"
        "print('api' in sys.modules)\n"
    )

    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False"]
