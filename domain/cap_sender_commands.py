"""The CAP sender registry's use cases: bind a sender, unbind it, and whether a token may
speak for it (ADR 0041).

An admin binds a sender only to units and tokens of its own subtree, and rebinds or
unbinds only a sender all of whose units and tokens lie there: an office's admin can
neither take the district weather office's sender for its own monitors nor lend its
monitors to it. The system (the demo loader, the command line) is trusted as the
composition root gives it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from domain.application import CommandCenter, Outcome
from domain.cap import CapSenderRefused
from domain.cap_senders import REGISTRY_ID, CapSenders, check_sender
from domain.decision import Decision, check_same_command
from domain.errors import InvalidValue, NotFound, NotPermitted
from domain.meta import Actor, Context
from domain.token_roster import ROSTER_ID, TokenRoster

#: The role that keeps the registry, as it keeps the tokens.
KEEPS_SENDERS = "admin"


class CapSenderCases:
    """Bindings of CAP senders to the units and tokens that may speak for them."""

    def __init__(self, center: CommandCenter) -> None:
        self.center = center

    def registry(self) -> CapSenders | None:
        return self.center.unit_of_work.find(CapSenders, REGISTRY_ID)

    def bindings(self) -> list[dict[str, Any]]:
        registry = self.registry()
        return registry.listed() if registry is not None else []

    def check_may_speak(self, actor: Actor, sender: str, token_id: str | None) -> CapSenders:
        """The registry, if a token of ``actor``'s unit (its public id ``token_id``) may
        send as ``sender``; :class:`CapSenderRefused` otherwise."""
        registry = self.registry()
        if registry is None or not registry.may_speak(sender, actor.unit, token_id):
            raise CapSenderRefused(
                f"this token may not send CAP messages as {sender[:100]!r}: an admin binds "
                "each CAP sender to the units or tokens that speak for it (/v1/cap-senders)"
            )
        return registry

    def bind(
        self, ctx: Context, sender: str, *, units: Sequence[str], tokens: Sequence[str] = ()
    ) -> Outcome:
        """Bind ``sender`` to the units and tokens that may speak for it, anew or in place
        of its binding; ``Outcome.created`` tells a first binding."""
        check_sender(sender)
        wanted = (list(dict.fromkeys(units)), list(dict.fromkeys(tokens)))
        work = self.center.unit_of_work

        def decide() -> Decision:
            registry = work.find(CapSenders, REGISTRY_ID)
            if registry is not None and registry.has_seen(ctx.command_id):
                # One registry holds every sender: the command id alone cannot tell a
                # retry from another binding given the same id (ADR 0025).
                check_same_command(
                    "bind a CAP sender",
                    (registry.binding(sender), {"units": wanted[0], "tokens": wanted[1]}),
                )
                return Decision(registry, [], created=True)
            if registry is None:
                registry = CapSenders(meta=ctx.meta("StartCapSenders", REGISTRY_ID))
            roster = work.find(TokenRoster, ROSTER_ID)
            earlier = registry.binding(sender)
            if earlier is not None:
                self._check_keeps(ctx.actor, sender, earlier["units"], earlier["tokens"], roster)
            self._check_keeps(ctx.actor, sender, units, tokens, roster, given=True)
            for unit in units:
                if not self.center.unit(unit).active:
                    raise InvalidValue(f"unit {unit} is deactivated; it speaks for no sender")
            registry.bind(sender, list(units), list(tokens), ctx.meta("BindCapSender", REGISTRY_ID))
            return Decision(registry, [registry], created=earlier is None)

        return work.execute(decide, expected_version=ctx.expected_version)

    def unbind(self, ctx: Context, sender: str, reason: str) -> Outcome:
        """Unbind ``sender``: no token speaks for it any more."""
        work = self.center.unit_of_work

        def decide() -> Decision:
            registry = work.find(CapSenders, REGISTRY_ID)
            earlier = registry.binding(sender) if registry is not None else None
            if registry is not None and registry.has_seen(ctx.command_id):
                check_same_command("unbind a CAP sender", (earlier, None))
                return Decision(registry, [])
            if registry is None or earlier is None:
                raise NotFound(f"CAP sender {sender[:100]!r} is not bound")
            roster = work.find(TokenRoster, ROSTER_ID)
            self._check_keeps(ctx.actor, sender, earlier["units"], earlier["tokens"], roster)
            registry.unbind(sender, reason, ctx.meta("UnbindCapSender", REGISTRY_ID))
            return Decision(registry, [registry])

        return work.execute(decide, expected_version=ctx.expected_version)

    def _check_keeps(
        self,
        actor: Actor,
        sender: str,
        units: Sequence[str],
        tokens: Sequence[str],
        roster: TokenRoster | None,
        *,
        given: bool = False,
    ) -> None:
        """Refuse an admin the units and tokens outside its subtree: those it gives
        (``given``), or those the sender is bound to now."""
        if actor.role == "system":
            return
        if actor.role != KEEPS_SENDERS:
            raise NotPermitted("only an admin binds and unbinds CAP senders")
        entries = roster.entries if roster is not None else {}
        for token in tokens:
            entry = entries.get(token)
            # A token outside the subtree is answered as one that does not exist, as the
            # token admin answers it (api/token_admin.py).
            if entry is None or not self.center.is_within(entry["unit"], actor.unit):
                if given:
                    raise NotFound(f"no token {token[:40]} among those of {actor.unit}")
                raise NotPermitted(self._not_yours(actor, sender))
            if given and entry["revoked"]:
                raise InvalidValue(f"token {token} is revoked; it speaks for no sender")
        for unit in units:
            if not self.center.is_within(unit, actor.unit):
                if given:
                    raise NotPermitted(
                        f"an admin of {actor.unit} binds CAP senders only to units under it, "
                        f"not to {unit}"
                    )
                raise NotPermitted(self._not_yours(actor, sender))

    @staticmethod
    def _not_yours(actor: Actor, sender: str) -> str:
        return (
            f"CAP sender {sender[:100]!r} is bound to units or tokens outside {actor.unit}'s "
            "subtree; an admin above them rebinds or unbinds it"
        )
