"""A demo district: a city, one district with its departments, offices, communities
and a handful of enterprises with safety duties, with Chinese and English names, and the
CAP senders its monitors speak for.

Loading it twice changes nothing: each unit is registered under a fixed command id,
and a unit already on the record is left as it is; so is a CAP sender already bound.
"""

from __future__ import annotations

import csv
import io
from importlib import resources
from typing import Any

from domain.application import CommandCenter
from domain.cap_sender_commands import CapSenderCases
from domain.meta import Actor, Context

#: What each row of :data:`DEMO_UNITS` holds, in order: the keywords of
#: :meth:`CommandCenter.register_unit`, as the columns of ``demo_district.csv``.
FIELDS = ("code", "name", "name_en", "level", "kind", "parent")

DemoUnit = tuple[str, str, str, str, str, str | None]


def _read_district() -> list[DemoUnit]:
    # The district is data, kept beside this module as a table a person can edit
    # (and review) as a table; a blank parent is the root.
    text = resources.files(__package__).joinpath("demo_district.csv").read_text("utf-8")
    rows = csv.DictReader(io.StringIO(text))
    if tuple(rows.fieldnames or ()) != FIELDS:
        raise ValueError(f"demo_district.csv must have the columns {FIELDS}")
    return [
        (r["code"], r["name"], r["name_en"], r["level"], r["kind"], r["parent"] or None)
        for r in rows
    ]


#: The demo district's units, parents before children.
DEMO_UNITS: list[DemoUnit] = _read_district()

#: The CAP senders of the demo and the units whose monitors speak for each (ADR 0041):
#: the district's meteorological and water feeds come in through the district's gateway,
#: the city's through the city's; an office's monitors speak for their office alone.
DEMO_CAP_SENDERS: list[tuple[str, list[str]]] = [
    ("met@haiwan.gov.cn", ["HW"]),
    ("water@haiwan.gov.cn", ["HW", "HW-WATER"]),
    ("emergency@haicheng.gov.cn", ["HC"]),
    ("donghu@haiwan.gov.cn", ["HW-DH"]),
]

DEMO_ADMIN = Actor(person="demo-loader", unit="HC", role="admin")


def load_demo(app: CommandCenter) -> int:
    """Register the demo district's units that are not on the record yet; return how many."""
    existing = {u.code for u in app.units()}
    added = 0
    for row in DEMO_UNITS:
        unit: dict[str, Any] = dict(zip(FIELDS, row, strict=True))
        if unit["code"] in existing:
            continue
        app.register_unit(Context(DEMO_ADMIN, command_id=f"demo:{unit['code']}"), **unit)
        added += 1
    return added


def bind_demo_senders(app: CommandCenter) -> int:
    """Bind the demo's CAP senders that are not bound yet (``closedloop demo load`` does it
    after the units); return how many. Apart from :func:`load_demo`, so that the units'
    log positions stay as they were for everything built on them."""
    senders = CapSenderCases(app)
    bound = {b["sender"] for b in senders.bindings()}
    added = 0
    for sender, units in DEMO_CAP_SENDERS:
        if sender not in bound:
            senders.bind(Context(DEMO_ADMIN, command_id=f"demo:cap:{sender}"), sender, units=units)
            added += 1
    return added
