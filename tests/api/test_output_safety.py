"""What a browser or a spreadsheet opens cannot be turned against its reader (issue 19,
"Output that others open"), and tokens never travel or get logged in a URL ("Abuse")."""

from __future__ import annotations

import csv
import io
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from litestar.testing import TestClient

from api.query_secrets import RedactSecrets, redact
from api.renderings import neutral
from closedloop.bootstrap import build_app
from closedloop.cli import uvicorn_options
from domain.application import CommandCenter
from tests.api.conftest import As, issue

FORMULAS = ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3+cmd"]


@pytest.mark.parametrize("cell", [*FORMULAS, "\tx", "\r=1"])
def test_a_cell_a_spreadsheet_would_read_as_a_formula_is_written_as_text(cell: str) -> None:
    assert neutral(cell) == "'" + cell
    assert neutral("Qingshan =1") == "Qingshan =1"
    assert neutral("42") == "42"


def test_the_report_csv_writes_unit_names_as_text_and_quotes_every_cell(
    client: TestClient[Any], as_: As
) -> None:
    for i, name in enumerate(FORMULAS):
        r = client.post(
            "/v1/units",
            json={
                "code": f"HW-DH-X{i}",
                "name": name,
                "name_en": name,
                "parent": "HW-DH",
                "level": "community",
                "kind": "government",
            },
            headers=as_("admin"),
        )
        assert r.status_code == 201, r.text
    r = client.get("/v1/reports/units/HW-DH?format=csv", headers=as_("office"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    for line in r.text.splitlines():
        assert line.startswith('"')  # QUOTE_ALL
    names = {row["name"] for row in csv.DictReader(io.StringIO(r.text))}
    assert {"'" + f for f in FORMULAS} <= names
    for row in csv.reader(io.StringIO(r.text)):
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row), row


def _style_hashes(policy: str) -> list[str]:
    return re.findall(r"'sha256-[^']+'", policy)


@pytest.mark.parametrize("page", ["report", "timeline"])
def test_pages_carry_a_policy_that_runs_no_script_and_cannot_be_framed(
    client: TestClient[Any], as_: As, page: str
) -> None:
    if page == "report":
        r = client.get("/v1/reports/units/HW?format=html", headers=as_("district"))
    else:
        iid = issue(client, as_)["id"]
        r = client.get(f"/v1/loops/{iid}/timeline?format=html", headers=as_("district"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/html; charset=utf-8"  # one charset
    assert len(r.headers.get_list("content-type")) == 1
    policy = r.headers["content-security-policy"]
    assert policy.startswith("default-src 'none'")
    assert "frame-ancestors 'none'" in policy
    assert "script-src" not in policy
    assert "unsafe-inline" not in policy
    assert len(_style_hashes(policy)) == r.text.count("<style>")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize("path", ["/v1/units", "/nowhere", "/health"])
def test_every_response_says_nosniff_and_loads_nothing(
    client: TestClient[Any], as_: As, path: str
) -> None:
    r = client.get(path, headers=as_("admin"))
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-security-policy"].startswith("default-src 'none'")
    assert r.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    "query",
    [
        "token=cl_abc",
        "access_token=whatever",
        "api_key=x",
        "Authorization=Bearer%20cl_x",
        "cursor=cl_" + "a" * 43,  # a token's form under any name
    ],
)
def test_a_credential_in_the_query_is_refused_before_authentication(
    client: TestClient[Any], tokens: dict[str, str], query: str
) -> None:
    # With a valid token in the query and none in the header: 400, not 401.
    r = client.get(f"/v1/units?{query}")
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"] == "urn:closedloop:problem:credential-in-query"
    assert "Authorization header" in r.json()["detail"]
    r = client.get(f"/v1/units?access_token={tokens['admin']}")
    assert r.status_code == 400


def test_the_log_filter_redacts_credentials_in_any_line() -> None:
    secret = "cl_" + "Z" * 43
    assert secret not in redact(f"GET /v1/units?cursor={secret}&limit=5 HTTP/1.1")
    assert redact("/v1/units?limit=5&api_key=hunter2") == "/v1/units?limit=5&api_key=[redacted]"
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", f"/v1/units?token={secret}", "1.1", 400),
        None,
    )
    assert RedactSecrets().filter(record)
    assert secret not in record.getMessage()


@pytest.fixture
def real_server(center: CommandCenter, tokens: dict[str, str]) -> Iterator[str]:
    """The app under uvicorn on a loopback port, with the options ``closedloop serve``
    gives it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(build_app(center), host="127.0.0.1", port=port, **uvicorn_options())
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_the_served_server_names_no_software_and_logs_no_token(
    real_server: str, tokens: dict[str, str]
) -> None:
    # The access log's own handlers (the ones the configuration filters), written here.
    logged = io.StringIO()
    configured = [
        h
        for h in logging.getLogger("uvicorn.access").handlers
        if any(isinstance(f, RedactSecrets) for f in h.filters)
    ]
    assert configured
    for handler in configured:
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(logged)
    secret = tokens["admin"]
    r = httpx.get(f"{real_server}/v1/units?access_token={secret}")
    assert r.status_code == 400
    assert "server" not in r.headers
    r = httpx.get(f"{real_server}/v1/units", headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 200
    assert "server" not in r.headers
    time.sleep(0.2)
    assert "access_token=[redacted]" in logged.getvalue()  # the line is there ...
    assert secret not in logged.getvalue()  # ... without the secret
