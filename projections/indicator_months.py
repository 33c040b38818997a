"""The indicators view's month rollup: per (unit, calendar month, theme and level, kind),
what each report query of that month would count (ADR 0097).

A district's month is a few thousand facts but a few hundred units: a report of a whole
calendar month sums the rows of its subtree's units instead of scanning each kind of
fact's period. Each rollup row holds the counts the report adds up and, for the
durations (whose 90th percentile does not add up), the durations themselves as a text
of whole seconds, ``"12,340,77"``, which SQL concatenates per group.

The rollup is a function of the fact rows, never of the events directly: every fact row
a batch changes contributes to a few months (its filing, its deadline, its signing, its
closure…), and at the end of the batch the contributions of each changed row as it was
loaded are taken away and those of the row as it is now are added
(:class:`MonthRollup`). A fact that changes month, unit, theme or level, a rework, a
merge, a deferral: each is a row changing, so the rollup follows whatever the fact rows
do. Each function here restates, for one row and one month, the ``WHERE`` and the sums
of one query of :mod:`projections.reports.facts`; the property test
(``tests/property/test_month_rollup.py``) holds the two to the same answers.

Months are those of the working calendar's zone, kept in :data:`ZONE_TABLE`: the rows
answer only for a period whose bounds are one of those months exactly.
"""

# Table names are constants; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from domain.instruction import Priority
from projections.store import Tx

MONTHS = "indicator_months"
#: One row: the zone the rollup's months are months of.
ZONE_TABLE = "indicator_month_zone"

#: The counts of a rollup row, in the order of the report's sums.
COUNTS = (
    "filed",
    "forwarded",
    "due",
    "closed",
    "closed_on_time",
    "deferred",
    "verified",
    "reworked",
    "raised",
    "disputes",
    "disputes_arbitrated",
    "disputes_upheld",
    "followed_up",
    "contacted",
    "resolved",
    "satisfied",
    "basically_satisfied",
    "reopened",
    "unreached",
    "not_reached",
    # How many (fact row, query) matches the row sums, and of them those of the due and
    # deferred queries: a group a report's query matched is listed in the report even
    # when its sums are zero, so the rollup keeps a row exactly while this is not zero.
    "matched",
    "matched_due",
)
#: The durations of a rollup row: the time to sign for of urgent-priority cases (on time
#: by clock time) and of the others, the others' working time to sign for (on time by
#: the calendar), the time to close and the time to acknowledge.
SECONDS = ("sign_urgent", "sign_other", "sign_work", "close_s", "ack_s")
COLUMNS = ("id", "month", "unit_no", "theme_level", "kind", *COUNTS, *SECONDS)

CREATE_STATEMENTS = [
    f"CREATE TABLE IF NOT EXISTS {MONTHS} ("
    "id TEXT PRIMARY KEY, month BIGINT NOT NULL, unit_no BIGINT NOT NULL, "
    "theme_level BIGINT NOT NULL, kind INTEGER NOT NULL, "
    + ", ".join(f"{c} BIGINT NOT NULL" for c in COUNTS)
    + ", "
    + ", ".join(f"{c} TEXT" for c in SECONDS)
    + ")",
    # A month of a subtree is one range of this index, joined to the subtree's units.
    f"CREATE INDEX IF NOT EXISTS {MONTHS}_month ON {MONTHS} (month, unit_no)",
    f"CREATE TABLE IF NOT EXISTS {ZONE_TABLE} (zone TEXT PRIMARY KEY)",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Month:
    """One calendar month as ``[start, end)`` in whole epoch seconds."""

    start: int
    end: int


@lru_cache(maxsize=4096)
def _month_bounds(zone: str, year: int, month: int) -> Month | None:
    tz = ZoneInfo(zone)
    try:
        first = datetime(year, month, 1, tzinfo=tz)
        after = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=tz)
    except ValueError:  # the month after December 9999
        return None
    return Month(_seconds(first), _seconds(after))


def _seconds(instant: datetime) -> int:
    return (instant.astimezone(UTC) - _EPOCH) // timedelta(seconds=1)


def month_of(zone: str, seconds: int) -> Month | None:
    """The month of ``zone`` holding the instant ``seconds`` (None beyond years 1–9999)."""
    try:
        local = (_EPOCH + timedelta(seconds=seconds)).astimezone(ZoneInfo(zone))
    except OverflowError:
        return None
    return _month_bounds(zone, local.year, local.month)


def whole_month(zone: str, start: int, end: int) -> Month | None:
    """The month of ``zone`` that ``[start, end)`` is exactly, if it is one."""
    month = month_of(zone, start)
    if month is None or month.start != start or month.end != end:
        return None
    return month


