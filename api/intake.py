"""The intake's resources: observations, CAP messages, warnings as CAP, emergency mode.

Thin handlers over :class:`~domain.intake.Intake`, which does the work through the
command center's commands. Register :data:`INTAKE_HANDLERS` in ``create_app``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import anyio.to_thread
import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, JSONBody

from api.access import Services, actor_of, visible_warning
from api.cap_xml import CAP_MEDIA_TYPES, MAX_CAP_BYTES, CapRejected, parse_cap, render_warning
from api.commands import note_write
from api.http import READ, WRITE, On, Svc, Who, best_match
from api.observing import taken_in
from api.problems import PROBLEM_MEDIA_TYPE, ProblemError
from api.schemas import Code, Short
from api.tokens import Principal
from domain.intake import Intake
from domain.meta import Context, now
from domain.rules import Reading
from telemetry import tracing

#: The sender named in the CAP messages this center renders.
CAP_SENDER = "closedloop@haiwan.command-center"


def intake_of(request: Request[Any, Any, Any]) -> Intake:
    """The intake the composition root gave this application (``create_app(intake=…)``)."""
    intake: Intake | None = request.app.state.get("intake")
    if intake is None:
        raise ProblemError(503, "the warning intake is not configured in this server")
    return intake


# -- what goes in and out ----------------------------------------------------------


class ReadingIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    source: Short
    subject: Short
    metric: Short
    #: A number (or null: a reading without a value); text or true/false is refused for
    #: this reading alone, and the batch's other readings are kept (ADR 0073).
    value: float | str | bool | None
    unit_of_measure: Annotated[str, msgspec.Meta(max_length=32)] = ""
    location: Annotated[str, msgspec.Meta(max_length=500)] = ""
    unit: Code
    observed_at: datetime
    attributes: dict[str, Any] = msgspec.field(default_factory=dict)


class ObservationBatchIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A monitor's batch; ``batch_id`` makes it idempotent (the same id answers the first
    result again and records nothing new)."""

    batch_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    readings: Annotated[list[ReadingIn], msgspec.Meta(min_length=1, max_length=1000)]


class ReadingOutcome(msgspec.Struct, kw_only=True):
    index: int
    rule: str | None
    action: str
    level: int | None = None
    limit: float | None = None
    explanation: str = ""
    warning_id: UUID | None = None
    instructions: list[dict[str, Any]] = msgspec.field(default_factory=list)


class BatchReceipt(msgspec.Struct, kw_only=True):
    batch_id: str
    readings: int
    replayed: bool
    results: list[ReadingOutcome]


class RefusedReading(msgspec.Struct, kw_only=True):
    """One reading of a batch that was not kept: its index, the field at fault, why."""

    index: int
    field: str
    message: str


class PartlyRefusedBatch(msgspec.Struct, kw_only=True):
    """An RFC 9457 problem (422) for a batch some of whose readings were refused: the
    good ones are kept and judged (``results``), each bad one answered in ``errors``."""

    type: str = "urn:closedloop:problem:readings-refused"
    title: str = "Unprocessable Content"
    status: int = 422
    detail: str
    errors: list[RefusedReading]
    batch_id: str
    readings: int
    accepted: int
    replayed: bool
    results: list[ReadingOutcome]


class CapReceipt(msgspec.Struct, kw_only=True):
    message: str
    outcome: str
    warning_ids: list[UUID]
    replayed: bool
    instructions: list[dict[str, Any]]


class EmergencySwitch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``scope`` names the unit whose subtree alone is switched; without it, the whole
    scenario (its owner's subtree)."""

    on: bool
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2_000)]
    scope: Code | None = None
    command_id: Annotated[str, msgspec.Meta(min_length=1, max_length=63)] | None = None


class ScenarioOut(msgspec.Struct, kw_only=True):
    """``emergency`` and ``since`` are the whole scenario's; ``subtrees`` the units whose
    subtrees are in emergency mode on their own, and since when."""

    name: str
    owner: str
    emergency: bool
    since: datetime | None
    subtrees: dict[str, datetime] = msgspec.field(default_factory=dict)
    version: int
    position: int | None = None


