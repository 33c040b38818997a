"""Generated requests from the served OpenAPI schema (schemathesis), a bounded number per
operation: the API never answers 5xx, and every answer matches the schema it publishes."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from api.tokens import ROLES, TokenBook
from closedloop.bootstrap import build_app
from domain.application import CommandCenter

#: Examples per operation; CI stays within a minute or two on both stores.
EXAMPLES = 12


@pytest.fixture
def fuzz_token(center: CommandCenter, tokens: dict[str, str]) -> str:
    """A district token with every role, so that generated requests get past the guard."""
    return TokenBook(center).issue(user="fuzzer", unit="HW", roles=list(ROLES)).secret


def test_generated_requests_never_get_a_server_error_and_answers_match_the_schema(
    center: CommandCenter, fuzz_token: str
) -> None:
    # The schema is loaded inside the test (not with schemathesis' pytest plugin) so that
    # it runs on the ``center`` fixture, once per store.
    # The whole server, as closedloop serve builds it: views, outbox, chain and all.
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", build_app(center))
    headers = {"Authorization": f"Bearer {fuzz_token}"}
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def generated(case: Any) -> None:
            case.call_and_validate(
                headers=headers,
                checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
            )

        generated()
        checked += 1
    assert checked >= 25  # every operation of the API was exercised
