"""What each event means, in a line of English and of Chinese, for the loop's timeline.

The lines are built from each event's own fields; the actor is shown beside them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any


def _t(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if isinstance(value, datetime) else str(value)


def _yes(flag: Any, yes: str, no: str) -> str:
    return yes if flag else no


Describe = Callable[[Any], tuple[str, str]]

#: (English, Chinese) of each event, from its own fields; the actor is shown beside it.
DESCRIPTIONS: dict[str, Describe] = {
    "EarlyWarning.Raised": lambda e: (
        f"Raised a level-{e.level} {e.theme} warning at {e.unit}: {e.title}",
        f"发布{e.level}级{e.theme}预警（{e.unit}）：{e.title}",
    ),
    "EarlyWarning.Repeated": lambda e: (
        f"The warning was observed again (level {e.level})",
        f"预警再次出现（{e.level}级）",
    ),
    "EarlyWarning.LevelChanged": lambda e: (
        f"Changed the level from {e.previous_level} to {e.level}: {e.reason}",
        f"预警级别由{e.previous_level}级调整为{e.level}级：{e.reason}",
    ),
    "EarlyWarning.Acknowledged": lambda e: ("Acknowledged the warning", "确认收到预警"),
    "EarlyWarning.Assessed": lambda e: (
        f"Assessed the warning: {_yes(e.confirmed, 'confirmed', 'not confirmed')}. {e.note}",
        f"研判预警：{_yes(e.confirmed, '属实', '不属实')}。{e.note}",
    ),
    "EarlyWarning.InstructionLinked": lambda e: (
        f"Instruction {e.instruction_id} was linked to the warning",
        f"关联指令 {e.instruction_id}",
    ),
    "EarlyWarning.InstructionFinished": lambda e: (
        f"Linked instruction {e.instruction_id} ended: {e.outcome}",
        f"关联指令 {e.instruction_id} 已结束：{e.outcome}",
    ),
    "EarlyWarning.Resolved": lambda e: (f"Resolved the warning. {e.note}", f"预警解除。{e.note}"),
    "EarlyWarning.Cancelled": lambda e: (
        f"Cancelled the warning: {e.reason}",
        f"撤销预警：{e.reason}",
    ),
    "EarlyWarning.Closed": lambda e: (f"Closed the warning. {e.note}", f"预警闭环归档。{e.note}"),
    "Instruction.Issued": lambda e: (
        f"Issued a {e.priority} instruction to {e.lead}"
        f"{' with ' + ', '.join(e.cooperating) if e.cooperating else ''}, "
        f"due {_t(e.deadline)}: {e.title}",
        f"向{e.lead}下达{e.priority}指令"
        f"{'（协办：' + '、'.join(e.cooperating) + '）' if e.cooperating else ''}，"
        f"时限{_t(e.deadline)}：{e.title}",
    ),
    "Instruction.SignedFor": lambda e: (
        f"{e.unit} signed for the instruction",
        f"{e.unit}签收指令",
    ),
    "Instruction.ReturnedToIssuer": lambda e: (
        f"{e.unit} returned the instruction to its issuer: {e.reason}",
        f"{e.unit}退回指令：{e.reason}",
    ),
    "Instruction.Redirected": lambda e: (
        f"Redirected the instruction from {e.from_unit} to {e.to_unit}",
        f"指令由{e.from_unit}改派至{e.to_unit}",
    ),
    "Instruction.LinkedToWarning": lambda e: (
        f"The instruction was linked to warning {e.warning_id}",
        f"指令关联预警 {e.warning_id}",
    ),
    "Instruction.Forwarded": lambda e: (
        f"{e.unit} forwarded the instruction to {e.to_unit}",
        f"{e.unit}将指令转派至{e.to_unit}",
    ),
    "Instruction.ChildFinished": lambda e: (
        f"Forwarded instruction {e.child_id} ended: {e.outcome}",
        f"转派指令 {e.child_id} 已结束：{e.outcome}",
    ),
    "Instruction.ExtensionRequested": lambda e: (
        f"{e.unit} asked for more time, until {_t(e.deadline)}: {e.reason}",
        f"{e.unit}申请延期至{_t(e.deadline)}：{e.reason}",
    ),
    "Instruction.ExtensionDecided": lambda e: (
        f"The extension was {_yes(e.granted, 'granted', 'refused')}; "
        f"deadline {_t(e.deadline)}. {e.note}",
        f"延期申请{_yes(e.granted, '获批', '被驳回')}，时限{_t(e.deadline)}。{e.note}",
    ),
    "Instruction.ResultSubmitted": lambda e: (
        f"{e.unit} submitted its result: {e.result}",
        f"{e.unit}提交办理结果：{e.result}",
    ),
    "Instruction.Verified": lambda e: (
        f"The issuer {_yes(e.accepted, 'accepted', 'rejected')} the result. {e.note}",
        f"下达单位核查结果：{_yes(e.accepted, '通过', '不通过')}。{e.note}",
    ),
    "Instruction.Reminded": lambda e: (f"Reminder sent. {e.note}", f"催办。{e.note}"),
    "Instruction.MarkedOverdue": lambda e: (
        f"Marked overdue (deadline {_t(e.deadline)}). {e.note}",
        f"标记超期（时限{_t(e.deadline)}）。{e.note}",
    ),
    "Instruction.Supervised": lambda e: (
        f"Placed under supervision by {e.supervisor}. {e.note}",
        f"{e.supervisor}督办。{e.note}",
    ),
    "Instruction.Parked": lambda e: (f"Parked: {e.reason}", f"挂起：{e.reason}"),
    "Instruction.Resumed": lambda e: (f"Resumed. {e.note}", f"恢复办理。{e.note}"),
    "Instruction.Cancelled": lambda e: (
        f"Cancelled the instruction: {e.reason}",
        f"撤销指令：{e.reason}",
    ),
    "Disposition.Opened": lambda e: (
        f"{e.unit} opened its disposition of the instruction",
        f"{e.unit}开始处置",
    ),
    "Disposition.ProgressReported": lambda e: (
        f"Progress reported: {e.note}",
        f"报告进展：{e.note}",
    ),
    "Disposition.ActionRecorded": lambda e: (
        f"Action taken: {e.text}"
        f"{f' ({len(e.evidence)} piece(s) of evidence)' if e.evidence else ''}",
        f"处置措施：{e.text}{f'（附证据{len(e.evidence)}项）' if e.evidence else ''}",
    ),
    "Disposition.ResultSubmitted": lambda e: (
        f"Result submitted: {e.result}",
        f"提交处置结果：{e.result}",
    ),
    "Disposition.Verified": lambda e: (
        f"The result was {_yes(e.accepted, 'accepted', 'rejected')}. {e.note}",
        f"处置结果核查{_yes(e.accepted, '通过', '不通过')}。{e.note}",
    ),
    "Disposition.Ended": lambda e: (f"The disposition ended: {e.reason}", f"处置结束：{e.reason}"),
}


def describe(event: Any) -> tuple[str, str]:
    """One line in English and in Chinese; the event's type when it has no line yet."""
    name = event_name(event)
    line = DESCRIPTIONS.get(name)
    if line is None:
        return name, name
    try:
        en, zh = line(event)
    except AttributeError:
        # An older shape of the event: its type still says what happened.
        return name, name
    return en.strip(), zh.strip()


def event_name(event: Any) -> str:
    return type(event).__qualname__
