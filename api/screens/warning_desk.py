"""The warning desk of the duty workbench (issue 20, ADR 0055).

``/warnings`` lists the warnings a person may see, as ``GET /v1/warnings`` answers them
(the same query, scope and cursor), open ones first by default, filtered by theme, level,
status and unit and searched by title or location; beside them, the scenarios' emergency
switch. ``/warnings/{id}`` shows one warning: its facts, the CAP message it came from,
its instructions, its loop's timeline and the steps this person may take on it, each a
form posted to ``/warnings/{id}/<step>`` and run as the API runs it
(:data:`api.screens.warning_steps.DESK_STEPS`). A refused step draws the page again with
the message beside the field it concerns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

import anyio.to_thread
from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.types import AnyCallable

from api import schemas as s
from api.access import warning_to_act_on
from api.audit import visible_timeline
from api.http import Call, On, view_store
from api.intake import intake_of
from api.problems import ProblemError
from api.screens.errors import FormRefused
from api.screens.forms import FIRST, Redraw, act, body_of, fields_of
from api.screens.pages import page_of, render
from api.screens.warning_steps import (
    DESK_STEPS,
    MAX_MERGE_TARGETS,
    MERGE,
    MERGES_WARNINGS,
    TEXT_FIELD,
    UNMERGE,
    EmergencySwitch,
    MergeForm,
    MergeTarget,
    body_type,
    may_be_merged,
    may_merge_now,
    may_switch_emergency,
    may_unmerge,
    merge_targets,
    offered_steps,
)
from api.steps import StepRoute
from api.warnings import DUTY
from domain.application import Outcome
from domain.errors import (
    CircularMerge,
    DomainError,
    InvalidValue,
    MergeIntoItself,
    MergeMismatch,
    MergeTargetClosed,
    NotFound,
)
from domain.meta import Context, now
from domain.playbook_runner import DECLARES_EMERGENCY
from domain.warning import OPEN_STATUSES, EarlyWarning, Theme, WarningStatus
from projections import queries as q
from texts.catalogue import catalogue

PAGE = {"page": True}
VIEWS = ("units", "warnings")
#: The status filter's own choices beside the domain's statuses.
OPEN, ANY = "open", "all"
STATUS_CHOICES = (OPEN, ANY, *(s.value for s in WarningStatus))
MAX_SEARCH = 100
PER_PAGE = 50
#: The most a page lists (the API's limit).
MAX_PER_PAGE = 200
#: The order of the steps on a warning's page: the loop's next step first, the
#: corrections (another level, withdrawing it) last.
STEP_ORDER = ("acknowledge", "assess", "resolve", "close", "instruct", "level", "cancel")


class TextRefused(InvalidValue, code="text-refused"):
    """A text of a step's form the domain refused: said beside that field."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def _at_field(command: Callable[[Context], Outcome], field: str | None) -> Any:
    """``command``, a value it refuses said at ``field`` (a form's one text field)."""

    def run(ctx: Context) -> Outcome:
        try:
            return command(ctx)
        except InvalidValue as e:
            if field is None or type(e) is not InvalidValue:
                raise
            raise TextRefused(str(e), field) from None

    return run


# -- the list ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """What the desk's list is narrowed to, as its address says."""

    status: str = OPEN
    level: int | None = None
    theme: str | None = None
    unit: str | None = None
    text: str = ""
    cursor: str | None = None
    limit: int = PER_PAGE

    def query(self) -> Callable[..., tuple[list[dict[str, Any]], str | None]]:
        chosen = None if self.status in (OPEN, ANY) else self.status
        return partial(
            q.warnings,
            status=chosen,
            statuses=OPEN_STATUSES if self.status == OPEN else None,
            level=self.level,
            theme=self.theme,
            unit=self.unit,
            text=self.text or None,
        )

    def address(self, **changes: Any) -> str:
        """``/warnings`` with these filters (and ``changes``)."""
        chosen = replace(self, **changes)
        params = {
            "status": chosen.status,
            "level": chosen.level,
            "theme": chosen.theme,
            "unit": chosen.unit,
            "q": chosen.text,
            "cursor": chosen.cursor,
            "limit": chosen.limit if chosen.limit != PER_PAGE else None,
        }
        kept = {k: v for k, v in params.items() if v not in (None, "")}
        return "/warnings" + (f"?{urlencode(kept)}" if kept else "")


