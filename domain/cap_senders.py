"""The CAP sender registry: which tokens may speak for each CAP ``<sender>`` (ADR 0041).

A CAP message names its sender in its own text, which anyone holding a monitor's token
can write. So a sender is bound, by an admin, to the units whose monitors may send in its
name, and to single tokens (by their public id) where one unit's monitors are too many.
A message whose sender is not bound to the token that sends it is refused; so is an
update or cancel of another sender's message (``domain/cap_intake.py``).

One small aggregate for the whole center, like the network's roster: a district has tens
of senders, they change a few times a year, and every CAP message reads the registry.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain.base import LoopAggregate
from domain.errors import InvalidValue, check_printable
from domain.meta import Meta, derived_id

REGISTRY_ID = derived_id("cap-senders", "registry")

#: CAP 1.2 (3.2.1): a sender "MUST NOT include spaces, commas or restricted characters
#: (< and &)"; references name messages by ``sender,identifier,sent``, so a comma in a
#: sender would break them.
_FORBIDDEN = frozenset(" ,<&\t\r\n")
MAX_SENDER = 255
#: How many units and tokens one sender may be bound to: a publisher has a few gateways.
MAX_BOUND = 32


def check_sender(sender: str) -> str:
    """A sender as CAP allows it, or :class:`InvalidValue` naming what is wrong."""
    if not sender or len(sender) > MAX_SENDER:
        raise InvalidValue(f"a CAP sender is 1 to {MAX_SENDER} characters")
    check_printable(sender, "a CAP sender")
    if _FORBIDDEN.intersection(sender):
        raise InvalidValue("a CAP sender has no spaces, commas, '<' or '&' (CAP 1.2, 3.2.1)")
    return sender


class CapSenders(LoopAggregate):
    """Every CAP sender bound, with the units and tokens that may speak for it."""

    class Started(LoopAggregate.Created):
        pass

    class SenderBound(LoopAggregate.Event):
        sender: str
        units: list[str]
        tokens: list[str]

    class SenderUnbound(LoopAggregate.Event):
        sender: str
        reason: str

    @staticmethod
    def create_id() -> UUID:
        return REGISTRY_ID

    @event(Started)
    def __init__(self, meta: Meta) -> None:
        # sender -> {"units": [...], "tokens": [...]}
        self.bindings: dict[str, dict[str, list[str]]] = {}

    def binding(self, sender: str) -> dict[str, list[str]] | None:
        found = self.bindings.get(sender)
        return None if found is None else {k: list(v) for k, v in found.items()}

    def may_speak(self, sender: str, unit: str, token_id: str | None) -> bool:
        """Whether a token of ``unit`` (with public id ``token_id``) may send as ``sender``.

        A unit is bound as itself, not with its subtree: a community's monitor does not
        speak for the district's weather office because the office is above it.
        """
        found = self.bindings.get(sender)
        if found is None:
            return False
        return unit in found["units"] or (token_id is not None and token_id in found["tokens"])

    def bind(self, sender: str, units: list[str], tokens: list[str], meta: Meta) -> None:
        """Bind a sender (anew, or in place of its earlier binding)."""
        check_sender(sender)
        units, tokens = list(dict.fromkeys(units)), list(dict.fromkeys(tokens))
        if not units and not tokens:
            raise InvalidValue("bind a CAP sender to at least one unit or token")
        if len(units) > MAX_BOUND or len(tokens) > MAX_BOUND:
            raise InvalidValue(f"a CAP sender is bound to at most {MAX_BOUND} units and tokens")
        if self.bindings.get(sender) == {"units": units, "tokens": tokens}:
            return  # as bound already: nothing to record
        self._bound(sender=sender, units=units, tokens=tokens, meta=meta)

    @event(SenderBound)
    def _bound(self, sender: str, units: list[str], tokens: list[str], meta: Meta) -> None:
        self.bindings[sender] = {"units": list(units), "tokens": list(tokens)}

    def unbind(self, sender: str, reason: str, meta: Meta) -> None:
        if sender not in self.bindings:
            raise InvalidValue(f"CAP sender {sender} is not bound")
        reason = reason.strip()
        if not reason or len(reason) > 500:
            raise InvalidValue("say why the sender is unbound (1 to 500 characters)")
        self._unbound(sender=sender, reason=reason, meta=meta)

    @event(SenderUnbound)
    def _unbound(self, sender: str, reason: str, meta: Meta) -> None:
        del self.bindings[sender]

    def listed(self) -> list[dict[str, Any]]:
        """Every binding, senders in order of their first binding."""
        return [
            {"sender": s, "units": list(b["units"]), "tokens": list(b["tokens"])}
            for s, b in self.bindings.items()
        ]
