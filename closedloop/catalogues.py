"""The data files Closed Loop runs on, read and decoded: the working calendar, the rule
catalogue, the CAP profile and the playbooks (ADR 0005, 0012, 0036).

Each file is TOML decoded by msgspec into a ``Struct`` that refuses unknown settings
(``forbid_unknown_fields``); what the types cannot say (a known theme, ordered bands, a
duration) is checked after, and the domain's classes are built from the result. Every
mistake stops start-up with the file, the entry and the reason, in the domain's error
(``CalendarError``, ``CatalogueError``, ``CapProfileError``, ``PlaybookError``), so the
domain keeps its decisions and its data classes and never reads a file.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from datetime import time, timedelta
from functools import partial
from pathlib import Path
from typing import Annotated, Any, TypeVar

import msgspec

from domain.calendar import CalendarError, WorkingCalendar, WorkingDuration
from domain.cap import CapProfile, CapProfileError
from domain.errors import InvalidValue
from domain.grouping import LABEL_NAME, OWN_LABELS, check_group_by
from domain.inhibition import InhibitRule, check_inhibit
from domain.instruction import Priority
from domain.playbooks import TRIGGERS, Playbook, PlaybookError, Step
from domain.readings import Feed, Station, StationCatalogue
from domain.rules import KINDS, LEVEL_KEYS, Catalogue, CatalogueError, Rule
from domain.silence_commands import FEED_SILENT_RULE
from domain.unit import Level, check_code
from domain.warning import LEVEL_NAMES, Theme

E = TypeVar("E", bound=InvalidValue)
S = TypeVar("S")

#: A number TOML may write as an integer or a float, but not nan or inf.
Number = Annotated[float, msgspec.Meta(ge=-sys.float_info.max, le=sys.float_info.max)]
ALevel = Annotated[int, msgspec.Meta(ge=min(LEVEL_NAMES), le=max(LEVEL_NAMES))]


class _Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A table of a data file: an unknown setting is a typo, refused by name."""


# -- reading a file ----------------------------------------------------------------------


