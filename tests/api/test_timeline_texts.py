"""The timeline's case-file page as people read it: each line in Chinese and in English,
codes as words, every time on the calendar's wall in Shanghai (issue 18)."""

from __future__ import annotations

import html
import re
from datetime import datetime
from typing import Any

from tests.api.test_audit_api import api  # noqa: F401 (the fixture)
from texts.catalogue import word

LETTER = re.compile(r"[A-Za-z]")
CJK = re.compile(r"[\u2e80-\u9fff\u3000-\u303f\uff00-\uffef]")


def test_the_page_shows_each_line_in_both_languages_and_times_in_the_zone(
    api: Any,  # noqa: F811 (the imported fixture)
) -> None:
    client, ids, who = api
    path = f"/v1/loops/{ids['warning']}/timeline"
    entries = client.get(path, headers=who["auditor"]).json()["entries"]
    page = html.unescape(client.get(path + "?format=html", headers=who["auditor"]).text)

    for e in entries:
        recorded = datetime.fromisoformat(e["recorded_at"])
        assert recorded.utcoffset() is not None
        assert recorded.isoformat().endswith("+08:00")
        assert recorded.strftime("%Y-%m-%d %H:%M:%S") in page, e["recorded_at"]
        assert e["description_zh"] in page
        assert e["description"] in page
        assert e["event"] not in (e["description"], e["description_zh"]), e["event"]
        if e["role"]:
            assert f"{word('role', e['role'], 'zh')} {word('role', e['role'], 'en')}" in page
        assert f"{word('loop_kind', e['kind'], 'zh')} {word('loop_kind', e['kind'], 'en')}" in page
        assert not CJK.search(e["description"]), e["description"]
    assert "时区 Time zone</dt><dd>Asia/Shanghai (+08:00)" in page  # what the times are in
    assert "T0" not in page
    assert "+00:00" not in page
    assert not re.search(r"<td>(warning|instruction|disposition) v\d", page)
