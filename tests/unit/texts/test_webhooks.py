"""A real loop's notifications fill every placeholder of their texts, in both languages."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from domain.application import CommandCenter
from domain.calendar import WorkingCalendar
from domain.demo import load_demo
from notifiers.outbox import EVENT_TYPES, event_fields, summary
from tests.unit.builders import (
    DISTRICT,
    OFFICE,
    close_instruction,
    confirmed_warning,
    ctx,
    issue,
)
from tests.unit.texts.test_timeline import CODES, WRITTEN
from texts.catalogue import catalogue, placeholders
from texts.webhooks import message_id, notification_values, webhook_text

TYPES = {type_: cls for cls, type_ in EVENT_TYPES.items()}


def test_a_text_names_only_fields_its_event_has() -> None:
    for message_id_ in sorted(i for i in catalogue().ids() if i.startswith("webhook.")):
        type_ = message_id_.removeprefix("webhook.")
        if type_ not in TYPES:
            type_ = type_.rsplit(".", 1)[0]  # a variant's suffix
        fields = {f.name for f in dataclasses.fields(TYPES[type_])}
        for name in placeholders(catalogue().raw(message_id_, "zh")):
            part, field = name.split(".")
            if part == "event":
                assert field in fields, f"{message_id_}: {type_} has no field {field}"
            else:
                assert part in ("summary", "actor"), message_id_


def _loop(app: CommandCenter) -> None:
    wid = confirmed_warning(app, location="青山水库")
    app.change_warning_level(ctx(DISTRICT), wid, 1, "水位继续上涨")
    iid = issue(app, warning_ids=[wid], priority="urgent")
    app.sign_for(ctx(OFFICE), iid)
    app.report_progress(ctx(OFFICE), iid, "已到场")
    app.remind(ctx(DISTRICT), iid, "请加快")
    app.submit(ctx(OFFICE), iid, "已处置")
    app.verify(ctx(DISTRICT), iid, accepted=False, note="仍有积水")
    app.submit(ctx(OFFICE), iid, "已处置")
    app.verify(ctx(DISTRICT), iid, accepted=True)
    other = issue(app, warning_ids=[wid])
    app.park(ctx(DISTRICT), other, "待汛后施工")
    app.resume(ctx(DISTRICT), other)
    close_instruction(app, other)
    app.resolve_warning(ctx(DISTRICT), wid, "水位回落")
    app.close_warning(ctx(DISTRICT), wid)


def test_a_real_loops_notifications_fill_every_placeholder_of_their_texts(
    calendar: WorkingCalendar,
) -> None:
    app = CommandCenter(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, calendar=calendar)
    load_demo(app)
    _loop(app)

    seen = set()
    for notification in app.iter_log():
        event: Any = app.mapper.to_domain_event(notification)
        type_ = EVENT_TYPES.get(type(event))
        if type_ is None:
            continue
        seen.add(type_)
        aggregate = app.repository.get(event.originator_id, version=event.originator_version)
        meta = event.meta
        context = {
            "event": event_fields(event),
            "summary": summary(aggregate),
            "actor": {"person": meta.person, "unit": meta.unit, "role": meta.role},
        }
        for language in ("zh", "en"):
            values = notification_values(language, context, calendar.zone)
            # Strictly: a placeholder the real body lacks is a KeyError here.
            text = catalogue().text(message_id(type_, values), language, values)
            assert text.strip()
        plain = {
            part: {k: "文字" if k in WRITTEN else v for k, v in fields.items()}
            for part, fields in context.items()
        }
        values = notification_values("zh", plain, calendar.zone)
        zh = catalogue().text(message_id(type_, values), "zh", values)
        assert not set(re.findall(r"[A-Za-z_]+", zh)) & CODES, zh
    assert len(seen) >= 15, sorted(seen)


def test_a_notices_late_reminder_names_who_was_on_duty_at_each_unit_in_both_languages() -> None:
    # ADR 0098: the event's map, unit -> person, as the webhook's body carries it.
    context: dict[str, Any] = {
        "summary": {"title": "台风“海葵”逼近"},
        "event": {"units": ["HW-DH-HP", "HW-DH-LY"], "on_duty": {"HW-DH-HP": "张三"}},
    }
    zh = webhook_text("notice.late_reminded", "zh", context, "Asia/Shanghai")
    en = webhook_text("notice.late_reminded", "en", context, "Asia/Shanghai")
    assert zh == "【催办】通知“台风“海葵”逼近”签收时限已过，请尽快签收（值班人 HW-DH-HP：张三）。"
    assert en.endswith("confirm receipt now (on duty: HW-DH-HP: 张三).")
    nobody = {**context, "event": {"units": ["HW-DH-HP"], "on_duty": {}}}
    assert webhook_text("notice.late_reminded", "zh", nobody, "Asia/Shanghai") == (
        "【催办】通知“台风“海葵”逼近”签收时限已过，请尽快签收。"
    )