@dataclass
class _Delta:
    """What a batch adds to one rollup row (negative: takes away)."""

    counts: list[int] = field(default_factory=lambda: [0] * len(COUNTS))
    seconds: list[Counter[int]] = field(default_factory=lambda: [Counter() for _ in SECONDS])

    def is_nothing(self) -> bool:
        return not any(self.counts) and not any(+c or -c for c in self.seconds)


_INDEX = {name: n for n, name in enumerate(COUNTS)}
_SECONDS_INDEX = {name: n for n, name in enumerate(SECONDS)}
_MATCHED, _MATCHED_DUE = _INDEX["matched"], _INDEX["matched_due"]

#: (month, unit_no, theme_level, kind) → what is added there.
Deltas = dict[tuple[int, int, int, int], _Delta]


class _Adder:
    """Adds the contributions of fact rows to :data:`Deltas`, with a sign."""

    def __init__(self, zone: str, deltas: Deltas, sign: int) -> None:
        self.zone = zone
        self.deltas = deltas
        self.sign = sign

    def at(
        self, seconds: int | None, row: dict[str, Any], kind: int
    ) -> tuple[Month, _Delta] | None:
        """The month of ``seconds`` and what is added to ``row``'s group in it."""
        if seconds is None:
            return None
        month = month_of(self.zone, seconds)
        if month is None:
            return None
        key = (month.start, row["unit_no"], row["theme_level"], kind)
        delta = self.deltas.get(key)
        if delta is None:
            delta = self.deltas[key] = _Delta()
        return month, delta

    def count(self, delta: _Delta, **counts: int) -> None:
        for name, value in counts.items():
            delta.counts[_INDEX[name]] += self.sign * value
        delta.counts[_MATCHED] += self.sign

    def second(self, delta: _Delta, name: str, value: int) -> None:
        delta.seconds[_SECONDS_INDEX[name]][value] += self.sign

    # -- one function per table, each restating its queries of reports.facts ----------

    def case(self, c: dict[str, Any]) -> None:
        kind = c["kind"]
        if (found := self.at(c["filed_epoch"], c, kind)) is not None:
            self.count(found[1], filed=1, forwarded=c["forwarded"])
        cancelled, deadline = c["cancelled_at"], c["deadline_at"]
        not_cancelled_before = cancelled is None or cancelled > deadline
        if not_cancelled_before and (found := self.at(c["due_epoch"], c, kind)) is not None:
            month, delta = found
            closed = c["closed_epoch"] is not None and c["closed_epoch"] < month.end
            on_time = closed and c["closed_at"] <= deadline
            self.count(delta, due=1, closed=int(closed), closed_on_time=int(on_time))
            delta.counts[_MATCHED_DUE] += self.sign
        deferred = c["deferred"] == 1 and cancelled is None
        if deferred and (found := self.at(c["due_epoch"], c, kind)) is not None:
            self.count(found[1], deferred=1)
            found[1].counts[_MATCHED_DUE] += self.sign
        if (found := self.at(c["signed_epoch"], c, kind)) is not None:
            delta = found[1]
            self.count(delta)
            if c["priority"] == Priority.URGENT.value:
                self.second(delta, "sign_urgent", c["sign_s"])
            else:
                self.second(delta, "sign_other", c["sign_s"])
                if c["sign_work_s"] is not None:  # NULL is never on time in SQL either
                    self.second(delta, "sign_work", c["sign_work_s"])
        if (found := self.at(c["closed_epoch"], c, kind)) is not None:
            self.count(found[1])
            self.second(found[1], "close_s", c["close_s"])

    def warning(self, w: dict[str, Any]) -> None:
        if w["merged_into"] is not None:
            return  # counted in its main case only (ADR 0082)
        if (found := self.at(w["raised_epoch"], w, 0)) is not None:
            self.count(found[1], raised=1)
        if (found := self.at(w["ack_epoch"], w, 0)) is not None:
            self.count(found[1])
            self.second(found[1], "ack_s", w["ack_s"])

    def verification(self, v: dict[str, Any]) -> None:
        if (found := self.at(v["at_epoch"], v, v["kind"])) is None:
            return
        month, delta = found
        prev, prev_rejected = v["prev_epoch"], v["prev_rejected_epoch"]
        first = prev is None or prev < month.start
        rework = v["accepted"] == 0 and (prev_rejected is None or prev_rejected < month.start)
        self.count(delta, verified=int(first), reworked=int(rework))

    def dispute(self, d: dict[str, Any]) -> None:
        if (found := self.at(d["filed_epoch"], d, d["kind"])) is not None:
            self.count(
                found[1],
                disputes=1,
                disputes_arbitrated=d["arbitrated"],
                disputes_upheld=d["upheld"],
            )

    def follow_up(self, f: dict[str, Any]) -> None:
        if (found := self.at(f["at_epoch"], f, f["kind"])) is not None:
            self.count(
                found[1],
                followed_up=1 - f["unreached"],
                contacted=f["contacted"],
                resolved=f["resolved"],
                satisfied=f["satisfied"],
                basically_satisfied=f["basically_satisfied"],
                reopened=f["reopened"],
                unreached=f["unreached"],
                not_reached=f["not_reached"],
            )


