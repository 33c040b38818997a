"""Rows a view keeps in memory for a batch and writes once at its end (ADR 0016)."""

# Table names are module constants; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from projections.store import Tx


def _values_of(columns: Sequence[str]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """A function answering a row's values as a tuple, in ``columns``' order."""
    if len(columns) == 1:
        only = columns[0]
        return lambda row: (row[only],)
    # itemgetter looks the columns up in C: a rebuild turns every row it writes.
    return operator.itemgetter(*columns)


class RowBuffer:
    """Rows of one table by primary key, read at most once and written once per batch.

    A view that changes the same rows again and again (a warning repeated a hundred
    times) keeps them here during :meth:`View.apply_batch` and writes them with one
    upsert at its end, instead of one statement per event. Rows are dicts by column.

    With ``track``, each row is also kept as it was read, for :meth:`changes`.
    """

    def __init__(
        self, table: str, columns: Sequence[str], key: str = "id", *, track: bool = False
    ) -> None:
        self.table = table
        self.track = track
        self._loaded: dict[Any, dict[str, Any]] = {}
        self.columns = list(columns)
        self.key = key
        self._rows: dict[Any, dict[str, Any] | None] = {}
        self._dirty: dict[Any, dict[str, Any]] = {}
        self._values = _values_of(self.columns)
        others = [c for c in self.columns if c != key]
        self._select = f"SELECT {', '.join(self.columns)} FROM {table} WHERE {key} IN ({{keys}})"
        self._upsert = f"ON CONFLICT ({key}) DO UPDATE SET " + ", ".join(
            f"{c} = excluded.{c}" for c in others
        )

    def load(self, tx: Tx, keys: Iterable[Any]) -> None:
        """Read the rows of ``keys`` not read yet, in as few statements as can be."""
        wanted = [k for k in dict.fromkeys(keys) if k not in self._rows]
        if not wanted:
            return
        for k in wanted:
            self._rows[k] = None
        for values in tx.select_in(self._select, wanted):
            row = dict(zip(self.columns, values, strict=True))
            self._rows[row[self.key]] = row
            if self.track:
                self._loaded[row[self.key]] = dict(row)

    def changes(self) -> Iterator[tuple[dict[str, Any] | None, dict[str, Any]]]:
        """Each row changed or added, as it was read (None: new) and as it is now; with
        ``track`` only, and before :meth:`flush`."""
        assert self.track, "a buffer that keeps no rows as read"
        for key, row in self._dirty.items():
            yield self._loaded.get(key), row

    def get(self, tx: Tx, key: Any) -> dict[str, Any] | None:
        """The row to change (None if the table has none): it is written at :meth:`flush`."""
        if key not in self._rows:
            self.load(tx, [key])
        row = self._rows[key]
        if row is not None:
            self._dirty[key] = row
        return row

    def peek(self, tx: Tx, key: Any) -> dict[str, Any] | None:
        """The row as it stands in the batch, to read only (not written back for this)."""
        if key not in self._rows:
            self.load(tx, [key])
        return self._rows[key]

    def add(self, row: dict[str, Any]) -> None:
        """A new row, written at :meth:`flush`."""
        self._rows[row[self.key]] = self._dirty[row[self.key]] = row

    def flush(self, tx: Tx) -> None:
        """Write every row changed or added, and forget them all."""
        if self._dirty:
            values = self._values
            rows = [values(row) for row in self._dirty.values()]
            tx.insert_rows(self.table, self.columns, rows, self._upsert)
        self._rows.clear()
        self._dirty.clear()
        self._loaded.clear()


class GroupBuffer:
    """Rows of one table in groups (every assignee of one instruction), each group read
    at most once and written once per batch.

    The table's primary key is (``group``, ``member``). A group is read whole, changed
    in memory as a list of dicts by column, and at :meth:`flush` its rows are written
    with one upsert and the rows no longer in it are deleted.

    With ``track``, each group is also kept as it was read, for :meth:`changes`.
    """

    def __init__(
        self, table: str, columns: Sequence[str], group: str, member: str, *, track: bool = False
    ) -> None:
        self.table = table
        self.track = track
        self._loaded: dict[Any, list[dict[str, Any]]] = {}
        self.columns = list(columns)
        self.group = group
        self.member = member
        self._groups: dict[Any, list[dict[str, Any]]] = {}
        self._values = _values_of(self.columns)
        self._stored: dict[Any, set[Any]] = {}
        self._dirty: dict[Any, None] = {}
        others = [c for c in self.columns if c not in (group, member)]
        self._select = f"SELECT {', '.join(self.columns)} FROM {table} WHERE {group} IN ({{keys}})"
        self._delete = f"DELETE FROM {table} WHERE {group} = ? AND {member} = ?"
        self._upsert = f"ON CONFLICT ({group}, {member}) DO UPDATE SET " + ", ".join(
            f"{c} = excluded.{c}" for c in others
        )

    def load(self, tx: Tx, keys: Iterable[Any]) -> None:
        """Read the groups of ``keys`` not read yet, in as few statements as can be."""
        wanted = [k for k in dict.fromkeys(keys) if k not in self._groups]
        if not wanted:
            return
        for k in wanted:
            self._groups[k] = []
            self._stored[k] = set()
        for values in tx.select_in(self._select, wanted):
            row = dict(zip(self.columns, values, strict=True))
            self._groups[row[self.group]].append(row)
            self._stored[row[self.group]].add(row[self.member])
            if self.track:
                self._loaded.setdefault(row[self.group], []).append(dict(row))

    def changes(self) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
        """Each group changed or added, its rows as they were read and as they are now;
        with ``track`` only, and before :meth:`flush`."""
        assert self.track, "a buffer that keeps no rows as read"
        for key in self._dirty:
            yield self._loaded.get(key, []), self._groups[key]

    def get(self, tx: Tx, key: Any) -> list[dict[str, Any]]:
        """The rows of a group (empty if it has none), to change in place or to add to
        and remove from: they are written at :meth:`flush`."""
        if key not in self._groups:
            self.load(tx, [key])
        self._dirty[key] = None
        return self._groups[key]

    def put(self, key: Any, rows: list[dict[str, Any]]) -> None:
        """A new group, written at :meth:`flush`."""
        self._groups[key] = rows
        self._stored.setdefault(key, set())
        self._dirty[key] = None

    def flush(self, tx: Tx) -> None:
        """Write every group changed or added, delete the rows taken out, forget them all."""
        rows: list[tuple[Any, ...]] = []
        gone: list[tuple[Any, Any]] = []
        for key in self._dirty:
            present = set()
            for row in self._groups[key]:
                rows.append(self._values(row))
                present.add(row[self.member])
            gone += [(key, m) for m in sorted(self._stored[key] - present)]
        if gone:
            tx.executemany(self._delete, gone)
        tx.insert_rows(self.table, self.columns, rows, self._upsert)
        self._groups.clear()
        self._stored.clear()
        self._dirty.clear()
        self._loaded.clear()
