"""Every notification type has a text in Chinese and in English, and each renders."""

from __future__ import annotations

from typing import Any

import pytest

from notifiers.outbox import TYPE_NAMES
from notifiers.texts import Texts
from texts.catalogue import catalogue
from texts.webhooks import notification_values

CONTEXT: dict[str, Any] = {
    "type": "x",
    "kind": "x",
    "actor": {"person": "p", "unit": "HW", "role": "r"},
    "summary": {
        "title": "台风蓝色预警",
        "unit": "HW",
        "level": 4,
        "level_name": "IV (blue)",
        "theme": "meteorological",
        "location": "海湾区",
        "issuer": "HW",
        "lead": "HW-DH",
        "deadline": "2026-06-01T18:00:00+08:00",
        "url": "https://example.org/hook",
        "confirm_by": "2026-06-01T18:00:00+08:00",
        "matter": "排水口堵塞",
        "place": "湖畔路12号",
        "departments": ["HW-WATER", "HW-URBAN"],
        "since": "2026-06-01T10:00:00+08:00",
        "target": "gauge-7",
        "scope": "HW",
        "starts_at": "2026-06-01T10:00:00+08:00",
        "ends_at": "2026-06-01T18:00:00+08:00",
    },
    "event": {
        "unit": "HW-DH",
        "reason": "原因",
        "note": "备注",
        "level": 2,
        "previous_level": 4,
        "confirmed": True,
        "granted": True,
        "accepted": False,
        "deadline": "2026-06-02T18:00:00+08:00",
        "ends_at": "2026-06-02T18:00:00+08:00",
        "ended_at": "2026-06-01T16:00:00+08:00",
        "expired_at": "2026-06-01T18:00:00+08:00",
        "from_unit": "HW-DH",
        "to_unit": "HW-XL",
        "result": "已处理",
        "text": "到场",
        "outcome": "closed",
        "supervisor": "HC",
        "department": "HW-WATER",
        "person": "李伟",
        "to": "HW",
        "absent": ["HW-URBAN"],
        "late": False,
        "main_id": "0b6f0e5c-8f4e-5f0a-9d47-3c1f2a9e7b10",
        "merged_id": "5a2c9d1e-7b3f-5e8a-8c64-1d0e9f3b2a47",
        "satisfaction": "basically_satisfied",
        "reopened": False,
        "due_at": "2026-06-02T18:00:00+08:00",
        "from_person": "李伟",
        "to_person": "王芳",
        "step": 1,
        "member": "qingshan-reservoir-spillway",
        "observed_at": "2026-06-01T10:00:00+08:00",
        "by": "0b6f0e5c-8f4e-5f0a-9d47-3c1f2a9e7b10",
        "inhibition": "rainstorm-red-over-lesser",
        "attempt": 2,
        "not_reached": False,
        # A notice's late reminder: who was on duty at each unit told (ADR 0098).
        "on_duty": {"HW-DH": "张三"},
    },
}


def _texts_of(type_: str) -> list[str]:
    """The ids of a type's text and of its variants (accepted or not, and the like)."""
    base = f"webhook.{type_}"
    return sorted(i for i in catalogue().ids() if i == base or i.startswith(base + "."))


@pytest.mark.parametrize("language", ["zh", "en"])
@pytest.mark.parametrize("type_", TYPE_NAMES)
def test_every_event_type_renders_in_both_languages(type_: str, language: str) -> None:
    texts = Texts()
    variants = _texts_of(type_)
    assert variants, f"{type_} has no text in the catalogue"
    values = notification_values(language, CONTEXT, "Asia/Shanghai")
    for message_id in variants:
        # Strictly: a text naming a value the notification lacks is an error, not a blank.
        assert catalogue().text(message_id, language, values).strip()
    text = texts.render(type_, language, "", CONTEXT)
    assert text
    assert not text.startswith("[" + type_ + "] (")
    if language == "zh":
        assert "【" in text
    else:
        sources = [catalogue().raw(i, language) for i in variants]
        assert all(s.isascii() for s in sources), "the English text is written in English"


def test_every_text_is_of_a_notification_type() -> None:
    ids = {i for i in catalogue().ids() if i.startswith("webhook.")}

    assert ids == {i for type_ in TYPE_NAMES for i in _texts_of(type_)}


def test_a_text_shows_codes_as_words_and_times_in_the_calendars_zone() -> None:
    texts = Texts("Asia/Shanghai")
    utc = {
        **CONTEXT,
        "summary": {**CONTEXT["summary"], "deadline": "2026-06-01T10:00:00+00:00"},
        "event": {**CONTEXT["event"], "deadline": "2026-06-02T10:00:00+00:00"},
    }

    assert texts.render("warning.raised", "zh", "", utc) == (
        "【预警】HW：台风蓝色预警（Ⅳ级（蓝色），气象灾害），地点：海湾区。"
    )
    assert texts.render("warning.raised", "en", "", utc) == (
        "[Warning] HW: 台风蓝色预警 (level IV (blue), Meteorological disasters) at 海湾区."
    )
    assert texts.render("instruction.issued", "zh", "", utc) == (
        "【指令】HW向HW-DH派发：台风蓝色预警，办理时限2026-06-01 18:00。"
    )
    assert texts.render("instruction.extension_decided", "en", "", utc) == (
        "[Extension granted] 台风蓝色预警, now due 2026-06-02 18:00. 备注"
    )
    assert texts.render("warning.level_changed", "zh", "", utc) == (
        "【预警调级】台风蓝色预警：Ⅳ级（蓝色）调整为Ⅱ级（橙色）。原因：原因"
    )
    assert texts.render("instruction.child_finished", "zh", "", utc) == (
        "【转派结果】指令 台风蓝色预警 的下级指令已结束（已办结）。"
    )
    assert Texts("Europe/London").render("instruction.issued", "en", "", utc) == (
        "[Instruction] HW to HW-DH: 台风蓝色预警, due 2026-06-01 11:00."
    )


def test_a_flag_chooses_the_text_and_a_missing_value_reads_as_nothing() -> None:
    texts = Texts()
    rejected = {**CONTEXT, "event": {**CONTEXT["event"], "accepted": False}}
    accepted = {**CONTEXT, "event": {**CONTEXT["event"], "accepted": True}}

    assert "不通过，返工" in texts.render("instruction.verified", "zh", "", rejected)
    assert "通过，已办结" in texts.render("instruction.verified", "zh", "", accepted)
    assert texts.render("warning.closed", "en", "", {"summary": {"title": "T"}}) == (
        "[Warning closed] T."
    )
    assert texts.render("no.such_type", "en", "", CONTEXT) == "[no.such_type] (KeyError)"


def test_a_custom_template_renders_in_the_sandbox_and_cannot_reach_python() -> None:
    texts = Texts()
    assert texts.render("warning.raised", "zh", "{{ summary.title }}!", CONTEXT) == "台风蓝色预警!"
    escaped = texts.render("warning.raised", "zh", "{{ ''.__class__.__mro__ }}", CONTEXT)
    assert "object" not in escaped
