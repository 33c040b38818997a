"""What the evaluation's page and CSV show cannot be turned against their reader: unit
names written by people are escaped in the page and written as text in the CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

from litestar.testing import TestClient

from tests.api.conftest import As

NAMES = ['<script>alert("x")</script>', '=HYPERLINK("http://x","y")', "@SUM(1+1)", "-2+3"]


def _units(client: TestClient[Any], as_: As) -> None:
    for i, name in enumerate(NAMES):
        r = client.post(
            "/v1/units",
            json={
                "code": f"HW-DH-E{i}",
                "name": name,
                "name_en": name,
                "parent": "HW-DH",
                "level": "community",
                "kind": "government",
            },
            headers=as_("admin"),
        )
        assert r.status_code == 201, r.text


def test_the_page_escapes_unit_names_and_runs_no_script(client: TestClient[Any], as_: As) -> None:
    _units(client, as_)

    r = client.get("/v1/evaluations/HW-DH?format=html", headers=as_("office"))

    assert r.status_code == 200, r.text
    assert "<script>" not in r.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in r.text
    policy = r.headers["content-security-policy"]
    assert policy.startswith("default-src 'none'")
    assert "script-src" not in policy
    assert "unsafe-inline" not in policy


def test_the_csv_writes_every_cell_quoted_and_none_as_a_formula(
    client: TestClient[Any], as_: As
) -> None:
    _units(client, as_)

    r = client.get("/v1/evaluations/HW-DH?format=csv", headers=as_("office"))

    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    for line in r.text.splitlines():
        assert line.startswith('"')
    names = {row["name"] for row in csv.DictReader(io.StringIO(r.text))}
    assert {"'" + n for n in NAMES[1:]} <= names
    for row in csv.reader(io.StringIO(r.text)):
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row), row
