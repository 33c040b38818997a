"""CAP 1.2 alerts as the command center understands them, and what each one does.

The XML is parsed and checked against the schema at the edge (``api/cap_xml.py``); what
reaches the domain is a :class:`CapAlert` of plain values. Here are the decisions:

- an ``Alert`` becomes one warning; its info blocks (often one per language) are kept,
  all of them, in the warning's attributes;
- the level comes from the profile: a colour parameter (red, orange, yellow, blue) when
  the sender gives one, otherwise the most severe ``severity`` of the info blocks;
- the responsible unit comes from the first area geocode or area name the profile maps;
  an area the profile maps to no unit is refused (:class:`CapAreaUnplaced`), never filed
  elsewhere, and only an alert that names no area at all goes to the profile's default
  unit (ADR 0041);
- an ``Update`` supersedes the warnings of the messages it references (their level is
  brought to the update's); an ``Update`` whose urgency is ``Past``, and a ``Cancel``,
  withdraw them; an update that references no message we know is taken as a new alert;
- a message is known by (sender, identifier, sent) as written in it, which is how
  ``references`` names it: the same message again changes nothing. The sender is one
  the sending token may speak for (``domain/cap_senders.py``), so the key is the
  authenticated sender's.

Who may send what is the intake's (``domain/cap_intake.py``): the errors it refuses with
are here, beside the message they judge.

The profile is data (``closedloop/cap_profile.toml``, read by ``closedloop/catalogues.py``):
colour and severity schemes are each publisher's choice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain.base import LoopAggregate
from domain.errors import InvalidValue, NotPermitted
from domain.limits import MAX_TEXT, MAX_TITLE
from domain.meta import Meta, derived_id
from domain.warning import Theme


class CapProfileError(InvalidValue):
    """The CAP profile cannot be used; the message names the setting."""


class CapAreaUnplaced(InvalidValue, code="cap-area-unplaced"):
    """An area of the message is mapped to no unit by the profile: it is refused, not
    filed at a unit it does not name."""


class CapSenderRefused(NotPermitted, code="cap-sender-refused"):
    """The token may not speak for the message's sender (no binding names it)."""


class CapOutsideSubtree(NotPermitted, code="cap-outside-subtree"):
    """The message would raise, update or cancel a warning outside the sending token's
    subtree."""


class CapReferenceRefused(NotPermitted, code="cap-reference-refused"):
    """An update or cancel references a message of another sender: only the original
    sender updates or cancels its messages."""


@dataclass(frozen=True)
class CapArea:
    description: str
    geocodes: tuple[tuple[str, str], ...] = ()
    polygons: tuple[str, ...] = ()
    circles: tuple[str, ...] = ()


@dataclass(frozen=True)
class CapInfo:
    language: str
    categories: tuple[str, ...]
    event: str
    urgency: str
    severity: str
    certainty: str
    headline: str = ""
    description: str = ""
    instruction: str = ""
    sender_name: str = ""
    effective: str = ""
    onset: str = ""
    expires: str = ""
    parameters: tuple[tuple[str, str], ...] = ()
    event_codes: tuple[tuple[str, str], ...] = ()
    areas: tuple[CapArea, ...] = ()


@dataclass(frozen=True)
class CapAlert:
    identifier: str
    sender: str
    sent: str  # as written: references name messages by this text
    status: str
    msg_type: str
    scope: str
    references: tuple[tuple[str, str, str], ...] = ()
    note: str = ""
    incidents: str = ""
    infos: tuple[CapInfo, ...] = ()

    @property
    def key(self) -> str:
        return message_key(self.sender, self.identifier, self.sent)

    @property
    def sent_at(self) -> datetime:
        return datetime.fromisoformat(self.sent)

    @property
    def is_withdrawal(self) -> bool:
        if self.msg_type == "Cancel":
            return True
        return self.msg_type == "Update" and any(i.urgency == "Past" for i in self.infos)


def message_key(sender: str, identifier: str, sent: str) -> str:
    return f"{sender.strip()},{identifier.strip()},{sent.strip()}"


def parse_references(text: str) -> tuple[tuple[str, str, str], ...]:
    """``sender,identifier,sent`` triples, space separated; malformed ones are skipped."""
    found: list[tuple[str, str, str]] = []
    for item in text.split():
        parts = item.split(",")
        if len(parts) == 3 and all(parts):
            found.append((parts[0], parts[1], parts[2]))
    return tuple(found)


