"""The report's page and CSV as people read them: every column in Chinese and English,
codes as words, every time in the calendar's zone with its offset (issue 18)."""

from __future__ import annotations

import csv
import html
import io
import re
from typing import Any

from litestar.testing import TestClient

from domain.application import CommandCenter
from tests.api.reports.test_report_api import client, url  # noqa: F401 (the fixture)
from texts.catalogue import word
from texts.words import INDICATORS

CJK = re.compile(r"[\u2e80-\u9fff\u3000-\u303f\uff00-\uffef]")
LETTER = re.compile(r"[A-Za-z]")
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:[+-]\d\d:\d\d|Z)?")


def test_the_page_names_every_column_and_code_in_both_languages_and_times_in_the_zone(
    center: CommandCenter,
    client: tuple[TestClient[Any], dict[str, dict[str, str]]],  # noqa: F811
) -> None:
    c, who = client

    page = html.unescape(c.get(url(center, "HW", format="html"), headers=who["district"]).text)

    for name in INDICATORS:
        assert word("indicator", name, "zh") in page, name
        assert word("indicator", name, "en") in page, name
    for family, code in (("unit_level", "district"), ("report_section", "total")):
        assert word(family, code, "zh") in page, code
        assert word(family, code, "en") in page, code
    assert "· district" not in page  # the unit's level as a word, not its code
    times = ISO.findall(page)
    assert len(times) >= 3, times  # the period's start and end, the "as of"
    assert all(t.endswith("+08:00") for t in times), times
    assert "Asia/Shanghai" in page


def test_the_csv_holds_words_in_each_language_and_times_in_the_zone(
    center: CommandCenter,
    client: tuple[TestClient[Any], dict[str, dict[str, str]]],  # noqa: F811
) -> None:
    c, who = client

    r = c.get(url(center, "HW", format="csv"), headers=who["district"])

    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows
    for row in rows:
        assert row["from"].endswith("+08:00"), row
        assert row["to"].endswith("+08:00"), row
        assert row["from"][11:19] == "00:00:00", row["from"]  # a month starts at midnight here
        # A theme's or level's name is its word; a unit's names are the unit's own.
        if row["section"] in ("theme", "level"):
            assert not LETTER.search(row["name"]), row
        assert not CJK.search(row["name_en"]), row
    themes = [row for row in rows if row["section"] == "theme"]
    assert themes
    assert all(row["name"] == word("theme", row["key"], "zh") for row in themes)