def read_filters(params: Mapping[str, str]) -> tuple[Filters, dict[str, str]]:
    """The filters an address asks for; each value that is none of the choices is left
    out and named, {field: text id}."""
    errors: dict[str, str] = {}
    got: dict[str, Any] = {}
    status = params.get("status", OPEN) or OPEN
    if status in STATUS_CHOICES:
        got["status"] = status
    else:
        errors["status"] = "page.wdesk.filter.bad_choice"
    level = params.get("level", "")
    if level:
        if level in ("1", "2", "3", "4"):
            got["level"] = int(level)
        else:
            errors["level"] = "page.wdesk.filter.bad_choice"
    theme = params.get("theme", "")
    if theme:
        if theme in set(Theme):
            got["theme"] = theme
        else:
            errors["theme"] = "page.wdesk.filter.bad_choice"
    unit = params.get("unit", "").strip()
    if unit:
        if len(unit) <= 64 and unit.isprintable():
            got["unit"] = unit
        else:
            errors["unit"] = "page.wdesk.filter.bad_choice"
    text = params.get("q", "").strip()
    if len(text) > MAX_SEARCH or not text.isprintable():
        errors["q"] = "page.wdesk.filter.bad_search"
    else:
        got["text"] = text
    cursor = params.get("cursor", "")
    if cursor:
        got["cursor"] = cursor[:200]
    limit = params.get("limit", "")
    if limit:
        if limit.isdigit() and 1 <= int(limit) <= MAX_PER_PAGE:
            got["limit"] = int(limit)
        else:
            errors["limit"] = "page.wdesk.filter.bad_choice"
    return Filters(**got), errors


def _units(call: Call) -> list[dict[str, Any]]:
    """The units the principal may see, in the tree's order (the unit filter's choices,
    and every unit's name)."""
    principal = call.principal
    with view_store(call.services, call.request).read() as tx:
        rows = q.units(tx)
        if principal.reads_everything:
            return rows
        return [r for r in rows if q.within(tx, [r["code"]], principal.unit)]


def _scenarios(request: Request[Any, Any, Any], call: Call) -> list[dict[str, Any]]:
    """Each scenario a playbook defines: its mode and whether this person may switch it."""
    runner = request.app.state.get("intake")
    if runner is None:
        return []
    shown = []
    for name in runner.scenarios:
        scenario = runner.scenario(name)
        shown.append(
            {
                "name": name,
                "owner": runner.scenario_owner(name),
                "emergency": bool(scenario and scenario.emergency),
                "since": scenario.since if scenario else None,
                "subtrees": dict(scenario.subtrees) if scenario else {},
                "may_switch": may_switch_emergency(runner, call.principal, name),
            }
        )
    return shown


