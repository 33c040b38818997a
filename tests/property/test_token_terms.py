"""Which tokens a unit's people may use, under random sequences of issues, revocations,
deactivations and reactivations of their unit (hypothesis; ADR 0042).

A token is honoured exactly when it was not revoked, its unit is active, and the unit has
not been deactivated since the token was issued: a reactivation never brings a token
back. A token of an earlier term is refused saying so; a revoked token, or one of a unit
that is deactivated now, is refused as unknown. The tokens of another unit never change.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from api.tokens import TokenBook, TokenRefused
from closedloop.bootstrap import load_calendar
from closedloop.settings import DEFAULT_CALENDAR
from domain.application import CommandCenter
from domain.demo import load_demo
from domain.meta import Actor, Context

CALENDAR = load_calendar(DEFAULT_CALENDAR)
UNIT = "HW-DH-QS"  # a leaf: nothing under it has to be deactivated first
NEIGHBOUR = "HW-DH-LY"
ADMIN = Actor(person="admin", unit="HC", role="admin")


@dataclass
class Issued:
    secret: str
    token_id: str
    unit: str
    term: int
    revoked: bool = False


class TokenTerms(RuleBasedStateMachine):
    @initialize()
    def open_the_center(self) -> None:
        self.center = CommandCenter(
            env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, calendar=CALENDAR
        )
        load_demo(self.center)
        # No memory of valid tokens: every answer is decided on the record.
        self.book = TokenBook(self.center, cache_seconds=0)
        self.active = True
        self.term = 0
        self.tokens: list[Issued] = []
        neighbour = self.book.issue(user="neighbour", unit=NEIGHBOUR, roles=["handler"])
        self.neighbour = neighbour.secret

    def teardown(self) -> None:
        if hasattr(self, "center"):
            self.center.close()

    @precondition(lambda self: self.active)
    @rule()
    def issue(self) -> None:
        t = self.book.issue(user="handler", unit=UNIT, roles=["handler"])
        self.tokens.append(Issued(t.secret, t.token_id, UNIT, self.term))

    @precondition(lambda self: any(not t.revoked for t in self.tokens))
    @rule(pick=st.integers(min_value=0))
    def revoke(self, pick: int) -> None:
        live = [t for t in self.tokens if not t.revoked]
        token = live[pick % len(live)]
        self.book.revoke(token.token_id)
        token.revoked = True

    @precondition(lambda self: self.active)
    @rule()
    def deactivate(self) -> None:
        self.center.update_unit(Context(ADMIN), UNIT, active=False, reason="reorganised")
        self.active = False
        self.term += 1

    @precondition(lambda self: not self.active)
    @rule()
    def reactivate(self) -> None:
        self.center.update_unit(Context(ADMIN), UNIT, active=True)
        self.active = True

    @invariant()
    def only_the_tokens_of_the_current_term_are_honoured(self) -> None:
        for token in getattr(self, "tokens", []):
            if token.revoked or not self.active:
                assert self.book.authenticate(token.secret) is None
            elif token.term != self.term:
                with pytest.raises(TokenRefused) as refused:
                    self.book.authenticate(token.secret)
                assert refused.value.code == "token-of-a-past-term"
            else:
                principal = self.book.authenticate(token.secret)
                assert principal is not None
                assert principal.unit == UNIT

    @invariant()
    def another_units_token_is_untouched(self) -> None:
        if hasattr(self, "book"):
            assert self.book.authenticate(self.neighbour) is not None


TokenTerms.TestCase.settings = settings(
    max_examples=30,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_token_terms = TokenTerms.TestCase