#: The fact tables the rollup sums, by the name of the :class:`_Adder` method for a row.
FACT_TABLES = ("case", "warning", "verification", "dispute", "follow_up")


class Changes:
    """The fact rows a batch changed, as they were loaded and as they are now."""

    def __init__(self, zone: str) -> None:
        self.zone = zone
        self.deltas: Deltas = {}
        self._before = _Adder(zone, self.deltas, -1)
        self._after = _Adder(zone, self.deltas, +1)

    def row(self, table: str, before: dict[str, Any] | None, after: dict[str, Any]) -> None:
        if before is not None:
            getattr(self._before, table)(before)
        getattr(self._after, table)(after)

    def rows(
        self, table: str, before: Iterable[dict[str, Any]], after: Iterable[dict[str, Any]]
    ) -> None:
        for row in before:
            getattr(self._before, table)(row)
        for row in after:
            getattr(self._after, table)(row)


def _row_id(key: tuple[int, int, int, int]) -> str:
    return ":".join(map(str, key))


def _parse_seconds(text: str | None) -> Counter[int]:
    return Counter() if not text else Counter(map(int, text.split(",")))


def _text_of(values: Counter[int]) -> str | None:
    if any(n < 0 for n in values.values()):
        raise AssertionError("the rollup took away a duration it never had")
    listed = sorted(values.elements())
    return ",".join(map(str, listed)) if listed else None


_UPSERT = "ON CONFLICT (id) DO UPDATE SET " + ", ".join(
    f"{c} = excluded.{c}" for c in COLUMNS if c != "id"
)


def write(tx: Tx, zone: str, deltas: Deltas) -> None:
    """Add ``deltas`` to the rollup rows (one read, one upsert, one delete)."""
    changed = {key: d for key, d in deltas.items() if not d.is_nothing()}
    tx.execute(f"INSERT INTO {ZONE_TABLE} (zone) VALUES (?) ON CONFLICT (zone) DO NOTHING", (zone,))
    if not changed:
        return
    # Written in the order of (month, unit…): the rows of a month made together lie
    # together (a rebuild makes every month's rows at once), and a month is read whole.
    ids = {_row_id(key): key for key in sorted(changed)}
    stored: dict[str, tuple[Any, ...]] = {
        str(values[0]): values
        for values in tx.select_in(
            f"SELECT {', '.join(COLUMNS)} FROM {MONTHS} WHERE id IN ({{keys}})", list(ids)
        )
    }
    upserts: list[tuple[Any, ...]] = []
    gone: list[tuple[str]] = []
    first_seconds = len(COLUMNS) - len(SECONDS)
    for row_id, key in ids.items():
        delta = changed[key]
        old = stored.get(row_id)
        counts = list(delta.counts)
        texts: Sequence[str | None] = [None] * len(SECONDS)
        if old is not None:
            counts = [int(a) + b for a, b in zip(old[5:first_seconds], counts, strict=True)]
            texts = old[first_seconds:]
        if counts[_MATCHED] == 0:
            if old is not None:
                gone.append((row_id,))
            continue
        merged = [_merged(t, d) for t, d in zip(texts, delta.seconds, strict=True)]
        upserts.append((row_id, *key, *counts, *(_text_of(m) for m in merged)))
    if gone:
        tx.executemany(f"DELETE FROM {MONTHS} WHERE id = ?", gone)
    tx.insert_rows(MONTHS, COLUMNS, upserts, _UPSERT)


def _merged(text: str | None, delta: Counter[int]) -> Counter[int]:
    values = _parse_seconds(text)
    values.update(delta)  # update adds negative counts too, unlike ``+``
    return values


def rebuild(tx: Tx, zone: str, tables: Sequence[tuple[str, str, Sequence[str]]]) -> None:
    """Make the rollup anew from the fact tables as they stand (for rows written other
    than through the view, as the benchmarks write them). ``tables``: each fact table's
    kind of row, name and columns, as the view names them
    (:func:`projections.indicators.rebuild_month_rollup`)."""
    tx.execute(f"DELETE FROM {MONTHS}")
    tx.execute(f"DELETE FROM {ZONE_TABLE}")
    changes = Changes(zone)
    for method, table, columns in tables:
        changes.rows(method, (), _dicts(tx, table, columns))
    write(tx, zone, changes.deltas)


def _dicts(tx: Tx, table: str, columns: Sequence[str]) -> Iterator[dict[str, Any]]:
    for values in tx.execute(f"SELECT {', '.join(columns)} FROM {table}"):
        yield dict(zip(columns, values, strict=True))
