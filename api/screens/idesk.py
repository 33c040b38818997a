"""The duty desk's instruction half: the inbox, the issue form, the instruction page and
its steps (ADR 0056), gathered for :func:`api.screens.screens`."""

from __future__ import annotations

from api.screens.inbox import INBOX_HANDLERS
from api.screens.instruction_pages import INSTRUCTION_PAGE_HANDLERS
from api.screens.instruction_steps import STEP_HANDLERS

IDESK_HANDLERS = [*INBOX_HANDLERS, *INSTRUCTION_PAGE_HANDLERS, *STEP_HANDLERS]
