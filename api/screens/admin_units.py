"""``/admin``: the unit tree of an admin's subtree, and its acts (issue 20, ADR 0058).

The tree page shows every unit under the admin's own, indented under its parent, with
a form to register a new one; a unit's page has a form for each act the domain allows on
it now (:mod:`api.screens.admin_steps`), the move's offering only the parents it may go
under. Both read the units' view, as ``GET /v1/units`` does, and act through the same
checks and commands as ``POST`` and ``PATCH /v1/units`` (:func:`api.units.registering`,
:func:`api.units.updating`); a unit outside the admin's subtree is the not-found page.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response
from litestar.params import FromPath

from api import schemas as s
from api.http import Call, On, view_store
from api.screens.admin_common import admin_form, admin_page, draw, redraw, run_checked
from api.screens.admin_steps import (
    DEACTIVATE,
    MOVE,
    REACTIVATE,
    RENAME,
    UNIT_STEPS,
    UnitTree,
    move_targets,
    unit_steps,
)
from api.screens.errors import FormRefused
from api.screens.forms import body_of, fields_of
from api.screens.pages import Page
from api.units import registering, updating
from domain.errors import NotFound
from domain.unit import Kind, Level, Unit
from projections import queries as q

#: The fields each act's form carries (anything else a form sends is not read).
STEP_FIELDS: dict[str, tuple[str, ...]] = {
    RENAME: ("name", "name_en"),
    MOVE: ("parent",),
    DEACTIVATE: ("reason",),
    REACTIVATE: (),
}
#: Where a refusal that names no field is shown, by its code: on the register form, and
#: on each act's form (a code not named here is shown at the top of its form).
REGISTER_FIELDS = {
    "already-exists": "code",
    "placement-refused": "parent",
    "not-permitted": "parent",
}
STEP_REFUSALS: dict[str, dict[str, str]] = {
    RENAME: {"invalid-value": "name"},
    MOVE: {"invalid-value": "parent", "placement-refused": "parent", "not-permitted": "parent"},
    DEACTIVATE: {},
    REACTIVATE: {},
}


def _rows(call: Call) -> dict[str, s.Unit]:
    """The units' view, as ``GET /v1/units`` reads it (after this person's last write)."""
    call.caught_up(None, "units")
    services = call.services
    with view_store(call.services, call.request).read() as tx:
        return {r["code"]: services.views.unit_row(r) for r in q.units(tx)}


def _tree(call: Call) -> UnitTree:
    """The network as the commands will judge it (the units they check authority on)."""
    return UnitTree.of(call.center.units())


def _own(call: Call, tree: UnitTree, code: str) -> Unit:
    """A unit of the admin's subtree; any other is not found, as in the API."""
    unit = tree.units.get(code)
    if unit is None or not tree.within(code, call.principal.unit):
        raise NotFound(f"unit {code} not found")
    return unit


def _tree_page(
    request: Request[Any, Any, Any], call: Call, *, status: int = 200, page: Page | None = None
) -> Response[str]:
    rows = _rows(call)
    tree = _tree(call)
    admin = call.principal.unit
    entries = [(rows[u.code], depth) for u, depth in tree.subtree(admin) if u.code in rows]
    places = [rows[u.code] for u in tree.places_for_new_units(admin) if u.code in rows]
    return draw(
        request,
        "admin_units.html.j2",
        "units",
        status=status,
        page=page,
        entries=entries,
        places=places,
        levels=list(Level),
        kinds=list(Kind),
    )


def _unit_page(
    request: Request[Any, Any, Any],
    call: Call,
    code: str,
    *,
    status: int = 200,
    page: Page | None = None,
) -> Response[str]:
    tree = _tree(call)
    unit = _own(call, tree, code)
    rows = _rows(call)
    admin = call.principal.unit
    if code not in rows:
        raise NotFound(f"unit {code} not found")
    path: list[s.Unit] = []
    above = unit.parent
    while above and tree.within(above, admin) and above in rows and len(path) < 17:
        path.insert(0, rows[above])
        above = tree.units[above].parent
    return draw(
        request,
        "admin_unit.html.j2",
        "units",
        status=status,
        page=page,
        unit=rows[code],
        path=path,
        children=[rows[c.code] for c in tree.children(code) if c.code in rows],
        steps=unit_steps(tree, unit, admin),
        targets=[rows[t] for t in move_targets(tree, unit, admin) if t in rows],
    )


@admin_page("/admin")
def unit_tree(request: Request[Any, Any, Any], call: On) -> Response[str]:
    """The admin's subtree as a tree, and the form that registers a unit in it."""
    return _tree_page(request, call)


@admin_form("/admin/units")
async def register_unit(request: Request[Any, Any, Any], call: On) -> Response[Any]:
    fields = await fields_of(request)
    try:
        data = body_of(fields, s.UnitCreate)
        return await run_checked(
            call, data, registering, REGISTER_FIELDS, f"/admin/units/{data.code}"
        )
    except FormRefused as e:
        return await redraw(
            _tree_page, request, call, status=e.status, errors=e.errors, fields=fields
        )


@admin_page("/admin/units/{code:str}")
def unit_page(request: Request[Any, Any, Any], call: On, code: FromPath[str]) -> Response[str]:
    """One unit: where it stands, what is under it, and the acts it allows now."""
    return _unit_page(request, call, code)


@admin_form("/admin/units/{code:str}/{step:str}")
async def unit_step(
    request: Request[Any, Any, Any], call: On, code: FromPath[str], step: FromPath[str]
) -> Response[Any]:
    """Rename, move, deactivate or reactivate a unit, as ``PATCH /v1/units/{code}``."""
    if step not in UNIT_STEPS:
        raise NotFound("page not found")
    fields = await fields_of(request)
    wanted = {k: v for k, v in fields.items() if k in (*STEP_FIELDS[step], "command_id")}
    try:
        data = body_of(wanted, s.UnitUpdate)
        if step in (DEACTIVATE, REACTIVATE):
            data = msgspec.structs.replace(data, active=step == REACTIVATE)
        return await run_checked(
            call,
            data,
            lambda c, d: updating(c, code, d),
            STEP_REFUSALS[step],
            f"/admin/units/{code}",
        )
    except FormRefused as e:
        # A refusal of the whole act is shown at its own form.
        errors = {step if k == "form" else k: v for k, v in e.errors.items()}
        return await redraw(
            _unit_page, request, call, code, status=e.status, errors=errors, fields=fields
        )


UNIT_HANDLERS = [unit_tree, register_unit, unit_page, unit_step]