# -- the profile ---------------------------------------------------------------------

_SEVERITY_DEFAULT = {"Extreme": 1, "Severe": 2, "Moderate": 3, "Minor": 4}
_COLOUR_DEFAULT = {"red": 1, "orange": 2, "yellow": 3, "blue": 4}
_CATEGORY_THEMES = {
    "Met": Theme.METEOROLOGICAL,
    "Geo": Theme.OTHER,
    "Env": Theme.ENVIRONMENT,
    "Transport": Theme.TRANSPORTATION,
    "Health": Theme.FOOD_SAFETY,
    "Safety": Theme.SAFETY_PRODUCTION,
}


@dataclass(frozen=True)
class CapProfile:
    default_unit: str
    severity: Mapping[str, int] = field(default_factory=lambda: dict(_SEVERITY_DEFAULT))
    colour: Mapping[str, int] = field(default_factory=lambda: dict(_COLOUR_DEFAULT))
    colour_parameters: tuple[str, ...] = ("colour", "color", "level_color", "awareness_level")
    unknown_severity_level: int = 4
    #: Messages of other statuses (Test, Exercise, Draft, System) are recorded, not acted on.
    act_on_statuses: tuple[str, ...] = ("Actual",)
    languages: tuple[str, ...] = ("zh-CN", "zh", "en-US", "en")
    #: geocode value (or "valueName=value") -> unit code
    geocodes: Mapping[str, str] = field(default_factory=dict)
    #: a fragment of the area description -> unit code
    area_names: Mapping[str, str] = field(default_factory=dict)
    categories: Mapping[str, str] = field(default_factory=lambda: dict(_CATEGORY_THEMES))

    def level_of(self, alert: CapAlert) -> tuple[int, str]:
        """The level, and where it came from (a colour parameter, or the severity)."""
        names = {n.lower() for n in self.colour_parameters}
        for info in alert.infos:
            for name, value in info.parameters:
                if name.strip().lower() in names:
                    colour = value.strip().lower()
                    if colour in self.colour:
                        return self.colour[colour], f"colour {value.strip()}"
        levels = [self.severity[i.severity] for i in alert.infos if i.severity in self.severity]
        if levels:
            return min(levels), f"severity {_severity_name(self, min(levels))}"
        return self.unknown_severity_level, "severity unknown"

    def unit_of(self, alert: CapAlert) -> tuple[str, str]:
        """The responsible unit, and the geocode or area name that named it: the first
        area geocode the profile maps, else the first area name; the default unit only
        for an alert that names no area. Areas none of which the profile maps are
        refused (:class:`CapAreaUnplaced`)."""
        areas = areas_of(alert)
        if not areas:
            return self.default_unit, "default unit (the message names no area)"
        for area in areas:
            found = self._by_geocode(area)
            if found is not None:
                return found
        for area in areas:
            found = self._by_name(area)
            if found is not None:
                return found
        raise CapAreaUnplaced(unplaced_text([a.description for a in areas]))

    def places_of(self, alert: CapAlert) -> list[tuple[CapArea, str | None, str]]:
        """Each area of the message, the unit the profile maps it to (None when it maps
        it to none), and the geocode or name that did."""
        places: list[tuple[CapArea, str | None, str]] = []
        for area in areas_of(alert):
            found = self._by_geocode(area) or self._by_name(area)
            places.append((area, *found) if found is not None else (area, None, ""))
        return places

    def _by_geocode(self, area: CapArea) -> tuple[str, str] | None:
        for name, value in area.geocodes:
            for key in (f"{name}={value}", value):
                if key in self.geocodes:
                    return self.geocodes[key], f"geocode {name}={value}"
        return None

    def _by_name(self, area: CapArea) -> tuple[str, str] | None:
        for fragment, unit in self.area_names.items():
            if fragment.lower() in area.description.lower():
                return unit, f"area {area.description!r}"
        return None

    def theme_of(self, alert: CapAlert) -> str:
        for info in alert.infos:
            for category in info.categories:
                if category in self.categories:
                    return self.categories[category]
        return Theme.OTHER

    def preferred(self, alert: CapAlert) -> CapInfo | None:
        """The info block in the language the center reads first."""
        for language in self.languages:
            for info in alert.infos:
                if info.language.lower() == language.lower():
                    return info
        for language in self.languages:
            prefix = language.split("-")[0].lower()
            for info in alert.infos:
                if info.language.lower().split("-")[0] == prefix:
                    return info
        return alert.infos[0] if alert.infos else None


