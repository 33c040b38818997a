"""Every notification type has a text in Chinese and in English, and each renders."""

from __future__ import annotations

import jinja2
import pytest

from notifiers.outbox import TYPE_NAMES
from notifiers.texts import TEMPLATES, Texts

CONTEXT = {
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
        "from_unit": "HW-DH",
        "to_unit": "HW-XL",
        "result": "已处理",
        "text": "到场",
        "outcome": "closed",
        "supervisor": "HC",
    },
}


@pytest.mark.parametrize("language", ["zh", "en"])
@pytest.mark.parametrize("type_", TYPE_NAMES)
def test_every_event_type_renders_in_both_languages(type_: str, language: str) -> None:
    texts = Texts()
    source = (TEMPLATES / f"{type_}.{language}.j2").read_text(encoding="utf-8")
    # Strictly: a template naming a field the context lacks is an error, not a blank.
    strict = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701
    assert strict.from_string(source).render(**CONTEXT).strip()
    text = texts.render(type_, language, "", CONTEXT)
    assert text
    assert not text.startswith("[" + type_ + "] (")
    if language == "zh":
        assert "【" in text
    else:
        assert source.isascii(), "the English text is written in English"


def test_a_custom_template_renders_in_the_sandbox_and_cannot_reach_python() -> None:
    texts = Texts()
    assert texts.render("warning.raised", "zh", "{{ summary.title }}!", CONTEXT) == "台风蓝色预警!"
    escaped = texts.render("warning.raised", "zh", "{{ ''.__class__.__mro__ }}", CONTEXT)
    assert "object" not in escaped
