"""The translation catalogue: message ids to texts in Chinese and English (ADR 0038).

The texts are gettext catalogues, ``locale/<language>/LC_MESSAGES/closedloop.po``, one
per language, read at start by Babel (no compile step: ``make run`` reads the ``.po``
files as they are). A message id names what a text is for (``timeline.Instruction.Issued``,
``webhook.warning.raised``, ``word.theme.reservoir``), never the text in one language, so
Chinese and English are both translations of the same ids and neither is the source.
Placeholders are gettext's named ``%(name)s``; Jinja2's i18n extension formats the same
way, so the pages can use :meth:`Catalogue.translations` as they are.

:func:`catalogue` loads and checks the catalogue once: every id in every language, the
same placeholders in each, nothing fuzzy or empty, a word for every code the domain has
(``texts/words.py``). A broken catalogue stops the start, not the first webhook.
"""

from __future__ import annotations

import io
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from texts.words import CODE_FIELDS, every_word_id, word_id

LOCALE = Path(__file__).parent / "locale"
DOMAIN = "closedloop"
#: Chinese first: the default language of every text.
LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
#: The calendar's default zone (``domain/calendar.py``), for a caller that has none.
DEFAULT_ZONE = "Asia/Shanghai"
#: How a time reads in a text: the wall time of the calendar's zone, to the minute.
TIME_FORMAT = "%Y-%m-%d %H:%M"
#: Fields that hold a time even when they arrive as ISO-8601 text (a webhook's body).
TIME_FIELDS = frozenset({"deadline", "observed_at", "occurred_at", "previous_until"})
#: The fields that hold unit codes: a reader who knows the units' names sees those.
UNIT_FIELDS = frozenset({"unit", "lead", "cooperating", "from_unit", "to_unit"})
#: The fields that map each unit told to who was on duty there (a notice's late
#: reminder, ADR 0098): they read as "unit: person" pairs, joined as a list is.
ON_DUTY_MAPS = frozenset({"on_duty"})

_PLACEHOLDER = re.compile(r"%\(([a-z_]+(?:\.[a-z_]+)?)\)s")


#: How a text has variants: (the value that chooses, the id's suffix when that value is
#: set, when it is not); an empty suffix is the plain id.
Variant = tuple[str, str, str]


VARIANTS_FILE = Path(__file__).parent / "variants.toml"


@lru_cache(maxsize=1)
def _variants() -> Mapping[str, Mapping[str, Variant]]:
    with VARIANTS_FILE.open("rb") as f:
        data = tomllib.load(f)
    out: dict[str, dict[str, Variant]] = {}
    for family, table in data.items():
        out[family] = {}
        for text, variant in table.items():
            if not (isinstance(variant, list) and len(variant) == 3):
                raise CatalogueError(f"{VARIANTS_FILE.name}: {family}.{text} needs 3 strings")
            out[family][text] = (str(variant[0]), str(variant[1]), str(variant[2]))
    return out


def variants(family: str) -> Mapping[str, Variant]:
    """The texts of a family (``timeline``, ``webhook``) that have variants."""
    return _variants().get(family, {})


def _missing_variants(texts: Mapping[str, str]) -> list[str]:
    """Each variant ``variants.toml`` names must be a text of the catalogue."""
    problems = []
    for family, table in _variants().items():
        for text, (_, when_set, when_not) in table.items():
            for suffix in (when_set, when_not):
                message_id = f"{family}.{text}.{suffix}" if suffix else f"{family}.{text}"
                if message_id not in texts:
                    problems.append(f"{VARIANTS_FILE.name}: {message_id} is not in the catalogue")
    return problems


def variant_id(family: str, text: str, value_of: Callable[[str], Any]) -> str:
    """The id of the text ``family.text``, in the variant the choosing value asks for."""
    base = f"{family}.{text}"
    variant = variants(family).get(text)
    if variant is None:
        return base
    name, yes, no = variant
    suffix = yes if value_of(name) else no
    return f"{base}.{suffix}" if suffix else base


class CatalogueError(ValueError):
    """The catalogue on disk is incomplete or inconsistent; each problem is listed."""


def placeholders(text: str) -> frozenset[str]:
    return frozenset(_PLACEHOLDER.findall(text))


def zone_of(zone: ZoneInfo | str | None) -> ZoneInfo:
    if isinstance(zone, ZoneInfo):
        return zone
    return _zone(zone or DEFAULT_ZONE)


@lru_cache(maxsize=16)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_time(value: Any, zone: ZoneInfo | str | None) -> str:
    """A time as people read it here: in the calendar's zone, never in UTC beside it."""
    instant: datetime
    if isinstance(value, datetime):
        instant = value
    elif isinstance(value, str):
        try:
            instant = datetime.fromisoformat(value)
        except ValueError:
            return value  # not a time after all: shown as it came
    else:
        return "" if value is None else str(value)
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)  # the log keeps its instants in UTC
    return instant.astimezone(zone_of(zone)).strftime(TIME_FORMAT)


class _Blank(dict[str, str]):
    """Values where a missing one reads as nothing (a webhook's text must still go)."""

    def __missing__(self, key: str) -> str:
        return ""


