"""The intake over the in-memory store with the demo district, and reading builders."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from closedloop.intake_config import build_intake
from domain.application import CommandCenter
from domain.cap_sender_commands import CapSenderCases
from domain.demo import bind_demo_senders, load_demo
from domain.intake import Intake
from domain.meta import Actor, Context
from domain.rules import Reading

MONITOR = Actor(person="sensor-gateway", unit="HW", role="monitor")
REGISTRAR = Actor(person="registrar", unit="HC", role="admin")


@pytest.fixture
def intake(memory_center: CommandCenter) -> Iterator[Intake]:
    load_demo(memory_center)
    bind_demo_senders(memory_center)
    return build_intake(memory_center)


def reading(
    metric: str,
    value: float | None,
    at: str,
    *,
    subject: str = "qingshan-reservoir",
    unit: str = "E-QSRES",
    **attributes: Any,
) -> Reading:
    return Reading(
        source="hydrology-net",
        subject=subject,
        metric=metric,
        value=value,
        unit_of_measure="",
        location="Qingshan",
        unit=unit,
        observed_at=datetime.fromisoformat(at),
        attributes=attributes,
    )


def monitor(batch: str) -> Context:
    return Context(MONITOR, command_id=f"observe:{batch}")


def bind_senders(intake: Intake, *senders: str, units: tuple[str, ...] = ("HW",)) -> None:
    """Bind CAP senders to the units whose monitors speak for them (ADR 0041)."""
    book = CapSenderCases(intake.center)
    for sender in senders:
        book.bind(Context(REGISTRAR), sender, units=list(units))