def _draw_list(
    request: Request[Any, Any, Any],
    call: Call,
    *,
    errors: dict[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
    status: int = 200,
) -> Response[str]:
    filters, wrong = read_filters(request.query_params)
    page = page_of(request, errors=dict(errors or {}), values=dict(values or {}))
    page.errors.update({field: page.t(text) for field, text in wrong.items()})
    rows: list[dict[str, Any]] = []
    next_cursor = None
    try:
        rows, next_cursor = call.page(None, VIEWS, filters.query(), filters.cursor, filters.limit)
    except ProblemError as e:
        if e.status != 422:
            raise
        page.errors["cursor"] = page.t("page.wdesk.filter.bad_cursor")
    units = _units(call)
    views = call.services.views
    at = now()
    return render(
        request,
        "warnings.html.j2",
        status=422 if wrong or "cursor" in page.errors else status,
        page=page,
        filters=filters,
        warnings=[views.warning(r) for r in rows],
        next_page=filters.address(cursor=next_cursor) if next_cursor else None,
        first_page=filters.address(cursor=None) if filters.cursor else None,
        units=units,
        unit_name=_namer(units, page.language),
        themes=list(Theme),
        statuses=STATUS_CHOICES,
        scenarios=_scenarios(request, call),
        age=lambda since: _age(page.t, at - since),
        scenario_name=lambda code: _text_or(page.t, f"page.wdesk.scenario.{code}", code),
    )


@get("/warnings", opt=PAGE, include_in_schema=False, sync_to_thread=True)
def warning_desk(request: Request[Any, Any, Any], call: On) -> Response[str]:
    """The warnings this person may see, filtered and searched, and the scenarios."""
    return _draw_list(request, call)


# -- one warning -------------------------------------------------------------------------


def _linked(call: Call, ids: list[str]) -> list[dict[str, Any]]:
    """The warning's instructions that this person may see (another unit's stay hidden,
    as at their own address)."""
    principal = call.principal
    shown = []
    with view_store(call.services, call.request).read() as tx:
        for iid in ids:
            row = q.instruction(tx, iid)
            if row is None:
                continue
            units = [row["issuer"], *(a["unit"] for a in row["assignees"])]
            if principal.reads_everything or q.within(tx, units, principal.unit):
                shown.append(row)
    return shown


def _draw_warning(
    request: Request[Any, Any, Any],
    call: Call,
    wid: UUID,
    again: Redraw = FIRST,
) -> Response[str]:
    row = call.visible_row(
        None,
        VIEWS,
        lambda tx: q.warning(tx, str(wid)),
        lambda r: [r["unit"]],
        "warning not found",
    )
    services, principal = call.services, call.principal
    warning = services.views.warning(row)
    steps = offered_steps(
        services.center,
        principal,
        unit=warning.unit,
        status=WarningStatus(warning.status),
        open_instructions=len(warning.open_instructions),
    )
    call.caught_up(None, "loops")
    try:
        timeline = visible_timeline(services, principal, UUID(row["loop_id"])).entries
    except NotFound:  # the loop index has not read the warning yet: no lines to show
        timeline = []
    merge = _merge_offer(call, wid)
    shown = {*steps, *([MERGE] if merge.targets else []), *([UNMERGE] if merge.unmerge else [])}
    errors = dict(again.errors)
    gone = [k for k in errors if k.partition(".")[0] not in shown and "." in k]
    if gone:
        # The form is no longer offered (the case moved on, or never could take the
        # step): its refusal is said at the top of the steps.
        errors = {"form": "; ".join(errors.pop(k) for k in gone), **errors}
    page = page_of(request, errors=errors, values=dict(again.values))
    units = _units(call)
    cap = warning.attributes.get("cap")
    return render(
        request,
        "warning.html.j2",
        status=again.status,
        page=page,
        warning=warning,
        steps=[name for name in STEP_ORDER if name in steps],
        instructions=_linked(call, row["instructions"]),
        timeline=timeline,
        cap=cap if isinstance(cap, dict) else None,
        unit_name=_namer(units, page.language),
        age=lambda since: _age(page.t, now() - since),
        cap_word=lambda kind, code: _text_or(page.t, f"page.wdesk.cap.{kind}.{code}", code),
        merge_targets=merge.targets,
        may_unmerge=merge.unmerge,
        main_case=merge.main,
        merged_here=merge.merged_here,
    )


@dataclass(frozen=True)
class MergeOffer:
    """What a warning's page offers and shows of merging (并单): the main cases it may be
    merged into now, whether it may be un-merged, its main case and what merged into it
    (those this person may see)."""

    targets: list[MergeTarget]
    unmerge: bool
    main: EarlyWarning | None
    merged_here: list[EarlyWarning]


def _merge_offer(call: Call, wid: UUID) -> MergeOffer:
    center, principal = call.services.center, call.principal
    warning = center.warning(wid)
    main = center.warning(warning.merged_into) if warning.merged_into is not None else None
    targets: list[MergeTarget] = []
    if may_merge_now(principal) and may_be_merged(warning):
        rows, _ = call.page(
            None,
            VIEWS,
            partial(q.warnings, statuses=OPEN_STATUSES, unit=principal.unit),
            None,
            MAX_MERGE_TARGETS + 1,
        )
        candidates = [center.warning(UUID(r["id"])) for r in rows if r["id"] != str(wid)]
        targets = merge_targets(center, principal, warning, candidates[:MAX_MERGE_TARGETS])

    def visible(w: EarlyWarning) -> bool:
        return principal.reads_everything or center.is_within(w.unit, principal.unit)

    return MergeOffer(
        targets=targets,
        unmerge=may_unmerge(center, principal, warning, main),
        main=main if main is not None and visible(main) else None,
        merged_here=[m for m in (center.warning(x) for x in warning.merged) if visible(m)],
    )


@get("/warnings/{wid:uuid}", opt=PAGE, include_in_schema=False, sync_to_thread=True)
def warning_page(request: Request[Any, Any, Any], call: On, wid: FromPath[UUID]) -> Response[str]:
    """One warning: its facts, instructions, timeline and the steps offered on it."""
    return _draw_warning(request, call, wid)


#: What a form's field says when it cannot be read (a text field: ``problem.text-refused``).
FIELD_WORDS = {"level": "page.wdesk.step.bad_level", "confirmed": "page.wdesk.step.bad_choice"}


def _body(request: Request[Any, Any, Any], fields: dict[str, Any], line: StepRoute) -> Any:
    """The step's body from its form; a field it cannot read is said in words."""
    try:
        return body_of(fields, body_type(line))
    except FormRefused as e:
        t = page_of(request).t
        said = {
            name: t(FIELD_WORDS.get(name, "problem.text-refused"))
            if name in (*FIELD_WORDS, *TEXT_FIELD.values())
            else message
            for name, message in e.errors.items()
        }
        raise FormRefused(said, e.status) from None


def _take_step(
    request: Request[Any, Any, Any], call: Call, wid: UUID, step: str, fields: dict[str, Any]
) -> Response[Any]:
    line = DESK_STEPS.get(step)
    if line is None:
        raise NotFound("no such step on a warning")
    services = call.services
    try:
        data = _body(request, fields, line)
        if line.check is not None:
            line.check(data)
        # The API's check before a step: a warning the unit cannot see is not found.
        warning_to_act_on(services, call.principal, services.center.warning(wid), DUTY)
        command = _at_field(
            lambda ctx: line.act(services.center, ctx, wid, data), TEXT_FIELD.get(step)
        )
        return act(call, data, command, then=f"/warnings/{wid}")
    except FormRefused as e:
        return _draw_warning(request, call, wid, Redraw.refused(e, step, fields))


def _form_route(path: str, role: str) -> Callable[[AnyCallable], HTTPRouteHandler]:
    """A form's route: only ``role`` posts it, and it answers 303 to the page it changed."""
    return post(path, opt={"page": True, "role": role}, include_in_schema=False, status_code=303)


async def _in_worker(request: Request[Any, Any, Any], work: Any, *args: Any) -> Response[Any]:
    """The form read here, its ``work`` (synchronous, as the store is) in a worker thread."""
    fields = await fields_of(request)
    return await anyio.to_thread.run_sync(work, request, *args, fields)


@_form_route("/warnings/{wid:uuid}/{step:str}", DUTY)
async def warning_step(
    request: Request[Any, Any, Any], call: On, wid: FromPath[UUID], step: FromPath[str]
) -> Response[Any]:
    """One of the desk's steps on a warning, then the warning's page again."""
    return await _in_worker(request, _take_step, call, wid, step)


def _switch(
    request: Request[Any, Any, Any], call: Call, name: str, fields: dict[str, Any]
) -> Response[Any]:
    runner = intake_of(request)
    if name not in runner.scenarios:
        raise NotFound("no such scenario")
    try:
        data = body_of(fields, EmergencySwitch)
        command = _at_field(
            lambda ctx: runner.switch_emergency(ctx, name, on=data.on, reason=data.reason),
            "reason",
        )
        return act(call, data, command, then="/warnings")
    except FormRefused as e:
        errors = {f"scenario.{name}.{k}": message for k, message in e.errors.items()}
        values = {f"scenario.{name}.reason": (fields.get("reason") or [""])[0]}
        return _draw_list(request, call, errors=errors, values=values, status=e.status)


@_form_route("/warnings/scenarios/{name:str}", DECLARES_EMERGENCY)
async def emergency_switch(
    request: Request[Any, Any, Any], call: On, name: FromPath[str]
) -> Response[Any]:
    """Switch a scenario's emergency mode on or off, with a reason."""
    return await _in_worker(request, _switch, call, name)


#: Where a refusal of a merge is said: the main case's picker, the override, the reason.
MERGE_FIELD: dict[type[DomainError], str] = {
    MergeIntoItself: "into",
    MergeTargetClosed: "into",
    CircularMerge: "into",
    MergeMismatch: "override",
}


def _merge_field(command: Callable[[Context], Outcome], reason_field: str) -> Any:
    """``command``, its refusals said at the merge form's fields."""

    def run(ctx: Context) -> Outcome:
        try:
            return command(ctx)
        except DomainError as e:
            if type(e) is InvalidValue:  # the reason's text: said in the text's words
                raise TextRefused(str(e), reason_field) from None
            field = MERGE_FIELD.get(type(e))
            if field is not None:
                e.field = field  # type: ignore[attr-defined]  # read by forms.refusal
            raise

    return run


def _take_merge(
    request: Request[Any, Any, Any], call: Call, wid: UUID, step: str, fields: dict[str, Any]
) -> Response[Any]:
    services = call.services
    center = services.center
    t = page_of(request).t
    try:
        # The API's check before a step: a warning the unit cannot see is not found.
        warning_to_act_on(services, call.principal, center.warning(wid), MERGES_WARNINGS)
        if step == MERGE:
            try:
                data: Any = body_of(fields, MergeForm)
            except FormRefused as e:
                words = {
                    "into": "page.wdesk.merge.bad_into",
                    "override": "page.wdesk.step.bad_choice",
                }
                raise FormRefused(
                    {k: t(words.get(k, "problem.text-refused")) for k in e.errors}, e.status
                ) from None
            try:
                center.warning(data.into)
            except NotFound:
                raise FormRefused({"into": t("page.wdesk.merge.bad_into")}) from None
            command = _merge_field(
                lambda ctx: center.merge_warning(
                    ctx, wid, data.into, data.reason, override=data.override
                ),
                "reason",
            )
        else:
            try:
                data = body_of(fields, s.Reason)
            except FormRefused as e:
                raise FormRefused({"reason": t("problem.text-refused")}, e.status) from None
            command = _merge_field(
                lambda ctx: center.unmerge_warning(ctx, wid, data.reason), "reason"
            )
        return act(call, data, command, then=f"/warnings/{wid}")
    except FormRefused as e:
        return _draw_warning(request, call, wid, Redraw.refused(e, step, fields))


@_form_route("/warnings/{wid:uuid}/merge", MERGES_WARNINGS)
async def merge_step(
    request: Request[Any, Any, Any], call: On, wid: FromPath[UUID]
) -> Response[Any]:
    """Merge this warning into a main case (并单), then its page again."""
    return await _in_worker(request, _take_merge, call, wid, MERGE)


@_form_route("/warnings/{wid:uuid}/unmerge", MERGES_WARNINGS)
async def unmerge_step(
    request: Request[Any, Any, Any], call: On, wid: FromPath[UUID]
) -> Response[Any]:
    """Take this warning out of its main case, then its page again."""
    return await _in_worker(request, _take_merge, call, wid, UNMERGE)


WARNING_DESK_HANDLERS = [
    warning_desk,
    warning_page,
    merge_step,
    unmerge_step,
    warning_step,
    emergency_switch,
]


# -- small words -------------------------------------------------------------------------


def _text_or(t: Callable[[str], str], message_id: str, fallback: str) -> str:
    return t(message_id) if catalogue().has(message_id) else fallback


def _namer(units: list[dict[str, Any]], language: str) -> Callable[[str], str]:
    column = "name_en" if language == "en" else "name"
    names = {u["code"]: u[column] or u["code"] for u in units}
    return lambda code: names.get(code, code)


def _age(t: Callable[..., str], spent: Any) -> str:
    """How long ago, in the largest units that matter at a desk."""
    minutes = max(int(spent.total_seconds() // 60), 0)
    if minutes == 0:
        return t("page.wdesk.age.now")
    if minutes < 60:
        return t("page.wdesk.age.minutes", minutes=minutes)
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return t("page.wdesk.age.hours", hours=hours, minutes=minutes)
    return t("page.wdesk.age.days", days=hours // 24, hours=hours % 24)