def areas_of(alert: CapAlert) -> list[CapArea]:
    """Every area of every info block, each once (translations repeat them)."""
    return list(dict.fromkeys(a for i in alert.infos for a in i.areas))


def unplaced_text(descriptions: list[str]) -> str:
    named = ", ".join(repr(d[:80]) for d in dict.fromkeys(descriptions)) or "(no name)"
    return (
        f"no unit of this center is named by area {named}: a CAP message is filed only "
        "where its area's geocode or name is mapped to a unit (the CAP profile), never "
        "at a unit it does not name"
    )


def _severity_name(profile: CapProfile, level: int) -> str:
    return next((k for k, v in profile.severity.items() if v == level), str(level))


# -- what the warning says ---------------------------------------------------------


@dataclass(frozen=True)
class CapWarning:
    """The warning an alert raises, or the level an update brings."""

    level: int
    level_from: str
    unit: str
    unit_from: str
    theme: str
    title: str
    description: str
    location: str
    rule: str
    attributes: dict[str, Any]


def warning_of(alert: CapAlert, profile: CapProfile) -> CapWarning:
    level, level_from = profile.level_of(alert)
    unit, unit_from = profile.unit_of(alert)
    info = profile.preferred(alert)
    title = (info.headline or info.event) if info else ""
    title = title or f"{alert.msg_type} from {alert.sender}"
    description = (info.description if info else "") or alert.note
    location = "; ".join(dict.fromkeys(a.description for i in alert.infos for a in i.areas))
    event_name = info.event if info else alert.msg_type
    return CapWarning(
        level=level,
        level_from=level_from,
        unit=unit,
        unit_from=unit_from,
        theme=profile.theme_of(alert),
        title=title[:MAX_TITLE],
        description=description[:MAX_TEXT],
        location=location[:500],
        rule=f"cap:{event_name}"[:128],
        attributes={"cap": alert_attributes(alert)},
    )


def alert_attributes(alert: CapAlert) -> dict[str, Any]:
    """Everything a dispatcher or a CAP rendering needs, every language kept."""
    return {
        "identifier": alert.identifier,
        "sender": alert.sender,
        "sent": alert.sent,
        "status": alert.status,
        "msg_type": alert.msg_type,
        "scope": alert.scope,
        "references": [",".join(r) for r in alert.references],
        "incidents": alert.incidents,
        "infos": [
            {
                "language": i.language,
                "categories": list(i.categories),
                "event": i.event,
                "urgency": i.urgency,
                "severity": i.severity,
                "certainty": i.certainty,
                "headline": i.headline,
                "description": i.description[:MAX_TEXT],
                "instruction": i.instruction[:MAX_TEXT],
                "sender_name": i.sender_name,
                "effective": i.effective,
                "onset": i.onset,
                "expires": i.expires,
                "parameters": [list(p) for p in i.parameters],
                "areas": [
                    {
                        "description": a.description,
                        "geocodes": [list(g) for g in a.geocodes],
                        "polygons": list(a.polygons)[:20],
                        "circles": list(a.circles)[:20],
                    }
                    for a in i.areas
                ],
            }
            for i in alert.infos
        ],
    }


# -- the record of a message received ----------------------------------------------


def cap_message_id(key: str) -> UUID:
    """The record of a message from a sender the sending token may speak for (ADR 0041).

    A namespace of its own: before senders were bound, anyone could take a key under
    the old one (:func:`legacy_cap_message_id`) and so hold back the real message.
    """
    return derived_id("cap-message:bound-sender", key)


def legacy_cap_message_id(key: str) -> UUID:
    """Where a message received before senders were bound is recorded."""
    return derived_id("cap-message", key)


class CapMessage(LoopAggregate):
    """A CAP message received, once: what it was and what it did."""

    class Received(LoopAggregate.Created):
        key: str
        msg_type: str
        status: str
        references: list[str]
        warning_ids: list[UUID]
        outcome: str

    @staticmethod
    def create_id(key: str) -> UUID:
        return cap_message_id(key)

    @event(Received)
    def __init__(
        self,
        key: str,
        msg_type: str,
        status: str,
        references: list[str],
        warning_ids: list[UUID],
        outcome: str,
        meta: Meta,
    ) -> None:
        self.key = key
        self.msg_type = msg_type
        self.status = status
        self.references = list(references)
        self.warning_ids = list(warning_ids)
        self.outcome = outcome