def read_toml(path: Path, error: type[E], what: str) -> dict[str, Any]:
    """The tables of a TOML file; a missing, unreadable or broken file is ``error``,
    naming ``what`` and the file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except OSError as e:
        raise error(f"{what} {path} cannot be read: {e.strerror}") from None
    try:
        table: dict[str, Any] = msgspec.toml.decode(data)
    except msgspec.DecodeError as e:
        raise error(f"{what} {path} is not valid TOML: {e}") from None
    return table


def decode(data: Any, kind: type[S], error: type[E]) -> S:
    """``data`` as the ``Struct`` ``kind``; msgspec's reason in the file's words."""
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as e:
        raise error(_reason(str(e))) from None


def _reason(text: str) -> str:
    # msgspec says "Object contains unknown field `x` - at `$.match`": the file's author
    # knows settings and tables, not JSON paths.
    found = re.fullmatch(r"(.*?)(?: - at `\$\.?(.*)`)?", text)
    message, where = (found.group(1), found.group(2)) if found else (text, None)
    if unknown := re.fullmatch(r"Object contains unknown field `(.+)`", message):
        reason = f"unknown setting(s) {unknown.group(1)}"
    elif missing := re.fullmatch(r"Object missing required field `(.+)`", message):
        reason = f'needs {missing.group(1)} = "..."'
    else:
        reason = message[0].lower() + message[1:].replace("`", "")
    return f"{where}: {reason}" if where else reason


def _text(value: str, key: str, error: type[E]) -> str:
    if not value.strip():
        raise error(f'needs {key} = "..."')
    return value.strip()


def _in_file(load: Callable[[], S], error: type[E], where: str) -> S:
    try:
        return load()
    except error as e:
        raise error(f"{where}: {e}") from None


# -- the working calendar (ADR 0005) -----------------------------------------------------


def load_calendar(path: Path) -> WorkingCalendar:
    """The working calendar from its TOML file; a bad file stops start-up with its reason."""
    data = read_toml(path, CalendarError, "calendar file")
    return _in_file(
        lambda: WorkingCalendar.from_mapping(data), CalendarError, f"calendar file {path}"
    )


# -- the rule catalogue (ADR 0012) -------------------------------------------------------


class RuleEntry(_Strict):
    """One ``[[rules]]`` table."""

    code: str
    kind: str
    theme: str
    title: str
    metric: str
    direction: str = "above"
    levels: dict[str, Number] | None = None
    bands: dict[str, Number] | None = None
    limit: Number | None = None
    limits: dict[str, Number] = msgspec.field(default_factory=dict)
    limit_attribute: str | None = None
    night_limit: Number | None = None
    night_factor: Number | None = None
    night: str = "22:00-06:00"
    settle: str | None = None
    settle_readings: Annotated[int, msgspec.Meta(ge=1)] | None = None
    unit_of_measure: str = ""
    #: Grouping (ADR 0087): the labels breaches are grouped by, and the window.
    group_by: list[str] = msgspec.field(default_factory=list)
    group_window_minutes: int | None = None


class InhibitEntry(_Strict):
    """One ``[[inhibit]]`` table (ADR 0087)."""

    name: str
    source_rules: list[str]
    target_rules: list[str]
    source_levels: list[str] = msgspec.field(default_factory=list)
    target_levels: list[str] = msgspec.field(default_factory=list)
    equal: list[str] = msgspec.field(default_factory=list)


class CatalogueFile(_Strict):
    zone: str = "Asia/Shanghai"
    rules: list[Any] = msgspec.field(default_factory=list)
    inhibit: list[Any] = msgspec.field(default_factory=list)


def load_catalogue(path: Path) -> Catalogue:
    """Read and check the catalogue file; a bad entry stops with its name and reason."""
    data = read_toml(path, CatalogueError, "rule catalogue")
    return _in_file(lambda: catalogue_from_mapping(data), CatalogueError, f"rule catalogue {path}")


def catalogue_from_mapping(data: Mapping[str, Any]) -> Catalogue:
    file = decode(data, CatalogueFile, CatalogueError)
    try:
        Catalogue((), file.zone).tz  # noqa: B018 (the zone must resolve)
    except (LookupError, ValueError):
        raise CatalogueError(f"zone {file.zone!r} is not an IANA time zone") from None
    if not file.rules:
        raise CatalogueError("no [[rules]] entries")
    rules: list[Rule] = []
    for index, entry in enumerate(file.rules):
        name = entry.get("code") if isinstance(entry, Mapping) else None
        where = f"rule {name!r}" if isinstance(name, str) else f"rules[{index}]"
        rules.append(_in_file(partial(_rule, entry), CatalogueError, where))
    codes = [r.code for r in rules]
    twice = sorted({c for c in codes if codes.count(c) > 1})
    if twice:
        raise CatalogueError(f"rule code(s) {', '.join(twice)} listed twice")
    inhibit: list[InhibitRule] = []
    for index, entry in enumerate(file.inhibit):
        name = entry.get("name") if isinstance(entry, Mapping) else None
        where = f"inhibit {name!r}" if isinstance(name, str) else f"inhibit[{index}]"
        inhibit.append(_in_file(partial(_inhibit, entry, set(codes)), CatalogueError, where))
    names = [i.name for i in inhibit]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise CatalogueError(f"inhibit name(s) {', '.join(twice)} listed twice")
    return Catalogue(tuple(rules), file.zone, tuple(inhibit))


def _inhibit(data: Any, codes: set[str]) -> InhibitRule:
    if not isinstance(data, Mapping):
        raise CatalogueError("each inhibit rule is a table ([[inhibit]])")
    entry = decode(data, InhibitEntry, CatalogueError)

    def known(code: str) -> bool:
        # The catalogue's rules, the heartbeat's, and CAP's (cap:<event>).
        return code in codes or code == FEED_SILENT_RULE or code.startswith("cap:")

    try:
        check_inhibit(entry.name, entry.source_rules, entry.target_rules, entry.equal, known)
    except ValueError as e:
        raise CatalogueError(str(e)) from None

    def levels(key: str, names: list[str]) -> frozenset[int]:
        for n in names:
            if n not in LEVEL_KEYS:
                raise CatalogueError(f"{key}: levels are I, II, III, IV, not {n!r}")
        return frozenset(LEVEL_KEYS[n] for n in names)

    return InhibitRule(
        name=entry.name.strip(),
        source_rules=tuple(entry.source_rules),
        target_rules=tuple(entry.target_rules),
        source_levels=levels("source_levels", entry.source_levels),
        target_levels=levels("target_levels", entry.target_levels),
        equal=tuple(entry.equal),
    )


def _rule(data: Any) -> Rule:
    if not isinstance(data, Mapping):
        raise CatalogueError("each rule is a table ([[rules]])")
    entry = decode(data, RuleEntry, CatalogueError)
    if entry.kind not in KINDS:
        raise CatalogueError(f"kind {entry.kind!r} is not one of {', '.join(KINDS)}")
    if entry.theme not in set(Theme):
        raise CatalogueError(f"theme {entry.theme!r} is not one of {', '.join(Theme)}")
    if entry.direction not in ("above", "below"):
        raise CatalogueError("direction is 'above' or 'below'")
    source = "levels" if entry.kind == "threshold" else "bands"
    table = entry.levels if source == "levels" else entry.bands
    if not table:
        raise CatalogueError(f"needs a [{source}] table such as {{ IV = 0, III = 1 }}")
    bands: list[tuple[int, float]] = []
    for key, value in table.items():
        if key not in LEVEL_KEYS:
            raise CatalogueError(f"{source}.{key}: levels are I, II, III, IV")
        bands.append((LEVEL_KEYS[key], value))
    bands.sort()
    _check_monotonic(bands, source, entry.direction if entry.kind == "threshold" else "above")
    if (
        entry.kind != "threshold"
        and entry.limit is None
        and not entry.limits
        and not entry.limit_attribute
    ):
        raise CatalogueError("needs a limit, a [limits] table or a limit_attribute")
    if entry.night_factor is not None and not 0 < entry.night_factor <= 1:
        raise CatalogueError("night_factor is a fraction of the day limit, over 0 and at most 1")
    try:
        check_group_by(entry.group_by, entry.group_window_minutes)
    except ValueError as e:
        raise CatalogueError(str(e)) from None
    settle = _clock_duration(entry.settle) if entry.settle is not None else None
    if settle is None and entry.settle_readings is None:
        raise CatalogueError("needs settle (e.g. 'PT30M') or settle_readings (e.g. 3)")
    return Rule(
        code=_text(entry.code, "code", CatalogueError),
        kind=entry.kind,
        theme=entry.theme,
        title=_text(entry.title, "title", CatalogueError),
        metric=_text(entry.metric, "metric", CatalogueError),
        direction=entry.direction,
        bands=tuple(bands),
        limit=entry.limit,
        limits=dict(entry.limits),
        limit_attribute=entry.limit_attribute or None,
        night_limit=entry.night_limit,
        night_factor=entry.night_factor,
        night=_night(entry.night),
        settle=settle,
        settle_readings=entry.settle_readings,
        unit_of_measure=entry.unit_of_measure,
        group_by=tuple(entry.group_by),
        group_window=(
            timedelta(minutes=entry.group_window_minutes)
            if entry.group_window_minutes is not None
            else None
        ),
    )


def _check_monotonic(bands: list[tuple[int, float]], source: str, direction: str) -> None:
    # Level I is the most severe, so it must sit furthest beyond the limit.
    values = [v for _, v in bands]  # ordered I, II, III, IV
    ordered = values == sorted(values, reverse=direction == "above")
    if not ordered or len(set(values)) != len(values):
        raise CatalogueError(
            f"{source}: level I must lie furthest beyond, then II, III, IV in order"
        )


def _night(text: str) -> tuple[time, time]:
    try:
        start, end = (time.fromisoformat(part.strip()) for part in text.split("-"))
    except ValueError:
        raise CatalogueError(f"night = {text!r}: expected 'HH:MM-HH:MM'") from None
    return start, end


def _clock_duration(text: str) -> timedelta:
    try:
        return WorkingDuration.parse(text).clock()
    except CalendarError as e:
        raise CatalogueError(f"settle: {e}") from None


# -- the CAP profile (ADR 0012) ----------------------------------------------------------


class CapProfileFile(_Strict):
    default_unit: str
    unknown_severity_level: ALevel | None = None
    act_on_statuses: list[str] | None = None
    languages: list[str] | None = None
    severity: dict[str, ALevel] | None = None
    colour: dict[str, ALevel] | None = None
    colour_parameters: list[str] | None = None
    geocodes: dict[str, str] | None = None
    area_names: dict[str, str] | None = None
    categories: dict[str, str] | None = None


def load_cap_profile(path: Path) -> CapProfile:
    data = read_toml(path, CapProfileError, "CAP profile")
    return _in_file(lambda: cap_profile_from_mapping(data), CapProfileError, f"CAP profile {path}")


def cap_profile_from_mapping(data: Mapping[str, Any]) -> CapProfile:
    file = decode(data, CapProfileFile, CapProfileError)
    args: dict[str, Any] = {
        "default_unit": _text(file.default_unit, "default_unit", CapProfileError)
    }
    if file.severity is not None:
        args["severity"] = dict(file.severity)
    if file.colour is not None:
        args["colour"] = {k.lower(): v for k, v in file.colour.items()}
    for key in ("geocodes", "area_names", "categories"):
        table: dict[str, str] | None = getattr(file, key)
        if table is None:
            continue
        for name, value in table.items():
            if not value:
                raise CapProfileError(f"{key}.{name} must name a unit code or theme")
            if key == "categories" and value not in set(Theme):
                raise CapProfileError(f"categories.{name} = {value!r} is not a theme")
        args[key] = dict(table)
    for key in ("colour_parameters", "act_on_statuses", "languages"):
        if (items := getattr(file, key)) is not None:
            args[key] = tuple(items)
    if file.unknown_severity_level is not None:
        args["unknown_severity_level"] = file.unknown_severity_level
    return CapProfile(**args)


# -- the playbooks (ADR 0012) ------------------------------------------------------------


class MatchTable(_Strict):
    themes: list[Annotated[str, msgspec.Meta(min_length=1)]] = msgspec.field(default_factory=list)
    rules: list[Annotated[str, msgspec.Meta(min_length=1)]] = msgspec.field(default_factory=list)
    keywords: list[Annotated[str, msgspec.Meta(min_length=1)]] = msgspec.field(default_factory=list)


class StepEntry(_Strict):
    code: str
    to: str | list[Annotated[str, msgspec.Meta(min_length=1)]]
    title: str
    due_in: str
    content: str = ""
    priority: str = "high"
    emergency_due_in: str | None = None


class PlaybookFile(_Strict):
    code: str
    title: str
    dispatcher: str
    trigger: str = "raise"
    min_level: int = 4
    match: MatchTable = msgspec.field(default_factory=MatchTable)
    steps: list[Any] = msgspec.field(default_factory=list)
    scenario: str | None = None


def load_playbooks(folder: Path) -> list[Playbook]:
    """Every ``*.toml`` in the folder, checked; a bad file stops with its name."""
    if not folder.is_dir():
        raise PlaybookError(f"playbook folder {folder} does not exist")
    books: list[Playbook] = []
    for path in sorted(folder.glob("*.toml")):
        data = _read_playbook(path)
        where = f"playbook {path.name}"
        books.append(_in_file(partial(playbook_from_mapping, data), PlaybookError, where))
    codes = [b.code for b in books]
    twice = sorted({c for c in codes if codes.count(c) > 1})
    if twice:
        raise PlaybookError(f"playbook code(s) {', '.join(twice)} used by two files")
    return books


def _read_playbook(path: Path) -> dict[str, Any]:
    try:
        table: dict[str, Any] = msgspec.toml.decode(path.read_bytes())
    except msgspec.DecodeError as e:
        raise PlaybookError(f"playbook {path.name} is not valid TOML: {e}") from None
    return table


def playbook_from_mapping(data: Mapping[str, Any]) -> Playbook:
    book = decode(data, PlaybookFile, PlaybookError)
    code = _text(book.code, "code", PlaybookError)
    if book.trigger not in TRIGGERS:
        raise PlaybookError(f"trigger {book.trigger!r} is 'raise' or 'confirm'")
    if book.min_level not in (1, 2, 3, 4):
        raise PlaybookError("min_level is 1 (only level I) to 4 (every level)")
    for theme in book.match.themes:
        if theme not in set(Theme):
            raise PlaybookError(f"match.themes: {theme!r} is not a theme")
    if not (book.match.themes or book.match.rules):
        raise PlaybookError("[match] needs themes or rules")
    if not book.steps:
        raise PlaybookError("needs at least one [[steps]]")
    steps = [_step(s, i) for i, s in enumerate(book.steps)]
    names = [s.code for s in steps]
    if len(set(names)) != len(names):
        raise PlaybookError("two steps share a code")
    dispatcher = _text(book.dispatcher, "dispatcher", PlaybookError)
    try:
        check_code(dispatcher)
    except InvalidValue as e:
        raise PlaybookError(f"dispatcher: {e}") from None
    return Playbook(
        code=code,
        title=_text(book.title, "title", PlaybookError),
        dispatcher=dispatcher,
        trigger=book.trigger,
        min_level=book.min_level,
        themes=tuple(book.match.themes),
        rules=tuple(book.match.rules),
        keywords=tuple(book.match.keywords),
        steps=tuple(steps),
        scenario=book.scenario if book.scenario is not None else code,
    )


def _step(data: Any, index: int) -> Step:
    if not isinstance(data, Mapping):
        raise PlaybookError(f"steps[{index}] must be a table")
    return _in_file(lambda: _step_of(data), PlaybookError, f"step {data.get('code', index)!r}")


def _step_of(data: Mapping[str, Any]) -> Step:
    entry = decode(data, StepEntry, PlaybookError)
    targets = (entry.to,) if isinstance(entry.to, str) else tuple(entry.to)
    if not targets:
        raise PlaybookError("to names no unit")
    for target in targets:
        _check_target(target)
    if entry.priority not in set(Priority):
        raise PlaybookError(f"priority {entry.priority!r} is urgent, high or normal")
    return Step(
        code=_text(entry.code, "code", PlaybookError),
        to=targets,
        title=_text(entry.title, "title", PlaybookError),
        content=entry.content,
        priority=entry.priority,
        due_in=_duration(_text(entry.due_in, "due_in", PlaybookError)),
        emergency_due_in=(
            _duration(entry.emergency_due_in) if entry.emergency_due_in is not None else None
        ),
    )


def _check_target(target: str) -> None:
    if target == "responsible":
        return
    kind, _, value = target.partition(":")
    if kind == "unit":
        try:
            check_code(value)
        except InvalidValue:
            raise PlaybookError(f"to = {target!r}: {value!r} is not a unit code") from None
        return
    if kind == "every" and value in set(Level):
        return
    raise PlaybookError(
        f"to = {target!r}: write 'responsible', 'unit:CODE' or 'every:LEVEL' "
        f"(LEVEL one of {', '.join(Level)})"
    )


def _duration(text: str) -> WorkingDuration:
    try:
        return WorkingDuration.parse(text)
    except CalendarError as e:
        raise PlaybookError(str(e)) from None


# -- the station catalogue (ADR 0073) --------------------------------------------------


class StationEntry(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    unit: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    name: str = ""
    #: metric → unit of measure ("" when any is taken).
    feeds: dict[str, str] = msgspec.field(default_factory=dict)
    #: metric → seconds between two readings the feed is expected to send (ADR 0085).
    interval_seconds: dict[str, int] = msgspec.field(default_factory=dict)
    #: metric → seconds the feed may stay quiet before it is silent (twice its interval
    #: when not given).
    grace_seconds: dict[str, int] = msgspec.field(default_factory=dict)
    #: label -> value, what its breaches are grouped by (ADR 0087).
    labels: dict[str, str] = msgspec.field(default_factory=dict)


def _labels(path: Path, s: StationEntry) -> tuple[tuple[str, str], ...]:
    where = f"station catalogue {path}: station {s.id}"
    for name, value in s.labels.items():
        if not LABEL_NAME.fullmatch(name):
            raise CatalogueError(f"{where}: label {name!r} is not a label name (a-z, 0-9, _)")
        if name in OWN_LABELS:
            raise CatalogueError(f"{where}: label {name!r} is every breach's own; name another")
        if not value.strip() or len(value) > 100:
            raise CatalogueError(f"{where}: label {name} is 1 to 100 characters")
    return tuple(sorted(s.labels.items()))


def _feeds(path: Path, s: StationEntry) -> tuple[Feed, ...]:
    """A station's feeds with their heartbeats, checked: a heartbeat names a feed of the
    station, its interval and grace are positive and the grace not under the interval."""
    where = f"station catalogue {path}: station {s.id}"
    for name, table in (
        ("interval_seconds", s.interval_seconds),
        ("grace_seconds", s.grace_seconds),
    ):
        for metric, seconds in table.items():
            if metric not in s.feeds:
                raise CatalogueError(f"{where}: {name} names {metric}, which is not its feed")
            if isinstance(seconds, bool) or seconds < 1 or seconds > 366 * 86_400:
                raise CatalogueError(f"{where}: {name}.{metric} is 1 s to 366 days")
    for metric in s.grace_seconds:
        if metric not in s.interval_seconds:
            raise CatalogueError(f"{where}: grace_seconds.{metric} without its interval_seconds")
    feeds: list[Feed] = []
    for metric, uom in s.feeds.items():
        interval = s.interval_seconds.get(metric)
        grace = s.grace_seconds.get(metric, 2 * interval if interval else None)
        if interval is not None and grace is not None and grace < interval:
            raise CatalogueError(f"{where}: the grace of {metric} is shorter than its interval")
        feeds.append(
            Feed(
                metric,
                uom,
                interval=timedelta(seconds=interval) if interval else None,
                grace=timedelta(seconds=grace) if grace else None,
            )
        )
    return tuple(feeds)


class StationFile(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    enrol_unknown: bool = True
    stations: list[StationEntry] = msgspec.field(default_factory=list)


def load_stations(path: Path) -> StationCatalogue:
    """Read and check the station catalogue; a station listed twice stops start-up."""
    data = read_toml(path, CatalogueError, "station catalogue")
    file = _in_file(
        lambda: decode(data, StationFile, CatalogueError), CatalogueError, f"stations {path}"
    )
    ids = [s.id for s in file.stations]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise CatalogueError(f"station catalogue {path}: {', '.join(twice)} listed twice")
    return StationCatalogue(
        tuple(
            Station(
                s.id,
                s.unit,
                s.name,
                _feeds(path, s),
                labels=_labels(path, s),
            )
            for s in file.stations
        ),
        enrol_unknown=file.enrol_unknown,
    )
