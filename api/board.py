"""``/v1/board``: the command center's wall of open warnings."""

from __future__ import annotations

from litestar import Controller, get

from api import schemas as s
from api.access import scope_of
from api.http import READ, MinPosition, On
from domain.meta import now
from projections import queries as q


class BoardController(Controller):
    path = "/v1/board"
    tags = ("warnings",)

    # A hall's kiosk (the screen role) may read it, and nothing else (ADR 0052).
    @get("/warnings", sync_to_thread=True, responses=READ, opt={"screen": True})
    def warning_board(self, call: On, min_position: MinPosition = None) -> s.WarningBoard:
        """The open warnings by theme, level and unit, with their age, repeats and state."""
        call.caught_up(min_position, "units", "warnings")
        scope = scope_of(call.principal)
        rows = call.read(lambda tx: q.warning_board(tx, visible_to=scope))
        return call.services.views.board(rows, now())
