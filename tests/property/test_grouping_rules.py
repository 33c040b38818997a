"""Grouping and inhibition rules (ADR 0087), for any input: a group key is shared
exactly by breaches of one rule at one unit with equal grouping labels, and none when
a label is missing; a group's warning lists each member once, takes its worst active
member's level and is resolved exactly when its last member is; a breach joins a group
exactly within the window; an inhibitor found inhibits, and none found means none
would; and, over the real command center, every inhibited warning is kept and is
released exactly when no open source explains it any more."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.application import CommandCenter
from domain.demo import load_demo
from domain.grouping import group_key, joins
from domain.inhibition import Alerting, InhibitRule, inhibitor_of
from domain.inhibition_watch import InhibitionWatch
from domain.meta import Actor, Context, Meta
from domain.playbook_runner import PlaybookRunner
from domain.warning import EarlyWarning, WarningStatus

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
labels = st.dictionaries(
    st.sampled_from(["reservoir", "road", "site"]), st.sampled_from(["a", "b"]), max_size=3
)
units = st.sampled_from(["HW", "HW-DH", "HW-DH-QS", "HW-XL", "HW-XL-SQ"])


@given(
    by=st.lists(
        st.sampled_from(["reservoir", "road", "site"]), min_size=1, max_size=3, unique=True
    ),
    one=labels,
    two=labels,
    u1=units,
    u2=units,
)
def test_a_group_key_is_shared_exactly_by_equal_labels_at_one_unit(
    by: list[str], one: dict[str, str], two: dict[str, str], u1: str, u2: str
) -> None:
    k1 = group_key("r", by, {**one, "unit": u1})
    k2 = group_key("r", by, {**two, "unit": u2})
    assert (k1 is None) == any(name not in one for name in by)
    if k1 is not None and k2 is not None:
        same = u1 == u2 and all(one[n] == two[n] for n in by)
        assert (k1 == k2) == same
        assert group_key("other", by, {**one, "unit": u1}) != k1


@given(opened=st.integers(-1000, 1000), at=st.integers(-1000, 1000), window=st.integers(1, 1440))
def test_a_breach_joins_exactly_within_the_window(opened: int, at: int, window: int) -> None:
    t0, t1 = NOW + timedelta(minutes=opened), NOW + timedelta(minutes=at)
    assert joins(t0, t1, timedelta(minutes=window)) == (at - opened <= window)


def _meta(n: int) -> Meta:
    return Meta(
        person="closedloop",
        unit="SYSTEM",
        role="system",
        command="X",
        command_id=f"c{n}",
        occurred_at=NOW,
        loop_id=uuid4(),
    )


def _group(first: str, level: int) -> EarlyWarning:
    return EarlyWarning.raise_(
        source="s",
        rule="r",
        theme="reservoir",
        level=level,
        title="t",
        description=None,
        location=None,
        unit="E-QSRES",
        observed_at=NOW,
        dedup_key="group:r|reservoir=a",
        attributes={"subject": first, "group": {"key": "k"}},
        meta=_meta(0),
    )


ops = st.lists(
    st.tuples(
        st.sampled_from(["join", "level", "resolve"]),
        st.sampled_from(["s1", "s2", "s3", "s4"]),
        st.integers(1, 4),
    ),
    max_size=30,
)


@given(first=st.integers(1, 4), steps=ops)
def test_a_groups_warning_lists_each_member_once_at_its_worst_active_level(
    first: int, steps: list[tuple[str, str, int]]
) -> None:
    w = _group("s1", first)
    model: dict[str, tuple[int, bool]] = {"s1": (first, True)}
    for n, (op, member, level) in enumerate(steps, start=1):
        if not w.is_open:
            break
        meta = _meta(n)
        if op == "join":
            if w.join(member, level, NOW, {}, meta):
                model[member] = (level, True)
                w.follow_members("joined", meta)
        elif op == "level":
            w.change_member_level(member, level, "changed", meta)
            if member in model and model[member][1]:
                model[member] = (level, True)
        else:
            last = w.resolve_member(member, "", meta)
            if member in model and model[member][1]:
                model[member] = (model[member][0], False)
            if last:
                w.resolve("every member normal", meta)
        active = [lvl for lvl, on in model.values() if on]
        # Each member listed once, as the model has it.
        assert {m: (v["level"], v["active"]) for m, v in w.group_members.items()} == model
        if active:
            assert w.is_open
            assert w.level == min(active)
        else:
            assert w.status == WarningStatus.RESOLVED


alerting = st.builds(
    Alerting,
    id=st.builds(uuid4),
    rule=st.sampled_from(["cap:暴雨", "feed.silent", "reservoir.flood_limit"]),
    level=st.integers(1, 4),
    unit=units,
    labels=st.fixed_dictionaries(
        {"station": st.sampled_from(["a", "b"]), "metric": st.sampled_from(["x", "y"])}
    ),
)
RULES = [
    InhibitRule(
        "rain", ("cap:暴雨*",), ("cap:暴雨*",), frozenset({1}), frozenset({3, 4}), ("area",)
    ),
    InhibitRule("silent", ("feed.silent",), ("reservoir.*",), equal=("station", "metric")),
]
PARENT = {"HW-DH": "HW", "HW-DH-QS": "HW-DH", "HW-XL": "HW", "HW-XL-SQ": "HW-XL"}


def within(code: str, ancestor: str) -> bool:
    while True:
        if code == ancestor:
            return True
        if code not in PARENT:
            return False
        code = PARENT[code]


@given(target=alerting, sources=st.lists(alerting, max_size=6))
def test_an_inhibitor_found_inhibits_and_none_found_means_none_would(
    target: Alerting, sources: list[Alerting]
) -> None:
    found = inhibitor_of(RULES, target, sources, within)
    if found is None:
        assert not any(r.inhibits(s, target, within) for r in RULES for s in sources)
    else:
        rule, source = found
        assert rule.inhibits(source, target, within)
        assert source.id != target.id
        assert source.rule != target.rule or rule.name == "rain"


# -- over the real command center: an inhibited warning is never lost --------------------

MET = Actor(person="met", unit="HW", role="monitor")
acts = st.lists(
    st.one_of(
        st.tuples(st.just("raise"), units, st.integers(1, 4)),
        st.tuples(st.just("end"), st.integers(0, 20), st.just(0)),
        st.tuples(st.just("tick"), st.just(""), st.just(0)),
    ),
    min_size=1,
    max_size=12,
)


#: An entry whose sources and targets overlap: two warnings must never hold each other.
OVERLAPPING = InhibitRule("any-rain", ("cap:暴雨*",), ("cap:暴雨*",), equal=("area",))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=acts, rule=st.sampled_from([RULES[0], OVERLAPPING]))
def test_an_inhibited_warning_is_kept_and_released_once_no_open_source_explains_it(
    steps: list[tuple[str, Any, int]], rule: InhibitRule
) -> None:
    center = CommandCenter(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    try:
        load_demo(center)
        center.inhibit_rules = (rule,)
        watch = InhibitionWatch(PlaybookRunner(center))
        raised: list[UUID] = []
        for n, (act, arg, level) in enumerate(steps):
            if act == "raise":
                raised.append(
                    center.raise_warning(
                        Context(MET, command_id=f"r{n}"),
                        source="met",
                        rule="cap:暴雨",
                        theme="meteorological",
                        level=level,
                        title=f"暴雨 {n}",
                        unit=arg,
                        dedup_key=f"k{n}",
                    ).id
                )
            elif act == "end" and raised:
                wid = raised[arg % len(raised)]
                if center.warning(wid).is_open:
                    center.cancel_warning(Context(MET, command_id=f"e{n}"), wid, "over")
            else:
                watch.tick()
        watch.tick()
        warnings = [center.warning(w) for w in raised]
        open_ = [w for w in warnings if w.is_open]
        for w in warnings:
            assert w is not None  # never lost: every raised warning is on the record
            if not w.is_open:
                continue
            explained = any(
                rule.inhibits(center.alerting(s), center.alerting(w), center.unit_within)
                for s in open_
            )
            # After a round, inhibited exactly when an open source explains it, and then
            # by such a source.
            assert (w.inhibited_by is not None) == explained
            if w.inhibited_by is not None:
                by = center.warning(w.inhibited_by)
                assert by.is_open
                assert by.inhibited_by != w.id  # never one another
                assert rule.inhibits(center.alerting(by), center.alerting(w), center.unit_within)
    finally:
        center.close()