# -- handlers ----------------------------------------------------------------------


class ObservationController(Controller):
    path = "/v1/observations"
    tags = ("intake",)

    @post(
        "/",
        sync_to_thread=True,
        opt={"role": "monitor"},
        responses=WRITE,
        description=(
            "A batch of readings. Readings that cannot be kept (unknown station or metric, "
            "a value that is not a finite number, a unit of measure that does not match, "
            "a measured time too far ahead) are answered one by one in a 422 problem's "
            "`errors`, with the others kept and judged (ADR 0073)."
        ),
    )
    def observe(self, call: On, data: JSONBody[ObservationBatchIn]) -> Response[Any]:
        with taken_in("observations"):
            return self._observe(call, data)

    def _observe(self, call: On, data: ObservationBatchIn) -> Response[Any]:
        center, principal = call.center, call.principal
        readings: list[Reading] = []
        # A batch names few units: each is checked once, not once per reading.
        checked: set[str] = set()
        for index, r in enumerate(data.readings):
            where = f"readings[{index}]"
            if r.unit in checked:
                pass
            elif center.unit(r.unit) and center.is_within(r.unit, principal.unit):
                checked.add(r.unit)
            else:
                raise ProblemError(
                    403,
                    f"{where}: a monitor of {principal.unit} reports only for units under it, "
                    f"not for {r.unit}",
                    code="not-permitted",
                )
            # Not converted: a value that is not a number is the intake's to refuse,
            # for this reading alone.
            readings.append(
                Reading.of(
                    r.source,
                    r.subject,
                    r.metric,
                    r.value,  # type: ignore[arg-type]
                    r.unit_of_measure,
                    r.location,
                    r.unit,
                    r.observed_at,
                    r.attributes,
                )
            )
        ctx = Context(
            call.actor, command_id=f"observe:{data.batch_id}", traceparent=tracing.traceparent()
        )
        result = intake_of(call.request).observe(ctx, data.batch_id, readings)
        if not result.replayed:
            # The intake answers no position: the log's head now lies at or past its writes.
            note_write(call.services, principal, center.head_position())
        # One conversion for the whole list: a thousand calls cost more than the work.
        results = msgspec.convert(result.results, list[ReadingOutcome])
        if result.refused:
            refused = [
                msgspec.convert(e, RefusedReading, from_attributes=False)
                for e in (
                    {"index": e["index"], "field": e["field"], "message": e["reason"]}
                    for e in result.refused
                )
            ]
            body = PartlyRefusedBatch(
                detail=(
                    f"{len(refused)} of {result.readings} reading(s) refused; the others are kept"
                ),
                errors=refused,
                batch_id=result.batch,
                readings=result.readings,
                accepted=result.readings - len(refused),
                replayed=result.replayed,
                results=results,
            )
            return Response(body, status_code=422, media_type=PROBLEM_MEDIA_TYPE)
        receipt = BatchReceipt(
            batch_id=result.batch,
            readings=result.readings,
            replayed=result.replayed,
            results=results,
        )
        return Response(receipt, status_code=200 if result.replayed else 201)


