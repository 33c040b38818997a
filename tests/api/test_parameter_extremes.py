"""Every parameter of every operation the served OpenAPI document names, sent at its
extremes, answers without a 5xx (issue 19: "fuzz every parameter's extremes").

Where the generated fuzz (``test_schema_fuzz.py``) draws values the schema allows, this
walks the values a hostile client picks by hand: numbers too big for a BIGINT or for
Python's int-from-str limit, the first and last days of the calendar, bytes that are not
UTF-8, NUL, very long text, negative numbers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from api.tokens import ROLES, TokenBook
from closedloop.bootstrap import build_app
from domain.application import CommandCenter
from tests.api.conftest import As, issue, raise_warning

#: Values as they appear in a URL (already percent-encoded where they must be).
EXTREMES = [
    "9" * 20,  # past a BIGINT
    "9" * 5000,  # past Python's 4,300-digit int-from-str limit
    "-1",
    "-" + "9" * 25,
    "0",
    "1e999",
    "NaN",
    "0001-01-01",
    "9999-12-31",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00%2B14:00",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-12:00",
    "%FF%FE%C3%28",  # not UTF-8
    "%00",
    "a%00b",
    "x" * 5000,
    "",
]

#: What a header can carry of them (no NUL, no bytes outside Latin-1 over HTTP/1.1).
HEADER_EXTREMES = ["9" * 20, "9" * 5000, "-1", "0", "x" * 5000, 'W/"' + "9" * 5000 + '"', ""]

#: Headers read by every route that the document does not list as parameters.
READ_HEADERS = ("X-Min-Position", "If-Match", "Idempotency-Key")


@pytest.fixture
def served(
    center: CommandCenter, tokens: dict[str, str], as_: As
) -> Iterator[tuple[TestClient[Any], dict[str, str]]]:
    """The whole server, with an admin token holding every role at the city's root, and
    the ids of a warning and an instruction that exist, so that a parameter beside a path
    id is read on a resource that is there (not answered 404 before it is read)."""
    secret = TokenBook(center).issue(user="prober", unit="HC", roles=list(ROLES)).secret
    with TestClient(build_app(center)) as client:
        warning = raise_warning(client, as_)
        instruction = issue(client, as_, warning_ids=[warning["id"]])
        plausible = {
            "wid": warning["id"],
            "iid": instruction["id"],
            "loop_id": instruction["id"],
            "did": str(uuid.uuid4()),
            "sid": str(uuid.uuid4()),
            "code": "HW-DH-QS",
            "name": "typhoon",
        }
        client.headers["Authorization"] = f"Bearer {secret}"
        yield client, plausible


def _fill(
    template: str,
    parameters: list[dict[str, Any]],
    at: str | None,
    value: str,
    plausible: dict[str, str],
) -> str:
    path = template
    for p in parameters:
        if p["in"] != "path":
            continue
        shown = value if p["name"] == at else plausible.get(p["name"], "x")
        path = path.replace("{" + p["name"] + "}", shown)
    return path


def _requests(
    document: dict[str, Any], plausible: dict[str, str]
) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(method, URL, headers) for every parameter of every operation at every extreme."""
    for template, item in document["paths"].items():
        for method, operation in item.items():
            parameters = operation.get("parameters", [])
            base = _fill(template, parameters, None, "", plausible)
            for header in READ_HEADERS:
                for value in HEADER_EXTREMES:
                    yield method, base, {header: value}
            for p in parameters:
                for value in EXTREMES:
                    if p["in"] == "path":
                        if value == "":
                            continue  # another route, not this parameter
                        yield method, _fill(template, parameters, p["name"], value, plausible), {}
                    elif p["in"] == "query":
                        yield method, f"{base}?{p['name']}={value}", {}


def test_every_parameter_at_its_extremes_answers_without_a_server_error(
    served: tuple[TestClient[Any], dict[str, str]],
) -> None:
    client, plausible = served
    document = client.get("/schema/openapi.json").json()
    failures: list[str] = []
    sent = 0
    for method, url, headers in _requests(document, plausible):
        body = {} if method in ("post", "put", "patch") else None
        r = client.request(method.upper(), url, headers=headers, json=body)
        sent += 1
        if r.status_code >= 500:
            failures.append(f"{method.upper()} {url[:120]} {headers!r:.80}: {r.status_code}")
    assert sent > 1000  # every operation's parameters were walked
    assert not failures, "\n".join(failures)
