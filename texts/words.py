"""The domain's codes that people read as words, family by family.

A code is what the log and the API carry (``reservoir``, ``urgent``, ``in_progress``); its
word is what a person reads, ``word.<family>.<code>`` in the catalogue, in every
language. The families come from the domain's own enumerations where it has them, so a
new theme or status without a word fails the catalogue's check at start; the roles, the
steps and the report's columns are listed here because they are named outside the
domain's enumerations (the roles and columns in ``api/``, the steps in the use cases).
"""

from __future__ import annotations

from domain.disposition import DispositionStatus
from domain.evaluation import COLOURS, DEDUCTION_INDICATORS, RATE_INDICATORS
from domain.follow_up import Satisfaction
from domain.instruction import AssigneeStatus, InstructionStatus, Priority
from domain.unit import Kind, Level
from domain.warning import LEVEL_NAMES, Theme, WarningStatus

#: "none" is the reports' group of instructions linked to no warning.
_NONE = ("none",)

#: The roles of a token (``api/tokens.py``) and the system's own actor.
ROLES = (
    "admin",
    "monitor",
    "duty_officer",
    "dispatcher",
    "handler",
    "auditor",
    "screen",
    "system",
)

#: The steps: the command names the events' metadata records (``meta.command``).
STEPS = (
    "AcknowledgeWarning",
    "AssessWarning",
    "BindCapSender",
    "BlowWhistle",
    "CancelInstruction",
    "CancelWarning",
    "ChangePassword",
    "ChangeRoles",
    "ChangeWarningLevel",
    "CheckIn",
    "ChildFinished",
    "ArbitrateDispute",
    "CloseAccount",
    "CloseWarning",
    "ConfirmReceipt",
    "CloseWhistle",
    "DeactivateUnit",
    "DecideDeferral",
    "DecideExtension",
    "DeleteSubscription",
    "DisableSubscription",
    "FollowUp",
    "RemindFollowUp",
    "RecordUnreachedFollowUp",
    "FileDispute",
    "EnableSubscription",
    "EndSilence",
    "EscalateAbsent",
    "ExpireSilence",
    "ExtendSilence",
    "Forward",
    "InstructionFinished",
    "IssueInstruction",
    "IssueSignInTicket",
    "LinkInstruction",
    "MarkOverdue",
    "MergeWarning",
    "MoveUnit",
    "ObserveBatch",
    "OpenAccount",
    "Park",
    "RaiseWarning",
    "ReactivateUnit",
    "ReceiveCap",
    "RecordAction",
    "RecordReading",
    "RedeemSignInTicket",
    "Redirect",
    "RegisterSubscription",
    "RegisterUnit",
    "Remind",
    "RemindLateReceipts",
    "RemindAbsent",
    "RenameUnit",
    "ReportProgress",
    "RequestDeferral",
    "RequestExtension",
    "ResolveWarning",
    "Resume",
    "Return",
    "RotateSubscriptionSecret",
    "SendNotice",
    "SignFor",
    "SetSilence",
    "StartAccountRoster",
    "StartSilenceRoster",
    "StartCapSenders",
    "StartCondition",
    "StartNetwork",
    "StartScenario",
    "Submit",
    "Supervise",
    "SwitchEmergencyOff",
    "SwitchEmergencyOn",
    "UnbindCapSender",
    "UnmergeWarning",
    # Grouping and inhibition (ADR 0087).
    "JoinGroup",
    "ChangeMemberLevel",
    "ResolveMember",
    "InhibitWarning",
    "UninhibitWarning",
    "DropInhibition",
    "ListInhibition",
    "StartInhibitionRoster",
    "UpdateSubscription",
    "Verify",
    # Duty rosters and escalation (ADR 0084)
    "StartRoster",
    "ArrangeShifts",
    "WithdrawShift",
    "HandOver",
    "OpenEscalation",
    "EscalateUnsigned",
)

#: The indicators of a report (``api/reports.py``), and its two sections of own figures.
INDICATORS = (
    "filed",
    "forwarded",
    "due",
    "closed",
    "closure_rate",
    "closed_on_time",
    "deferred",
    "on_time_closure_rate",
    "verified",
    "reworked",
    "rework_rate",
    "signed",
    "signed_on_time",
    "on_time_sign_for_rate",
    "warnings_raised",
    "warnings_acknowledged",
    "time_to_acknowledge",
    "time_to_sign_for",
    "time_to_close",
    "overdue_now",
    "disputes",
    "disputes_arbitrated",
    "disputes_upheld",
    "dispute_rate",
    "upheld_rate",
    "followed_up",
    "contacted",
    "resolved",
    "satisfied",
    "basically_satisfied",
    "reopened",
    "response_rate",
    "resolution_rate",
    "satisfaction_rate",
    "reopen_rate",
    "follow_up_unreached",
    "follow_up_not_reached",
)
REPORT_SECTIONS = ("total", "own", "emergency", "urgent")

#: What a loop's member is, as the loop index names it (``projections/loops.py``), and
#: "other" for an event of no known kind: the timeline page shows it as a word.
LOOP_KINDS = ("warning", "instruction", "disposition", "other")

#: Every family and its codes: the catalogue holds ``word.<family>.<code>`` for each.
FAMILIES: dict[str, tuple[str, ...]] = {
    "theme": (*(t.value for t in Theme), *_NONE),
    "level": (*(str(n) for n in sorted(LEVEL_NAMES)), *_NONE),
    "priority": tuple(p.value for p in Priority),
    "warning_status": tuple(s.value for s in WarningStatus),
    "instruction_status": tuple(s.value for s in InstructionStatus),
    "satisfaction": tuple(s.value for s in Satisfaction),
    "assignee_status": tuple(s.value for s in AssigneeStatus),
    "disposition_status": tuple(s.value for s in DispositionStatus),
    "unit_level": tuple(v.value for v in Level),
    "unit_kind": tuple(k.value for k in Kind),
    "role": ROLES,
    "step": STEPS,
    "indicator": INDICATORS,
    "report_section": REPORT_SECTIONS,
    "loop_kind": LOOP_KINDS,
    # The comprehensive evaluation's lines and colour grades (ADR 0086).
    "evaluation_line": (*RATE_INDICATORS, *DEDUCTION_INDICATORS),
    "grade": COLOURS,
}

#: A field of an event or a summary that holds a code, and the family of its word.
#: A status is not here: its family depends on the aggregate, so a text names it itself.
CODE_FIELDS: dict[str, str] = {
    "theme": "theme",
    "level": "level",
    "previous_level": "level",
    "priority": "priority",
    # What a finished instruction ended as: its status (closed or cancelled).
    "outcome": "instruction_status",
    "role": "role",
    "command": "step",
    "satisfaction": "satisfaction",
}


def word_id(family: str, code: object) -> str:
    return f"word.{family}.{code}"


def every_word_id() -> list[str]:
    return [word_id(family, code) for family, codes in FAMILIES.items() for code in codes]
