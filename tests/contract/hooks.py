"""Schemathesis hooks of the contract run (``SCHEMATHESIS_HOOKS=tests.contract.hooks``).

One check is refined, none is dropped: ``positive_data_acceptance`` fails a request the
schema allows that is refused. A 422 whose problem type is one the API's description
lists (:data:`api.contract.BEYOND_SCHEMA`: a position the log does not hold yet, a
business time before the step it follows, a deadline already past, a URL outside the
allowed networks...) is such a refusal by a rule no schema can state, and passes; any
other refusal of schema-valid input still fails.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.contract import BEYOND_SCHEMA

#: The token the run acts with (``CONTRACT_OWN_TOKEN``, its id): never revoked by it.
OWN_TOKEN = os.environ.get("CONTRACT_OWN_TOKEN", "")

_TYPES = {f"urn:closedloop:problem:{code}" for code in BEYOND_SCHEMA}


def _problem_type(response: Any) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("type") if isinstance(body, dict) else None


@schemathesis.check
def positive_data_acceptance_beyond_schema(ctx: Any, response: Any, case: Any) -> bool | None:
    """``positive_data_acceptance``, but for the refusals the API's description lists."""
    if response.status_code == 422 and _problem_type(response) in _TYPES:
        return None
    result: bool | None = positive_data_acceptance(ctx, response, case)
    return result


@schemathesis.hook
def before_call(ctx: Any, case: Any, **kwargs: Any) -> None:
    """The run's own token is not revoked by the run (a stateful step lists the tokens and
    revokes one): every later request would answer 401 and test nothing but the guard."""
    parameters = case.path_parameters or {}
    if OWN_TOKEN and parameters.get("token_id") == OWN_TOKEN:
        parameters["token_id"] = "tok_0000000000000000"
