"""The servers these tests start carry load from a handful of tokens and addresses (a
load generator, schemathesis): the abuse limits (ADR 0043) would turn that load away
with 429, and what these tests prove is something else. The limits are tested with
their own app in ``tests/api/test_abuse_limits.py`` and ``tests/unit/test_rate_limits.py``;
here every server process started with ``os.environ`` runs without them."""

from __future__ import annotations

import os

os.environ.setdefault("CLOSEDLOOP_WRITE_LIMIT", "off")
os.environ.setdefault("CLOSEDLOOP_AUTH_FAILURE_LIMIT", "off")