class CapController(Controller):
    path = "/v1/cap"
    tags = ("intake",)

    @post(
        "/",
        opt={"role": "monitor", "media_types": CAP_MEDIA_TYPES},
        responses=WRITE,
        description="One CAP 1.2 <alert> (application/cap+xml or application/xml).",
    )
    async def receive(
        self, services: Svc, principal: Who, request: Request[Any, Any, Any]
    ) -> Response[CapReceipt]:
        with taken_in("cap"):
            return await self._receive(services, principal, request)

    async def _receive(
        self, services: Services, principal: Principal, request: Request[Any, Any, Any]
    ) -> Response[CapReceipt]:
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media not in CAP_MEDIA_TYPES:
            raise ProblemError(
                415, f"send CAP 1.2 as application/cap+xml or application/xml, not {media or '?'}"
            )
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_CAP_BYTES:
            raise ProblemError(413, f"a CAP message is limited to {MAX_CAP_BYTES // 1024} KiB")
        body = await request.body()
        intake = intake_of(request)

        def work() -> CapReceipt:
            try:
                alert = parse_cap(body)
            except CapRejected as e:
                raise ProblemError(e.status, e.detail) from None
            ctx = Context(
                actor_of(request, principal),
                command_id=f"cap:{alert.key}"[:128],
                traceparent=tracing.traceparent(),
            )
            # The token's public id: a sender may be bound to it rather than to its unit.
            result = intake.receive_cap(ctx, alert, token=principal.token_id)
            if not result.replayed:
                note_write(services, principal, services.center.head_position())
            return CapReceipt(
                message=result.key,
                outcome=result.outcome,
                warning_ids=result.warning_ids,
                replayed=result.replayed,
                instructions=result.instructions,
            )

        receipt = await anyio.to_thread.run_sync(work)
        return Response(receipt, status_code=200 if receipt.replayed else 201)


class WarningCapController(Controller):
    path = "/v1/warnings"
    tags = ("warnings",)

    @get("/{wid:uuid}/cap", sync_to_thread=True, responses=READ, media_type="application/cap+xml")
    def warning_as_cap(self, services: Svc, principal: Who, wid: FromPath[UUID]) -> Response[bytes]:
        return cap_response(services, principal, wid)


def wants_cap(request: Request[Any, Any, Any]) -> bool:
    """Whether the ``Accept`` header prefers CAP to JSON."""
    json = "application/json"
    return best_match(request, [json, *CAP_MEDIA_TYPES], default=json) != json


def cap_response(services: Services, principal: Principal, wid: UUID) -> Response[bytes]:
    """A warning as a CAP 1.2 message (``/cap``, or ``Accept: application/cap+xml``)."""
    center = services.center
    w = visible_warning(services, principal, center.warning(wid))
    unit = center.unit(w.unit)
    body = render_warning(
        w,
        sender=CAP_SENDER,
        unit_name=unit.name,
        zone=center.calendar.to_local(now()).tzinfo,
        sent=now(),
    )
    return Response(body, media_type="application/cap+xml")


class ScenarioController(Controller):
    path = "/v1/scenarios"
    tags = ("intake",)

    @get("/{name:str}", sync_to_thread=True, responses=READ)
    def get_scenario(self, request: Request[Any, Any, Any], name: FromPath[str]) -> ScenarioOut:
        intake = intake_of(request)
        scenario = intake.scenario(name)
        owner = intake.scenario_owner(name)
        if scenario is None:
            return ScenarioOut(name=name, owner=owner, emergency=False, since=None, version=0)
        return ScenarioOut(
            name=name,
            owner=owner,
            emergency=scenario.emergency,
            since=scenario.since,
            subtrees=dict(scenario.subtrees),
            version=scenario.version,
        )

    @post(
        "/{name:str}/emergency", sync_to_thread=True, opt={"role": "duty_officer"}, responses=WRITE
    )
    def switch_emergency(
        self, call: On, name: FromPath[str], data: JSONBody[EmergencySwitch]
    ) -> ScenarioOut:
        intake = intake_of(call.request)
        args: dict[str, Any] = {"actor": call.actor}
        if data.command_id is not None:
            args["command_id"] = f"{call.principal.unit}:{data.command_id}"
        outcome = intake.switch_emergency(
            Context(**args), name, on=data.on, reason=data.reason, scope=data.scope
        )
        note_write(call.services, call.principal, outcome.position)
        scenario = intake.scenario(name)
        assert scenario is not None
        return ScenarioOut(
            name=name,
            owner=intake.scenario_owner(name),
            emergency=scenario.emergency,
            since=scenario.since,
            subtrees=dict(scenario.subtrees),
            version=outcome.version,
            position=outcome.position,
        )


INTAKE_HANDLERS = [ObservationController, CapController, WarningCapController, ScenarioController]
