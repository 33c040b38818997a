"""``/admin``: the administration of an admin's subtree, on pages (issue 20, ADR 0058).

Units (:mod:`api.screens.admin_units`), API tokens (:mod:`api.screens.admin_tokens`),
people's accounts (:mod:`api.screens.admin_accounts`) and webhook subscriptions with
their deliveries (:mod:`api.screens.admin_webhooks`), each on the same checks and
commands as its API routes, for the admin role alone.
"""

from __future__ import annotations

from typing import Any

from api.screens.admin_accounts import ACCOUNT_PAGE_HANDLERS
from api.screens.admin_tokens import TOKEN_PAGE_HANDLERS
from api.screens.admin_units import UNIT_HANDLERS
from api.screens.admin_webhooks import WEBHOOK_PAGE_HANDLERS

ADMIN_HANDLERS: list[Any] = [
    *UNIT_HANDLERS,
    *TOKEN_PAGE_HANDLERS,
    *ACCOUNT_PAGE_HANDLERS,
    *WEBHOOK_PAGE_HANDLERS,
]