@dataclass(frozen=True)
class Catalogue:
    """Every text of every language, checked; look texts up by id and language."""

    texts: Mapping[str, Mapping[str, str]]
    catalogs: Mapping[str, Catalog]

    @classmethod
    def load(cls, folder: Path = LOCALE, languages: Iterable[str] = LANGUAGES) -> Catalogue:
        catalogs: dict[str, Catalog] = {}
        texts: dict[str, dict[str, str]] = {}
        problems: list[str] = []
        for language in languages:
            path = folder / language / "LC_MESSAGES" / f"{DOMAIN}.po"
            with path.open("rb") as f:
                catalog = read_po(f, domain=DOMAIN)
            catalogs[language] = catalog
            texts[language] = {}
            for message in catalog:
                if not message.id:
                    continue  # the header
                where = f"{path.relative_to(folder)}:{message.lineno}"
                if not isinstance(message.id, str) or not isinstance(message.string, str):
                    problems.append(f"{where}: plural forms are not used here")
                elif message.fuzzy or not message.string:
                    problems.append(f"{where}: {message.id} is not translated (empty or fuzzy)")
                elif "%" in _PLACEHOLDER.sub("", message.string).replace("%%", ""):
                    problems.append(f"{where}: {message.id}: only %(name)s placeholders")
                else:
                    texts[language][message.id] = message.string
        problems += _compare(texts)
        problems += _missing_variants(texts.get(DEFAULT_LANGUAGE, {}))
        if problems:
            raise CatalogueError("the text catalogue is broken:\n" + "\n".join(problems))
        return cls(texts, catalogs)

    # -- looking up -------------------------------------------------------------------

    def ids(self) -> frozenset[str]:
        return frozenset(self.texts[DEFAULT_LANGUAGE])

    def has(self, message_id: str) -> bool:
        return message_id in self.texts[DEFAULT_LANGUAGE]

    def raw(self, message_id: str, language: str) -> str:
        """The text with its placeholders, as the translator wrote it."""
        return self._language(language)[message_id]

    def text(self, message_id: str, language: str, values: Mapping[str, Any]) -> str:
        """The text with its placeholders filled; a missing value is a ``KeyError``."""
        return self.raw(message_id, language) % values

    def lenient(self, message_id: str, language: str, values: Mapping[str, Any]) -> str:
        """The text with its placeholders filled; a missing value reads as nothing."""
        return self.raw(message_id, language) % _Blank(values)

    def word(self, family: str, code: Any, language: str) -> str:
        """The word of a domain code; an unknown code is shown as it is."""
        return self._language(language).get(word_id(family, code), str(code))

    def readable(
        self,
        fields: Mapping[str, Any],
        language: str,
        zone: ZoneInfo | str | None,
        prefix: str = "",
        unit_name: Callable[[str], str] | None = None,
    ) -> dict[str, Any]:
        """Fields as a text shows them: codes as words, times in the zone, lists joined.

        A list field ``x`` also gives ``x_count``. Booleans stay booleans: they choose a
        text, they are not shown in one. ``unit_name``, when given, names the units of
        :data:`UNIT_FIELDS` (a screen's reader knows the names, not the codes); without
        it the codes stay, as a record that must not change when a unit is renamed.
        """
        out: dict[str, Any] = {}
        separator = self.raw("list.separator", language)
        for name, value in fields.items():
            key = prefix + name
            if unit_name is not None and name in UNIT_FIELDS and value:
                value = (
                    [unit_name(str(v)) for v in value]
                    if isinstance(value, list | tuple)
                    else unit_name(str(value))
                )
            if isinstance(value, bool):
                out[key] = value
            elif name in ON_DUTY_MAPS and isinstance(value, Mapping):
                out[key] = separator.join(
                    self.text("list.on_duty_at", language, {"unit": u, "person": p})
                    for u, p in value.items()
                )
            elif isinstance(value, list | tuple):
                out[key] = separator.join(str(v) for v in value)
                out[key + "_count"] = len(value)
            elif value is None:
                out[key] = ""
            elif name in CODE_FIELDS:
                out[key] = self.word(CODE_FIELDS[name], value, language)
            elif isinstance(value, datetime) or name in TIME_FIELDS:
                out[key] = local_time(value, zone)
            else:
                out[key] = str(value)
        return out

    def translations(self, language: str) -> Translations:
        """A gettext translations object of one language (for Jinja2's i18n extension)."""
        buffer = io.BytesIO()
        write_mo(buffer, self.catalogs[language])
        buffer.seek(0)
        return Translations(buffer, domain=DOMAIN)

    def _language(self, language: str) -> Mapping[str, str]:
        try:
            return self.texts[language]
        except KeyError:
            raise ValueError(
                f"no texts in {language!r}; the languages are {', '.join(self.texts)}"
            ) from None


def _compare(texts: Mapping[str, Mapping[str, str]]) -> list[str]:
    """Every id in every language, with the same placeholders; every code has a word."""
    problems = []
    every = set().union(*(set(t) for t in texts.values())) if texts else set()
    for language, own in texts.items():
        for missing in sorted(every - set(own)):
            problems.append(f"{language}: {missing} is missing")
    for message_id in sorted(every):
        found = {
            lang: placeholders(own[message_id]) for lang, own in texts.items() if message_id in own
        }
        if len(set(found.values())) > 1:
            shown = "; ".join(f"{lang}: {', '.join(sorted(p)) or '-'}" for lang, p in found.items())
            problems.append(f"{message_id}: the placeholders differ ({shown})")
    for missing in sorted(set(every_word_id()) - every):
        problems.append(f"{missing} is missing: every code of the domain needs a word")
    if "list.separator" not in every:
        problems.append("list.separator is missing")
    return problems


@lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    """The catalogue shipped with the code, loaded and checked on first use."""
    return Catalogue.load()


def say(message_id: str, language: str = DEFAULT_LANGUAGE, **values: Any) -> str:
    """One text of the shipped catalogue, its placeholders filled from ``values``."""
    return catalogue().text(message_id, language, values)


def word(family: str, code: Any, language: str = DEFAULT_LANGUAGE) -> str:
    """The word of one domain code in the shipped catalogue."""
    return catalogue().word(family, code, language)
