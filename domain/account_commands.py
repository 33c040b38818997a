"""The accounts' use cases on the one command path (ADRs 0031, 0033, 0052): open an
account, change its password or roles, close it; issue a one-time sign-in ticket and
redeem it.

The rules that need more than the account are checked here: the unit must exist and be
active, a username is taken once whatever its case, a ticket is issued only for an
open account. What a password is, and its hash, is the caller's (``api.accounts``):
these commands see the hash only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from domain.account import (
    Account,
    AccountClosed,
    account_id,
    check_display_name,
    check_roles,
    check_username,
)
from domain.account_roster import ACCOUNT_ROSTER_ID, AccountRoster
from domain.decision import Decision, Outcome
from domain.errors import AlreadyExists, InvalidValue
from domain.meta import Context
from domain.network_commands import NetworkCases
from domain.sign_in_ticket import SignInTicket, TicketRefused, sign_in_ticket_id
from domain.unit import Unit, check_code, unit_id


class UnitDeactivated(InvalidValue, code="unit-deactivated"):
    """An account (or a sign-in address) for a unit that was deactivated."""

    field = "unit"


class AccountCases:
    """The commands on people's accounts and their sign-in tickets, on ``center``'s store."""

    def __init__(self, center: NetworkCases) -> None:
        self.center = center
        self.work = center.unit_of_work

    def _active_unit(self, code: str) -> Unit:
        unit = self.work.load(Unit, unit_id(check_code(code)), f"unit {code}")
        if not unit.active:
            raise UnitDeactivated(f"unit {code} is deactivated; its people get no new accounts")
        return unit

    def open_account(
        self,
        ctx: Context,
        *,
        username: str,
        name: str,
        unit: str,
        roles: list[str],
        password_hash: str,
    ) -> Outcome:
        check_username(username)
        name = check_display_name(name)
        roles = check_roles(roles)
        new_id = account_id(username)

        def decide() -> Decision:
            existing = self.work.find(Account, new_id)
            if existing is not None:
                if existing.has_seen(ctx.command_id):
                    return Decision(existing, [], created=True)
                raise AlreadyExists(f"the username {username} is taken")
            self._active_unit(unit)
            meta = ctx.meta("OpenAccount", new_id)
            account = Account(username, name, unit, roles, password_hash, meta)
            roster = self.work.find(AccountRoster, ACCOUNT_ROSTER_ID)
            if roster is None:
                roster = AccountRoster(meta=ctx.meta("StartAccountRoster", ACCOUNT_ROSTER_ID))
            roster.list_account(username, unit, ctx.meta("OpenAccount", ACCOUNT_ROSTER_ID))
            return Decision(account, [account, roster], created=True)

        return self.work.execute(decide, expected_version=ctx.expected_version)

    def account(self, username: str) -> Account:
        """The account with this username (any case), open or closed."""
        check_username(username)
        return self.work.load(Account, account_id(username), f"account {username}")

    def find_account(self, username: str) -> Account | None:
        """The account, or None when the name is unknown or not a username at all."""
        try:
            check_username(username)
        except InvalidValue:
            return None
        return self.work.find(Account, account_id(username))

    def roster(self) -> dict[str, dict[str, object]]:
        """username -> its unit and whether it is closed, oldest first."""
        roster = self.work.find(AccountRoster, ACCOUNT_ROSTER_ID)
        return {} if roster is None else dict(roster.entries)

    def _on_account(
        self, ctx: Context, username: str, command: str, act: Callable[[Any], list[Any] | None]
    ) -> Outcome:
        check_username(username)
        return self.work.command(
            ctx, Account, account_id(username), f"account {username}", act, command
        )

    def change_password(self, ctx: Context, username: str, password_hash: str) -> Outcome:
        return self._on_account(
            ctx,
            username,
            "ChangePassword",
            lambda a: a.change_password(password_hash, ctx.meta("ChangePassword", a.id)),
        )

    def change_roles(self, ctx: Context, username: str, roles: list[str]) -> Outcome:
        return self._on_account(
            ctx,
            username,
            "ChangeRoles",
            lambda a: a.change_roles(roles, ctx.meta("ChangeRoles", a.id)),
        )

    def close_account(self, ctx: Context, username: str, reason: str) -> Outcome:
        def act(account: Account) -> list[AccountRoster]:
            account.close(reason, ctx.meta("CloseAccount", account.id))
            roster = self.work.load(AccountRoster, ACCOUNT_ROSTER_ID, "the account roster")
            roster.mark_closed(account.username, ctx.meta("CloseAccount", ACCOUNT_ROSTER_ID))
            return [roster]

        return self._on_account(ctx, username, "CloseAccount", act)

    # -- one-time sign-in tickets ---------------------------------------------------------

    def issue_ticket(
        self, ctx: Context, username: str, ticket_hash: str, expires_at: datetime
    ) -> Outcome:
        new_id = sign_in_ticket_id(ticket_hash)

        def decide() -> Decision:
            account = self.account(username)
            if account.closed:
                raise AccountClosed(f"the account {account.username} is closed")
            self._active_unit(account.unit)
            ticket = SignInTicket(
                ticket_hash=ticket_hash,
                account_id=account.id,
                username=account.username,
                expires_at=expires_at,
                meta=ctx.meta("IssueSignInTicket", new_id),
            )
            return Decision(ticket, [ticket], created=True)

        return self.work.execute(decide)

    def redeem_ticket(self, ctx: Context, ticket_hash: str, at: datetime) -> Outcome:
        """Mark the ticket redeemed; ``extra["account_id"]`` names its account. Refused
        (:class:`TicketRefused`) when unknown, redeemed already, or expired: a second
        redeemer, in this process or another, loses the write and is decided again."""
        ticket_id = sign_in_ticket_id(ticket_hash)

        def decide() -> Decision:
            ticket = self.work.find(SignInTicket, ticket_id)
            if ticket is None:
                raise TicketRefused("this sign-in address is unknown")
            ticket.redeem(at, ctx.meta("RedeemSignInTicket", ticket_id))
            return Decision(ticket, [ticket], extra={"account_id": ticket.account_id})

        return self.work.execute(decide)
