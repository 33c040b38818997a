"""A one-time sign-in ticket: a secret address that signs one person in once, before
it expires (ADR 0052).

Like a token, the secret is never here, only its SHA-256, and the ticket's id is
derived from that hash, so a presented ticket is found by one keyed read. Redeeming it
is an event: two processes redeeming the same ticket at once both read version 1, both
write version 2, the store takes one and the other, decided again, finds it redeemed.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import event

from domain.base import LoopAggregate
from domain.errors import InvalidTransition
from domain.meta import Meta, derived_id


class TicketRefused(InvalidTransition, code="ticket-refused"):
    """The ticket was redeemed already, or has expired."""


def sign_in_ticket_id(ticket_hash: str) -> UUID:
    return derived_id("sign-in-ticket", ticket_hash)


class SignInTicket(LoopAggregate):
    """One address that signs one account in, once, until it expires."""

    class Issued(LoopAggregate.Created):
        ticket_hash: str
        account_id: UUID
        username: str
        expires_at: datetime

    class Redeemed(LoopAggregate.Event):
        pass

    @staticmethod
    def create_id(ticket_hash: str, **_: object) -> UUID:
        return sign_in_ticket_id(ticket_hash)

    @event(Issued)
    def __init__(
        self,
        ticket_hash: str,
        account_id: UUID,
        username: str,
        expires_at: datetime,
        meta: Meta,
    ) -> None:
        self.ticket_hash = ticket_hash
        self.account_id = account_id
        self.username = username
        self.expires_at = expires_at
        self.redeemed = False

    def redeem(self, at: datetime, meta: Meta) -> None:
        if self.redeemed:
            raise TicketRefused("this sign-in address was used already")
        if at >= self.expires_at:
            raise TicketRefused("this sign-in address has expired")
        self._redeemed(meta)

    @event(Redeemed)
    def _redeemed(self, meta: Meta) -> None:
        self.redeemed = True
