"""The proof on rendered output: every line and every webhook text, with every code.

Each timeline line (``texts/timeline.py``) and each webhook text (``texts/webhooks.py``),
every variant, is rendered with every code of the families its placeholders name, in
Chinese and in English. A Chinese text then holds no ASCII letter but inside values that
are not codes (a unit's code like HW-DH-QS, an id, an address: the fixtures use values
recognisable as such and take them out before looking); an English text holds no Chinese
character nor full-width punctuation. Every time reads in the calendar's zone: a deadline
given as UTC 2026-12-06T16:00Z reads 2026-12-07 00:00 in Shanghai, never as UTC or ISO.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from texts.catalogue import TIME_FIELDS, catalogue, placeholders, variants
from texts.timeline import describe
from texts.timeline import message_id as line_id
from texts.webhooks import message_id as webhook_id
from texts.webhooks import webhook_text
from texts.words import CODE_FIELDS, FAMILIES

ZONE = "Asia/Shanghai"
#: A deadline in UTC, and how it must read on the calendar's wall in Shanghai.
UTC_INSTANT = datetime(2026, 12, 6, 16, 0, tzinfo=UTC)
UTC_TEXT = "2026-12-06T16:00:00Z"  # as a webhook body or a stored payload carries it
LOCAL = "2026-12-07 00:00"

#: Values that are not codes: unit codes, ids, addresses. Exempt from the letter check.
UNIT = "HW-DH-QS"
OTHER_UNIT = "HW-XL"
AN_ID = "0b0d6c1e-5a7e-4a43-9c2f-2f1f1d3c0a01"
URL = "https://example.org/hook"
EXEMPT = (URL, AN_ID, UNIT, OTHER_UNIT)
UNIT_FIELDS = frozenset({"unit", "lead", "to_unit", "from_unit", "supervisor", "issuer", "person"})
#: What people wrote themselves, in the reader's language.
WRITTEN = {"zh": "青山水库超汛限", "en": "Qingshan reservoir above flood limit"}

CJK = re.compile(r"[\u2e80-\u9fff\u3000-\u303f\uff00-\uffef]")
LETTER = re.compile(r"[A-Za-z]")


def _value(name: str, language: str, as_text: bool) -> Any:
    """The value of a placeholder's field that is not a code."""
    if name in TIME_FIELDS or name == "deadline":
        return UTC_TEXT if as_text else UTC_INSTANT
    if name in UNIT_FIELDS:
        return UNIT
    if name == "cooperating":
        return [OTHER_UNIT, UNIT]
    if name == "evidence":
        return [AN_ID]
    if name.endswith("_id"):
        return AN_ID
    if name == "url":
        return URL
    return WRITTEN[language]


def _ids(family: str) -> list[str]:
    return sorted(i for i in catalogue().ids() if i.startswith(f"{family}."))


def _chooser(family: str, message_id: str) -> tuple[str, bool] | None:
    """The value that chooses this variant, and whether it is set for this one."""
    text = message_id.removeprefix(f"{family}.")
    for base, (name, yes, no) in variants(family).items():
        if text == base or text.startswith(base + "."):
            suffix = text.removeprefix(base).removeprefix(".")
            assert suffix in (yes, no), message_id
            return name, suffix == yes
    return None


def _base(family: str, message_id: str) -> str:
    """The text a variant is of (``warning.raised`` for ``webhook.warning.raised.located``)."""
    text = message_id.removeprefix(f"{family}.")
    for base in variants(family):
        if text == base or text.startswith(base + "."):
            return base
    return text


def _renderings(
    family: str, message_id: str, language: str, as_text: bool
) -> Iterator[dict[str, Any]]:
    """Fields for the text, once for each combination of the codes it names."""
    raw = catalogue().raw(message_id, language)
    names = sorted({p.removesuffix("_count") for p in placeholders(raw)})
    plain = {n: _value(n.split(".")[-1], language, as_text) for n in names}
    chooser = _chooser(family, message_id)
    if chooser is not None:
        name, chosen = chooser
        bare = name.split(".")[-1]
        if bare in ("cooperating", "evidence", "location"):
            plain[name] = _value(bare, language, as_text) if chosen else []
            if bare == "location" and not chosen:
                plain[name] = ""
        elif bare == "on_duty":
            # A notice's late reminder: who was on duty at each unit told (ADR 0098).
            plain[name] = {UNIT: WRITTEN[language]} if chosen else {}
        else:
            plain[name] = chosen
    coded = [n for n in names if n.split(".")[-1] in CODE_FIELDS]
    families = [FAMILIES[CODE_FIELDS[n.split(".")[-1]]] for n in coded]
    for codes in itertools.product(*families):
        yield {**plain, **dict(zip(coded, codes, strict=True))}


def _nest(flat: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for key, value in flat.items():
        part, name = key.split(".")
        out.setdefault(part, {})[name] = value
    return out


def _check(text: str, language: str, fields: dict[str, Any], where: str) -> None:
    assert text.strip(), where
    if language == "zh":
        bare = text
        for value in EXEMPT:
            bare = bare.replace(value, "")
        assert not LETTER.search(bare), f"{where} {fields}: {text!r}"
    else:
        assert not CJK.search(text), f"{where} {fields}: {text!r}"
    if any(v in (UTC_TEXT, UTC_INSTANT) for v in fields.values()):
        assert LOCAL in text, f"{where}: the time is not in {ZONE}: {text!r}"
    assert "2026-12-06" not in text, f"{where}: the UTC day shown: {text!r}"
    assert "16:00" not in text, f"{where}: the UTC hour shown: {text!r}"
    assert not re.search(r"\dT\d|\dZ\b|UTC", text), f"{where}: ISO/UTC shown: {text!r}"


@pytest.mark.parametrize("language", ["zh", "en"])
@pytest.mark.parametrize("as_text", [False, True], ids=["instant", "iso-text"])
@pytest.mark.parametrize("message_id", _ids("timeline"))
def test_every_timeline_line_with_every_code(message_id: str, as_text: bool, language: str) -> None:
    event_type = ".".join(message_id.split(".")[1:3])
    count = 0
    for fields in _renderings("timeline", message_id, language, as_text):
        assert line_id(event_type, fields) == message_id
        _check(describe(event_type, fields, language, ZONE), language, fields, message_id)
        count += 1
    assert count >= 1


@pytest.mark.parametrize("language", ["zh", "en"])
@pytest.mark.parametrize("message_id", _ids("webhook"))
def test_every_webhook_text_with_every_code(message_id: str, language: str) -> None:
    # The body's summary and event arrive as JSON: times as ISO-8601 text in UTC.
    for flat in _renderings("webhook", message_id, language, as_text=True):
        type_ = _base("webhook", message_id)
        context = _nest(flat)
        assert webhook_id(type_, flat) == message_id
        _check(webhook_text(type_, language, context, ZONE), language, flat, message_id)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_code_of_every_family_has_a_word_in_each_language(family: str) -> None:
    texts = catalogue()
    for code in FAMILIES[family]:
        zh = texts.word(family, code, "zh")
        en = texts.word(family, code, "en")
        assert not LETTER.search(zh), f"word.{family}.{code} zh: {zh!r}"
        assert not CJK.search(en), f"word.{family}.{code} en: {en!r}"
        assert zh != code, f"word.{family}.{code}"
        assert en.strip(), f"word.{family}.{code}"
