"""The log, or a slice of it, as NDJSON with the chain beside each event.

Secret material and credentials in URLs never leave (:mod:`audit.redaction`), whoever
asks; a unit's admin gets only the events that concern its subtree
(:mod:`audit.scope`), the auditor the whole log (ADR 0042).
"""

# Table names are module constants; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from audit.forms import record
from audit.redaction import redact
from audit.scope import SubtreeScope
from audit.tables import CHAIN_TABLE, chain_hash_before
from domain.application import CommandCenter
from projections.store import ViewStore


def export_lines(
    center: CommandCenter,
    store: ViewStore,
    *,
    start: int | None = None,
    stop: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    page: int = 2000,
    subtree: str | None = None,
) -> Iterator[bytes]:
    """The log (or a slice by position or recorded time) as NDJSON, one event a line.

    Each line is the record of the event (position, aggregate, version, type,
    recorded_at, payload, metadata) plus ``chain``: the row's ``form``, the hash
    before it (``prev``), its own (``hash``) and ``state``, the stored state bytes in
    base64, so that anyone can check a slice with SHA-256 alone. Form 2 (ADR 0021):
    hash after ``prev`` the :func:`frame` of position, aggregate, version, type and
    the decoded ``state``. Form 1 (ADR 0013): strip ``chain``, RFC 8785, hash after
    ``prev``. Events not chained yet carry ``"form": null, "hash": null``.

    An event holding a secret is shown with it replaced, the paths replaced in
    ``redacted`` and ``state`` null; its ``hash`` still links its neighbours. With
    ``subtree`` (a unit's code) only the events that concern that unit's subtree are
    written: the positions left out show as gaps, and each line's ``prev`` is still the
    hash of the event before it in the log.
    """
    scope = SubtreeScope(center, subtree) if subtree is not None else None
    position = max(start or 1, 1)
    prev: bytes | None = chain_hash_before(store, position)
    while True:
        notifications = center.recorder.select_notifications(position, page, stop=stop)
        if not notifications:
            return
        first, last = notifications[0].id, notifications[-1].id
        with store.read() as tx:
            hashes = {
                position: (digest, form)
                for position, digest, form in tx.execute(
                    f"SELECT position, hash, form FROM {CHAIN_TABLE} "
                    "WHERE position BETWEEN ? AND ?",
                    (first, last),
                )
            }
        for n in notifications:
            rec = record(n.id, n.originator_id, n.originator_version, n.topic, n.state)
            digest, form = hashes.get(n.id, (None, None))
            if since is not None or until is not None:
                recorded = _recorded_at(rec)
                if recorded is not None and (
                    (since is not None and recorded < since)
                    or (until is not None and recorded >= until)
                ):
                    prev = bytes.fromhex(digest) if digest else None
                    continue
            if scope is not None and not scope.admits(
                n.originator_id, n.topic, rec["payload"], rec["metadata"]
            ):
                prev = bytes.fromhex(digest) if digest else None
                continue
            redacted = redact(n.topic, rec["payload"])
            if redacted:
                rec["redacted"] = redacted
            rec["chain"] = {
                "form": form,
                "prev": prev.hex() if prev else None,
                "hash": digest,
                # The stored bytes hold the secret too: they stay on the server.
                "state": None if redacted else base64.b64encode(n.state).decode(),
            }
            prev = bytes.fromhex(digest) if digest else None
            yield json.dumps(rec, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        if len(notifications) < page:
            return
        position = last + 1


def _recorded_at(rec: Mapping[str, Any]) -> datetime | None:
    value = rec.get("recorded_at")
    if not isinstance(value, str):
        return None
    with contextlib.suppress(ValueError):
        return datetime.fromisoformat(value)
    return None
