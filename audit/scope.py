"""Which events of the log concern a unit's subtree: what a unit's admin may export
(issue 19, item 5; ADR 0042).

An event is in the subtree when the record it belongs to concerns a unit there (as the
API's reads decide: a warning's unit, an instruction's issuer and assignees, a
disposition's unit and its instruction's, a token's, a subscription's, a unit itself),
when the event itself names such a unit (a unit joining the network, a token listed on
the roster), or when a person of the subtree recorded it. Anything else, the other
districts' tokens and webhooks above all, stays out.

Each record is read once per export, as it is now, and remembered for the rest of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.utils import TopicError, resolve_topic

from domain.access_token import AccessToken
from domain.account import Account
from domain.account_roster import AccountRoster
from domain.application import CommandCenter
from domain.cap import CapMessage
from domain.cap_senders import CapSenders
from domain.condition import Condition
from domain.disposition import Disposition
from domain.duty_escalation import SignForEscalation
from domain.emergency import Scenario
from domain.errors import DomainError
from domain.idempotency_record import IdempotencyRecord
from domain.inhibition_roster import InhibitionRoster
from domain.instruction import Instruction
from domain.network import Network
from domain.notice import Notice
from domain.observation_batch import ObservationBatch
from domain.roster import DutyRoster
from domain.sign_in_ticket import SignInTicket
from domain.silence import Silence
from domain.silence_roster import SilenceRoster
from domain.subscription import Subscription
from domain.token_roster import ROSTER_ID, TokenRoster
from domain.unit import Unit
from domain.warning import EarlyWarning
from domain.warning_key import WarningKey
from domain.whistle import Whistle

#: Every kind of record on the log. A new aggregate must be given its units in
#: :meth:`SubtreeScope._units_of` and named here (a test holds it).
SCOPED_KINDS: tuple[type[Any], ...] = (
    AccessToken,
    # People's accounts (ADR 0052): an account's unit; a ticket, its account's; the
    # roster, by the unit each listing names.
    Account,
    AccountRoster,
    CapMessage,
    # The CAP sender registry: like the network, each event decides by the units it
    # names and who recorded it.
    CapSenders,
    Condition,
    Disposition,
    EarlyWarning,
    IdempotencyRecord,
    Instruction,
    Network,
    # A notice (ADR 0077): its sender and every unit it is addressed to.
    Notice,
    ObservationBatch,
    Scenario,
    SignInTicket,
    # A silence (ADR 0085): its scope; the roster, by the scope each listing names.
    Silence,
    SilenceRoster,
    # The inhibition roster (ADR 0087): by the unit each listing names.
    InhibitionRoster,
    Subscription,
    TokenRoster,
    Unit,
    WarningKey,
    Whistle,
    # A duty roster (ADR 0084): its unit; a sign-for escalation: the lead, the units
    # escalated to and the instruction's units.
    DutyRoster,
    SignForEscalation,
)

#: Past this many records remembered, the memory starts afresh (an export of a whole
#: city's five years must not hold every record at once).
_MEMORY = 50_000


class SubtreeScope:
    """Decides, event by event, whether an event concerns ``unit``'s subtree."""

    def __init__(self, center: CommandCenter, unit: str) -> None:
        self.center = center
        self.unit = unit
        self._records: dict[str, list[str]] = {}
        self._within: dict[str, bool] = {}
        self._tokens: dict[str, Any] | None = None

    def admits(self, aggregate: UUID | str, topic: str, payload: Any, metadata: Any) -> bool:
        """Whether the event (as the export's record shows it) concerns the subtree."""
        if isinstance(metadata, Mapping) and self.within(metadata.get("unit")):
            return True
        if any(self.within(code) for code in self._named_by(topic, payload)):
            return True
        return any(self.within(code) for code in self._record_units(aggregate))

    def within(self, code: Any) -> bool:
        if not isinstance(code, str) or not code:
            return False
        found = self._within.get(code)
        if found is None:
            try:
                found = self.center.is_within(code, self.unit)
            except DomainError:
                found = False  # a unit no longer (or never) on the record
            self._within[code] = found
        return found

    # -- what an event names by itself ---------------------------------------------------

    def _named_by(self, topic: str, payload: Any) -> Iterable[Any]:
        if not isinstance(payload, Mapping):
            return ()
        try:
            cls = resolve_topic(topic)
        except (TopicError, ImportError, AttributeError, ValueError):
            return ()
        if cls is Network.UnitJoined:
            return [payload.get("code")]
        if cls in (TokenRoster.Listed, AccountRoster.Listed):
            return [payload.get("unit")]
        if cls is SilenceRoster.Listed:
            return [payload.get("scope")]
        if cls is InhibitionRoster.Listed:
            return [payload.get("unit")]
        if cls is TokenRoster.Delisted:
            return self._token_units(payload.get("token_id"))
        if cls in (Scenario.EmergencySwitchedOn, Scenario.EmergencySwitchedOff):
            return [payload.get("scope")]
        return ()

    # -- what a record concerns, as it is now ------------------------------------------

    def _record_units(self, aggregate: UUID | str) -> list[str]:
        key = str(aggregate)
        units = self._records.get(key)
        if units is None:
            if len(self._records) >= _MEMORY:
                self._records.clear()
            units = self._units_of(self._get(key))
            self._records[key] = units
        return units

    def _get(self, aggregate: Any) -> Any:
        try:
            return self.center.repository.get(UUID(str(aggregate)))
        except (AggregateNotFoundError, ValueError):
            return None

    def _units_of(self, record: Any) -> list[str]:
        if isinstance(record, Unit):
            return [record.code]
        if isinstance(record, (EarlyWarning, AccessToken, Account, Subscription, ObservationBatch)):
            return [record.unit]
        if isinstance(record, SignInTicket):
            return self._record_units(record.account_id)
        if isinstance(record, Instruction):
            return [record.issuer, *record.assignees]
        if isinstance(record, Notice):
            return [record.sender, *record.addressees]
        if isinstance(record, Disposition):
            return [record.unit, *self._record_units(record.instruction_id)]
        if isinstance(record, Whistle):
            return [record.unit, *record.departments]
        if isinstance(record, Silence):
            return [record.scope]
        if isinstance(record, DutyRoster):
            return [record.unit]
        if isinstance(record, SignForEscalation):
            units = [record.lead, *(str(s["unit"]) for s in record.steps)]
            return [*units, *self._record_units(record.instruction_id)]
        if isinstance(record, WarningKey):
            return self._record_units(record.warning_id)
        if isinstance(record, CapMessage):
            return [u for w in record.warning_ids for u in self._record_units(w)]
        if isinstance(record, IdempotencyRecord):
            return self._token_units(record.token_id)
        # The network, the roster, a scenario, a rule's condition: each event decides by
        # what it names and who recorded it.
        return []

    def _token_units(self, token_id: Any) -> list[str]:
        if self._tokens is None:
            roster = self._get(ROSTER_ID)
            self._tokens = roster.entries if isinstance(roster, TokenRoster) else {}
        entry = self._tokens.get(token_id) if isinstance(token_id, str) else None
        return [entry["unit"]] if entry else []
