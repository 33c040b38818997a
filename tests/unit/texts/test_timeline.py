"""The timeline's lines come from the catalogue, and say what the lambdas said.

Each sample is an event's type and fields, with the lines the lambdas of ``api/`` gave
for it before the swap (``en_was``, ``zh_was``). The catalogue's line is that line, changed only
by the named fixes: a code shown as its word in the reader's language (a Chinese line
said "2级reservoir预警"), a time shown in the calendar's zone instead of UTC.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from typing import Any, NamedTuple
from uuid import UUID

import pytest

from domain.application import CommandCenter
from domain.calendar import WorkingCalendar
from domain.demo import load_demo
from domain.disposition import Disposition
from domain.duty_escalation import SignForEscalation
from domain.instruction import Instruction
from domain.notice import Notice
from domain.roster import DutyRoster
from domain.silence import Silence
from domain.warning import EarlyWarning
from domain.whistle import Whistle
from tests.unit.builders import (
    CITY,
    COMMUNITY,
    DISTRICT,
    OFFICE,
    close_instruction,
    confirmed_warning,
    ctx,
    issue,
)
from texts.catalogue import catalogue, placeholders
from texts.timeline import describe, message_id
from texts.words import FAMILIES

ZONE = "Asia/Shanghai"
LINKED = UUID("0b0d6c1e-5a7e-4a43-9c2f-2f1f1d3c0a01")
#: 10:00 in UTC is 18:00 on the calendar's wall in Shanghai.
DEADLINE = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


class Fix(NamedTuple):
    why: str  # "code": a code as its word; "time": in the calendar's zone
    language: str
    was: str
    now: str


class Sample(NamedTuple):
    event_type: str
    fields: dict[str, Any]
    en_was: str
    zh_was: str
    fixes: tuple[Fix, ...] = ()

    def expected(self, language: str) -> str:
        line = self.en_was if language == "en" else self.zh_was
        for fix in self.fixes:
            if fix.language == language:
                assert fix.was in line, f"{self.event_type}: {fix.was!r} is not in {line!r}"
                line = line.replace(fix.was, fix.now)
        return line


SAMPLES = [
    Sample(
        "EarlyWarning.Raised",
        {"level": 2, "theme": "reservoir", "unit": "HW-DH-QS", "title": "青山水库超汛限"},
        "Raised a level-2 reservoir warning at HW-DH-QS: 青山水库超汛限",
        "发布2级reservoir预警（HW-DH-QS）：青山水库超汛限",
        fixes=(
            Fix(
                "code", "en", "level-2 reservoir warning", "level II (orange) warning (Reservoirs)"
            ),
            Fix("code", "zh", "2级reservoir", "Ⅱ级（橙色）水库三防"),
        ),
    ),
    Sample(
        "EarlyWarning.Repeated",
        {"level": 3},
        "The warning was observed again (level 3)",
        "预警再次出现（3级）",
        fixes=(
            Fix("code", "en", "level 3", "level III (yellow)"),
            Fix("code", "zh", "（3级）", "，Ⅲ级（黄色）"),
        ),
    ),
    Sample(
        "EarlyWarning.LevelChanged",
        {"previous_level": 4, "level": 1, "reason": "水位继续上涨"},
        "Changed the level from 4 to 1: 水位继续上涨",
        "预警级别由4级调整为1级：水位继续上涨",
        fixes=(
            Fix("code", "en", "from 4 to 1", "from IV (blue) to I (red)"),
            Fix("code", "zh", "由4级调整为1级", "由Ⅳ级（蓝色）调整为Ⅰ级（红色）"),
        ),
    ),
    Sample(
        "EarlyWarning.Acknowledged",
        {},
        "Acknowledged the warning",
        "确认收到预警",
    ),
    Sample(
        "EarlyWarning.Assessed",
        {"confirmed": True, "note": "现场核实"},
        "Assessed the warning: confirmed. 现场核实",
        "研判预警：属实。现场核实",
    ),
    Sample(
        "EarlyWarning.Assessed",
        {"confirmed": False, "note": ""},
        "Assessed the warning: not confirmed.",
        "研判预警：不属实。",
    ),
    Sample(
        "EarlyWarning.InstructionLinked",
        {"instruction_id": LINKED},
        "Instruction 0b0d6c1e-5a7e-4a43-9c2f-2f1f1d3c0a01 was linked to the warning",
        "关联指令 0b0d6c1e-5a7e-4a43-9c2f-2f1f1d3c0a01",
    ),
    Sample(
        "EarlyWarning.InstructionFinished",
        {"instruction_id": LINKED, "outcome": "closed"},
        "Linked instruction 0b0d6c1e-5a7e-4a43-9c2f-2f1f1d3c0a01 ended: closed",
        "关联指令 0b0d6c1e-5a7e-4a43-9c2f-2f1f1d3c0a01 已结束：closed",
        fixes=(
            Fix("code", "en", "closed", "Closed"),
            Fix("code", "zh", "closed", "已办结"),
        ),
    ),
    Sample(
        "EarlyWarning.Resolved",
        {"note": "水位回落"},
        "Resolved the warning. 水位回落",
        "预警解除。水位回落",
    ),
    Sample(
        "EarlyWarning.Cancelled",
        {"reason": "误报"},
        "Cancelled the warning: 误报",
        "撤销预警：误报",
    ),
    Sample(
        "EarlyWarning.Closed",
        {"note": ""},
        "Closed the warning.",
        "预警闭环归档。",
    ),
    Sample(
        "EarlyWarning.MergedInto",
        {"main_id": "0b6f0e5c-8f4e-5f0a-9d47-3c1f2a9e7b10", "reason": "同一水位计", "mismatch": []},
        "Merged into the main case 0b6f0e5c-8f4e-5f0a-9d47-3c1f2a9e7b10 "
        "and closed as merged: 同一水位计",
        "并入主案件 0b6f0e5c-8f4e-5f0a-9d47-3c1f2a9e7b10，按并单关闭：同一水位计",
    ),
    Sample(
        "EarlyWarning.MergeTaken",
        {"merged_id": "0b6f0e5c-8f4e-5f0a-9d47-3c1f2a9e7b10", "reason": "同一水位计"},
        "Took in warning 0b6f0e5c-8f4e-5f0a-9d47-3c1f2a9e7b10 as merged: 同一水位计",
        "并入预警 0b6f0e5c-8f4e-5f0a-9d47-3c1f2a9e7b10：同一水位计",
    ),
    Sample(
        "EarlyWarning.Unmerged",
        {
            "main_id": "0b6f0e5c-8f4e-5f0a-9d47-3c1f2a9e7b10",
            "reason": "两座水库",
            "status": "raised",
        },
        "Un-merged from the main case 0b6f0e5c-8f4e-5f0a-9d47-3c1f2a9e7b10, "
        "back to its status: 两座水库",
        "撤销并单，移出主案件 0b6f0e5c-8f4e-5f0a-9d47-3c1f2a9e7b10，恢复原状态：两座水库",
    ),
    Sample(
        "EarlyWarning.MergeReleased",
        {"merged_id": "0b6f0e5c-8f4e-5f0a-9d47-3c1f2a9e7b10", "reason": "两座水库"},
        "Warning 0b6f0e5c-8f4e-5f0a-9d47-3c1f2a9e7b10 was un-merged from this case: 两座水库",
        "预警 0b6f0e5c-8f4e-5f0a-9d47-3c1f2a9e7b10 撤销并单移出：两座水库",
    ),
    # Grouping and inhibition (ADR 0087)
    Sample(
        "EarlyWarning.MemberJoined",
        {"member": "gauge-7", "level": 3, "observed_at": DEADLINE},
        "gauge-7, beyond its limit at 2026-06-01 10:00 at level 3, joined the group's warning",
        "gauge-7 于 2026-06-01 10:00 超限，3级，并入本组预警",
        fixes=(
            Fix("time", "en", "10:00", "18:00"),
            Fix("time", "zh", "10:00", "18:00"),
            Fix("code", "en", "level 3", "level III (yellow)"),
            Fix("code", "zh", "3级", "Ⅲ级（黄色）"),
        ),
    ),
    Sample(
        "EarlyWarning.MemberLevelChanged",
        {"member": "gauge-7", "level": 2, "reason": "水位上涨"},
        "Group member gauge-7 changed to 2: 水位上涨",
        "组成员 gauge-7 级别调整为2级：水位上涨",
        fixes=(
            Fix("code", "en", "to 2", "to II (orange)"),
            Fix("code", "zh", "2级", "Ⅱ级（橙色）"),
        ),
    ),
    Sample(
        "EarlyWarning.MemberResolved",
        {"member": "gauge-7", "note": "水位回落"},
        "Group member gauge-7 is normal again: 水位回落",
        "组成员 gauge-7 恢复正常：水位回落",
    ),
    Sample(
        "EarlyWarning.Inhibited",
        {
            "by": "0b6f0e5c-8f4e-5f0a-9d47-3c1f2a9e7b10",
            "inhibition": "rainstorm-red-over-lesser",
            "reason": "区级红色预警已覆盖",
        },
        "Inhibited by warning 0b6f0e5c-8f4e-5f0a-9d47-3c1f2a9e7b10; no playbook runs while it "
        "stands",
        "被预警 0b6f0e5c-8f4e-5f0a-9d47-3c1f2a9e7b10 抑制，暂不启动预案",
    ),
    Sample(
        "EarlyWarning.Uninhibited",
        {
            "by": "0b6f0e5c-8f4e-5f0a-9d47-3c1f2a9e7b10",
            "inhibition": "rainstorm-red-over-lesser",
            "reason": "红色预警已撤销",
        },
        "Warning 0b6f0e5c-8f4e-5f0a-9d47-3c1f2a9e7b10 ended or no longer covers this one: no "
        "longer inhibited, raised again and its playbooks run",
        "预警 0b6f0e5c-8f4e-5f0a-9d47-3c1f2a9e7b10 已结束或不再覆盖本预警，"
        "抑制解除，预警恢复并启动预案",
    ),
    Sample(
        "Instruction.Issued",
        {
            "priority": "urgent",
            "lead": "HW-DH",
            "cooperating": [],
            "deadline": DEADLINE,
            "title": "清理下水道",
        },
        "Issued a urgent instruction to HW-DH, due 2026-06-01 10:00: 清理下水道",
        "向HW-DH下达urgent指令，时限2026-06-01 10:00：清理下水道",
        fixes=(
            Fix("code", "en", "a urgent instruction to HW-DH", "an instruction (Urgent) to HW-DH"),
            Fix("code", "zh", "urgent", "特急"),
            Fix("time", "en", "10:00", "18:00"),
            Fix("time", "zh", "10:00", "18:00"),
        ),
    ),
    Sample(
        "Instruction.Issued",
        {
            "priority": "normal",
            "lead": "HW-DH",
            "cooperating": ["HW-XL", "HW-JS"],
            "deadline": DEADLINE,
            "title": "清理下水道",
        },
        "Issued a normal instruction to HW-DH with HW-XL, HW-JS, due 2026-06-01 10:00: 清理下水道",
        "向HW-DH下达normal指令（协办：HW-XL、HW-JS），时限2026-06-01 10:00：清理下水道",
        fixes=(
            Fix("code", "en", "a normal instruction to HW-DH", "an instruction (Normal) to HW-DH"),
            Fix("code", "zh", "normal", "一般"),
            Fix("time", "en", "10:00", "18:00"),
            Fix("time", "zh", "10:00", "18:00"),
        ),
    ),
    Sample(
        "Instruction.SignedFor",
        {"unit": "HW-DH"},
        "HW-DH signed for the instruction",
        "HW-DH签收指令",
    ),
    Sample(
        "Instruction.ReturnedToIssuer",
        {"unit": "HW-DH", "reason": "不属本单位职责"},
        "HW-DH returned the instruction to its issuer: 不属本单位职责",
        "HW-DH退回指令：不属本单位职责",
    ),
    Sample(
        "Instruction.Redirected",
        {"from_unit": "HW-DH", "to_unit": "HW-XL"},
        "Redirected the instruction from HW-DH to HW-XL",
        "指令由HW-DH改派至HW-XL",
    ),
    Sample(
        "Instruction.LinkedToWarning",
        {"warning_id": LINKED},
        "The instruction was linked to warning 0b0d6c1e-5a7e-4a43-9c2f-2f1f1d3c0a01",
        "指令关联预警 0b0d6c1e-5a7e-4a43-9c2f-2f1f1d3c0a01",
    ),
    Sample(
        "Instruction.Forwarded",
        {"unit": "HW-DH", "to_unit": "HW-DH-QS"},
        "HW-DH forwarded the instruction to HW-DH-QS",
        "HW-DH将指令转派至HW-DH-QS",
    ),
    Sample(
        "Instruction.ChildFinished",
        {"child_id": LINKED, "outcome": "cancelled"},
        "Forwarded instruction 0b0d6c1e-5a7e-4a43-9c2f-2f1f1d3c0a01 ended: cancelled",
        "转派指令 0b0d6c1e-5a7e-4a43-9c2f-2f1f1d3c0a01 已结束：cancelled",
        fixes=(
            Fix("code", "en", "cancelled", "Cancelled"),
            Fix("code", "zh", "cancelled", "已撤销"),
        ),
    ),
    Sample(
        "Instruction.ExtensionRequested",
        {"unit": "HW-DH", "deadline": DEADLINE, "reason": "雨势未减"},
        "HW-DH asked for more time, until 2026-06-01 10:00: 雨势未减",
        "HW-DH申请延期至2026-06-01 10:00：雨势未减",
        fixes=(
            Fix("time", "en", "10:00", "18:00"),
            Fix("time", "zh", "10:00", "18:00"),
        ),
    ),
    Sample(
        "Instruction.ExtensionDecided",
        {"granted": True, "deadline": DEADLINE, "note": "同意"},
        "The extension was granted; deadline 2026-06-01 10:00. 同意",
        "延期申请获批，时限2026-06-01 10:00。同意",
        fixes=(
            Fix("time", "en", "10:00", "18:00"),
            Fix("time", "zh", "10:00", "18:00"),
        ),
    ),
    Sample(
        "Instruction.ExtensionDecided",
        {"granted": False, "deadline": DEADLINE, "note": ""},
        "The extension was refused; deadline 2026-06-01 10:00.",
        "延期申请被驳回，时限2026-06-01 10:00。",
        fixes=(
            Fix("time", "en", "10:00", "18:00"),
            Fix("time", "zh", "10:00", "18:00"),
        ),
    ),
    Sample(
        "Instruction.DeferralRequested",
        {"unit": "HW-DH", "reason": "等待法院判决"},
        "HW-DH asked to defer the case: 等待法院判决",
        "HW-DH申请缓办：等待法院判决",
    ),
    Sample(
        "Instruction.DeferralDecided",
        {"granted": True, "note": "", "remaining_s": 7200},
        "The deferral was approved; the clock is stopped.",
        "缓办获批，计时暂停。",
    ),
    Sample(
        "Instruction.DeferralDecided",
        {"granted": False, "note": "资金已到位", "remaining_s": 0},
        "The deferral was refused; the clock runs on. 资金已到位",
        "缓办申请未获批准，继续计时。资金已到位",
    ),
    Sample(
        "Instruction.DeferralEnded",
        {"deadline": DEADLINE, "note": "判决已出"},
        "The deferral ended and the clock restarted; deadline 2026-06-01 18:00. 判决已出",
        "缓办结束，恢复计时，新时限2026-06-01 18:00。判决已出",
    ),
    Sample(
        "Instruction.DisputeFiled",
        {"unit": "HW-DH", "reason": "属水务局主管网"},
        "HW-DH disputed the dispatch: 属水务局主管网",
        "HW-DH提出派单异议：属水务局主管网",
    ),
    Sample(
        "Instruction.DisputeArbitrated",
        {"unit": "HW-DH", "upheld": True, "to_unit": "HW-WATER", "deadline": DEADLINE, "note": ""},
        "The dispute of HW-DH was upheld; the case goes to HW-WATER, due 2026-06-01 18:00.",
        "HW-DH的派单异议成立，改派HW-WATER，新时限2026-06-01 18:00。",
    ),
    Sample(
        "Instruction.DisputeArbitrated",
        {"unit": "HW-DH", "upheld": False, "to_unit": "", "deadline": DEADLINE, "note": "属本单位"},
        "The dispute of HW-DH was refused; the case stays and its clock runs on. 属本单位",
        "HW-DH的派单异议不成立，案件不变，继续计时。属本单位",
    ),
    Sample(
        "Instruction.FollowedUp",
        {
            "unit": "HW-DH",
            "contacted": True,
            "resolved": True,
            "satisfaction": "basically_satisfied",
            "note": "",
            "reopened": False,
            "deadline": DEADLINE,
        },
        "The caller was followed up on the handling by HW-DH: basically satisfied.",
        "回访诉求人，对HW-DH的办理评价为基本满意。",
    ),
    Sample(
        "Instruction.FollowedUp",
        {
            "unit": "HW-DH",
            "contacted": True,
            "resolved": False,
            "satisfaction": "dissatisfied",
            "note": "仍积水",
            "reopened": True,
            "deadline": DEADLINE,
        },
        "The caller, followed up, found it unresolved and was dissatisfied; the case is "
        "reopened to HW-DH, due 2026-06-01 18:00. 仍积水",
        "回访诉求人，反映未解决、不满意，重办，退回HW-DH，新时限2026-06-01 18:00。仍积水",
    ),
    Sample(
        "Instruction.FollowUpReminded",
        {"due_at": DEADLINE, "on_duty": None, "on_roster": False},
        "The caller is still to be followed up, by 2026-06-01 18:00.",
        "诉求人尚未回访，请于2026-06-01 18:00前回访。",
    ),
    # The person on duty named (ADR 0090).
    Sample(
        "Instruction.FollowUpReminded",
        {"due_at": DEADLINE, "on_duty": "hw.li", "on_roster": True},
        "The caller is still to be followed up, by 2026-06-01 18:00 (on duty: hw.li).",
        "诉求人尚未回访，请于2026-06-01 18:00前回访（值班人hw.li）。",
    ),
    Sample(
        "Disposition.Reopened",
        {"note": "仍积水"},
        "The result was opened again after the follow-up. 仍积水",
        "回访后重办，处置重新开始。仍积水",
    ),
    Sample(
        "Instruction.ResultSubmitted",
        {"unit": "HW-DH", "result": "已疏通"},
        "HW-DH submitted its result: 已疏通",
        "HW-DH提交办理结果：已疏通",
    ),
    Sample(
        "Instruction.Verified",
        {"accepted": True, "note": ""},
        "The issuer accepted the result.",
        "下达单位核查结果：通过。",
    ),
    Sample(
        "Instruction.Verified",
        {"accepted": False, "note": "仍有积水"},
        "The issuer rejected the result. 仍有积水",
        "下达单位核查结果：不通过。仍有积水",
    ),
    Sample(
        "Notice.Sent",
        {"title": "台风来袭", "confirm_by": DEADLINE},
        "Notice sent: 台风来袭; confirm receipt by 2026-06-01 18:00",
        "发出通知：台风来袭，请于 2026-06-01 18:00 前签收",
    ),
    Sample(
        "Notice.ReceiptConfirmed",
        {"unit": "HW-DH", "person": "王", "confirmed_at": DEADLINE, "late": False},
        "HW-DH confirmed receipt (王)",
        "HW-DH 签收通知（王）",
    ),
    Sample(
        "Notice.LateReminded",
        {"units": ["HW-DH", "HW-XL"], "on_duty": {}},
        "Past the limit; reminded the units that have not confirmed: HW-DH, HW-XL",
        "签收时限已过，催办未签收单位：HW-DH、HW-XL",
    ),
    Sample(
        "Notice.LateReminded",
        {"units": ["HW-DH", "HW-XL"], "on_duty": {"HW-DH": "hw.li"}},
        "Past the limit; reminded the units that have not confirmed: HW-DH, HW-XL "
        "(on duty: HW-DH: hw.li)",
        "签收时限已过，催办未签收单位：HW-DH、HW-XL（值班人 HW-DH：hw.li）",
    ),
    Sample(
        "Instruction.Reminded",
        {"note": "请加快", "on_duty": None, "on_roster": False},
        "Reminder sent. 请加快",
        "催办。请加快",
    ),
    Sample(
        "Instruction.MarkedOverdue",
        {"deadline": DEADLINE, "note": "", "on_duty": None, "on_roster": False},
        "Marked overdue (deadline 2026-06-01 10:00).",
        "标记超期（时限2026-06-01 10:00）。",
        fixes=(
            Fix("time", "en", "10:00", "18:00"),
            Fix("time", "zh", "10:00", "18:00"),
        ),
    ),
    Sample(
        "Instruction.Supervised",
        {"supervisor": "HC", "note": "重点督办", "on_duty": None, "on_roster": False},
        "Placed under supervision by HC. 重点督办",
        "HC督办。重点督办",
    ),
    Sample(
        "Instruction.Reminded",
        {"note": "请加快", "on_duty": "张三", "on_roster": True},
        "Reminder sent (on duty: 张三). 请加快",
        "催办（值班人张三）。请加快",
    ),
    Sample(
        "Instruction.MarkedOverdue",
        {"deadline": DEADLINE, "note": "", "on_duty": "张三", "on_roster": True},
        "Marked overdue (deadline 2026-06-01 10:00; on duty: 张三).",
        "标记超期（时限2026-06-01 10:00，值班人张三）。",
        fixes=(
            Fix("time", "en", "10:00", "18:00"),
            Fix("time", "zh", "10:00", "18:00"),
        ),
    ),
    Sample(
        "Instruction.Supervised",
        {"supervisor": "HC", "note": "重点督办", "on_duty": "张三", "on_roster": True},
        "Placed under supervision by HC (on duty: 张三). 重点督办",
        "HC督办（值班人张三）。重点督办",
    ),
    Sample(
        "Instruction.Parked",
        {"reason": "待汛后施工"},
        "Parked: 待汛后施工",
        "挂起：待汛后施工",
    ),
    Sample(
        "Instruction.Resumed",
        {"note": ""},
        "Resumed.",
        "恢复办理。",
    ),
    Sample(
        "Instruction.Cancelled",
        {"reason": "重复派单"},
        "Cancelled the instruction: 重复派单",
        "撤销指令：重复派单",
    ),
    Sample(
        "Disposition.Opened",
        {"unit": "HW-DH"},
        "HW-DH opened its disposition of the instruction",
        "HW-DH开始处置",
    ),
    Sample(
        "Disposition.ProgressReported",
        {"note": "已到场"},
        "Progress reported: 已到场",
        "报告进展：已到场",
    ),
    Sample(
        "Disposition.ActionRecorded",
        {"text": "封闭道路", "evidence": []},
        "Action taken: 封闭道路",
        "处置措施：封闭道路",
    ),
    Sample(
        "Disposition.ActionRecorded",
        {"text": "封闭道路", "evidence": ["photo-1", "photo-2"]},
        "Action taken: 封闭道路 (2 piece(s) of evidence)",
        "处置措施：封闭道路（附证据2项）",
    ),
    Sample(
        "Disposition.ResultSubmitted",
        {"result": "已处置"},
        "Result submitted: 已处置",
        "提交处置结果：已处置",
    ),
    Sample(
        "Disposition.Verified",
        {"accepted": True, "note": ""},
        "The result was accepted.",
        "处置结果核查通过。",
    ),
    Sample(
        "Disposition.Verified",
        {"accepted": False, "note": "证据不足"},
        "The result was rejected. 证据不足",
        "处置结果核查不通过。证据不足",
    ),
    Sample(
        "Disposition.Ended",
        {"reason": "指令已撤销"},
        "The disposition ended: 指令已撤销",
        "处置结束：指令已撤销",
    ),
    # Whistle and check-in (ADR 0078)
    Sample(
        "Whistle.Blown",
        {
            "unit": "HW-DH",
            "place": "湖畔路12号",
            "departments": ["HW-WATER", "HW-URBAN"],
            "limit_minutes": 30,
            "matter": "排水口堵塞",
        },
        "HW-DH blew the whistle at 湖畔路12号, summoning HW-WATER, HW-URBAN to check in "
        "within 30 minutes: 排水口堵塞",
        "HW-DH在湖畔路12号吹哨，召集HW-WATER、HW-URBAN于30分钟内报到：排水口堵塞",
    ),
    Sample(
        "Whistle.CheckedIn",
        {"department": "HW-WATER", "arrived_at": DEADLINE, "person": "李伟", "late": False},
        "HW-WATER checked in at the scene at 2026-06-01 10:00 (李伟 came)",
        "HW-WATER于2026-06-01 10:00到场报到（到场人：李伟）",
        fixes=(Fix("time", "en", "10:00", "18:00"), Fix("time", "zh", "10:00", "18:00")),
    ),
    Sample(
        "Whistle.CheckedIn",
        {"department": "HW-WATER", "arrived_at": DEADLINE, "person": "李伟", "late": True},
        "HW-WATER checked in late at the scene at 2026-06-01 10:00 (李伟 came)",
        "HW-WATER于2026-06-01 10:00逾时到场报到（到场人：李伟）",
        fixes=(Fix("time", "en", "10:00", "18:00"), Fix("time", "zh", "10:00", "18:00")),
    ),
    Sample(
        "Whistle.Reminded",
        {"department": "HW-URBAN", "on_duty": None, "on_roster": False},
        "HW-URBAN was reminded: the time to check in has passed",
        "已提醒HW-URBAN：报到时限已过",
    ),
    Sample(
        "Whistle.Reminded",
        {"department": "HW-URBAN", "on_duty": "张三", "on_roster": True},
        "HW-URBAN was reminded (on duty: 张三): the time to check in has passed",
        "已提醒HW-URBAN（值班人张三）：报到时限已过",
    ),
    Sample(
        "Whistle.Escalated",
        {"department": "HW-URBAN", "to": "HW", "on_duty": None, "on_roster": False},
        "HW-URBAN has not checked in at twice the limit; escalated to HW",
        "HW-URBAN超过两倍时限未报到，已上报HW",
    ),
    Sample(
        "Whistle.Escalated",
        {"department": "HW-URBAN", "to": "HW", "on_duty": "hw.li", "on_roster": True},
        "HW-URBAN has not checked in at twice the limit; escalated to HW (on duty: hw.li)",
        "HW-URBAN超过两倍时限未报到，已上报HW（值班人hw.li）",
    ),
    Sample(
        "Whistle.Closed",
        {"absent": ["HW-URBAN"], "note": "已疏通"},
        "The whistle was closed; absent: HW-URBAN. 已疏通",
        "吹哨已结束；未到：HW-URBAN。已疏通",
    ),
    # Silences (ADR 0085)
    Sample(
        "Silence.Created",
        {
            "target": "gauge-7",
            "starts_at": DEADLINE,
            "ends_at": DEADLINE,
            "reason": "闸门检修",
        },
        "gauge-7 was silenced from 2026-06-01 10:00 to 2026-06-01 10:00: 闸门检修",
        "gauge-7 自 2026-06-01 10:00 至 2026-06-01 10:00 静默：闸门检修",
        fixes=(Fix("time", "en", "10:00", "18:00"), Fix("time", "zh", "10:00", "18:00")),
    ),
    Sample(
        "Silence.Extended",
        {"ends_at": DEADLINE, "reason": "施工延期"},
        "The silence was extended to 2026-06-01 10:00: 施工延期",
        "静默延长至 2026-06-01 10:00：施工延期",
        fixes=(Fix("time", "en", "10:00", "18:00"), Fix("time", "zh", "10:00", "18:00")),
    ),
    Sample(
        "Silence.Ended",
        {"ended_at": DEADLINE, "reason": "检修完毕"},
        "The silence was ended at 2026-06-01 10:00: 检修完毕",
        "静默于 2026-06-01 10:00 提前结束：检修完毕",
        fixes=(Fix("time", "en", "10:00", "18:00"), Fix("time", "zh", "10:00", "18:00")),
    ),
    Sample(
        "Silence.Expired",
        {"expired_at": DEADLINE},
        "The silence expired at 2026-06-01 10:00; what is still beyond its limit raises",
        "静默于 2026-06-01 10:00 到期；仍超限的情况立即预警",
        fixes=(Fix("time", "en", "10:00", "18:00"), Fix("time", "zh", "10:00", "18:00")),
    ),
    # Duty rosters and escalation (ADR 0084)
    Sample(
        "DutyRoster.Started",
        {"unit": "HW-DH"},
        "The duty roster of HW-DH was started",
        "HW-DH建立值班表",
    ),
    Sample(
        "DutyRoster.ShiftsArranged",
        {"shifts": []},
        "Shifts were arranged on the duty roster",
        "值班表已排班",
    ),
    Sample(
        "DutyRoster.ShiftWithdrawn",
        {"shift_id": "ab", "reason": "调班"},
        "A shift was withdrawn from the duty roster: 调班",
        "值班表撤销一个班次：调班",
    ),
    Sample(
        "DutyRoster.HandedOver",
        {"from_person": "李伟", "to_person": "王芳", "at": DEADLINE, "note": "两件未结"},
        "李伟 handed the watch over to 王芳 at 2026-06-01 10:00. 两件未结",
        "交接班：李伟于2026-06-01 10:00交班给王芳。两件未结",
        fixes=(Fix("time", "en", "10:00", "18:00"), Fix("time", "zh", "10:00", "18:00")),
    ),
    Sample(
        "SignForEscalation.Opened",
        {"lead": "HW-DH"},
        "HW-DH has not signed for the instruction in time; escalation begins",
        "HW-DH未在时限内签收指令，开始升级",
    ),
    Sample(
        "SignForEscalation.Escalated",
        {"step": 1, "unit": "HW-DH", "person": "陈刚", "deputy": "周敏", "on_roster": True},
        "Not signed for in time: step 1 escalated to HW-DH, 陈刚 on duty (deputy 周敏)",
        "超时未签收：第1级升级至HW-DH，值班人陈刚（替班周敏）",
    ),
    Sample(
        "SignForEscalation.Escalated",
        {"step": 2, "unit": "HW", "person": None, "deputy": None, "on_roster": False},
        "Not signed for in time: step 2 escalated to HW, nobody on its duty roster",
        "超时未签收：第2级升级至HW，其值班表无人值班",
    ),
    Sample(
        "Instruction.FollowUpUnreached",
        {"unit": "HW-DH", "note": "无人接听", "attempt": 1, "not_reached": False},
        "The caller could not be reached for the follow-up (attempt 1); the case stays "
        "closed. 无人接听",
        "回访未联系上诉求人（第1次），案件仍办结。无人接听",
    ),
    Sample(
        "Instruction.FollowUpUnreached",
        {"unit": "HW-DH", "note": "停机", "attempt": 3, "not_reached": True},
        "The caller could not be reached for the follow-up (attempt 3); this closure counts "
        "as not reached. 停机",
        "回访第3次未联系上诉求人，本次办结计为未联系上。停机",
    ),
]


def _id(sample: Sample) -> str:
    return sample.event_type


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("sample", SAMPLES, ids=_id)
def test_each_line_is_the_lambdas_line_with_only_the_named_fixes(
    sample: Sample, language: str
) -> None:
    assert describe(sample.event_type, sample.fields, language, ZONE) == sample.expected(language)


def test_the_samples_cover_every_line_and_every_variant() -> None:
    lines = {i for i in catalogue().ids() if i.startswith("timeline.")}
    shown = {message_id(s.event_type, s.fields) for s in SAMPLES}
    assert shown == lines


def test_every_fix_is_a_word_for_a_code_or_a_time_in_the_calendars_zone() -> None:
    fixes = [f for s in SAMPLES for f in s.fixes]
    assert {f.why for f in fixes} == {"code", "time"}
    assert all(f.now == "18:00" for f in fixes if f.why == "time")


WRITTEN = frozenset({"title", "note", "reason", "result", "text", "content", "location"})
CODES = {code for codes in FAMILIES.values() for code in codes if code.isascii()}


@pytest.mark.parametrize("sample", SAMPLES, ids=_id)
def test_a_chinese_line_names_no_code_and_an_english_line_no_chinese_word(sample: Sample) -> None:
    zh = describe(sample.event_type, sample.fields, "zh", ZONE)
    assert not set(re.findall(r"[A-Za-z_]+", zh)) & CODES, zh
    # What people wrote themselves (titles, reasons) is in their own language.
    en_fields = {
        k: ("text" if isinstance(v, str) and not v.isascii() else v)
        for k, v in sample.fields.items()
    }
    en = describe(sample.event_type, en_fields, "en", ZONE)
    assert en.isascii(), en


def test_a_time_reads_in_the_zone_it_is_given() -> None:
    fields = {"deadline": DEADLINE, "note": "", "on_roster": False}

    assert describe("Instruction.MarkedOverdue", fields, "en", "Europe/London") == (
        "Marked overdue (deadline 2026-06-01 11:00)."
    )
    # as a stored payload has it
    iso = {"deadline": DEADLINE.isoformat(), "note": "", "on_roster": False}
    assert (
        describe("Instruction.MarkedOverdue", iso, "zh", ZONE)
        == "标记超期（时限2026-06-01 18:00）。"
    )


def test_an_event_with_no_line_or_of_an_older_shape_is_named_by_its_type() -> None:
    assert describe("Unit.Registered", {"code": "HW"}, "zh", ZONE) == "Unit.Registered"
    assert describe("Instruction.Parked", {}, "en", ZONE) == "Instruction.Parked"
    assert describe("Instruction.Verified", {"note": ""}, "zh", ZONE) == "Instruction.Verified"


def _a_real_loop(calendar: WorkingCalendar) -> list[Any]:
    """Every event of a loop that goes through most steps, as the log gives them back."""
    app = CommandCenter(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, calendar=calendar)
    load_demo(app)
    wid = confirmed_warning(app)
    iid = issue(app, warning_ids=[wid], cooperating_units=["HW-XL"], priority="urgent")
    app.sign_for(ctx(OFFICE), iid)
    child = app.forward(ctx(OFFICE), iid, to_unit=COMMUNITY, title="Knock on every door").id
    close_instruction(app, child)
    app.report_progress(ctx(OFFICE), iid, "on site")
    app.remind(ctx(DISTRICT), iid, "faster")
    app.supervise(ctx(CITY), iid, "watched")
    app.submit(ctx(OFFICE), iid, "done")
    app.verify(ctx(DISTRICT), iid, accepted=False, note="again")
    app.submit(ctx(OFFICE), iid, "done again")
    app.verify(ctx(DISTRICT), iid, accepted=True)
    return [app.mapper.to_domain_event(n) for n in app.iter_log()]


#: The event types that have a line (``timeline.<Aggregate>.<Event>[.<variant>]``).
DESCRIBED = {".".join(i.split(".")[1:3]) for i in catalogue().ids() if i.startswith("timeline.")}


def test_every_event_a_real_loop_records_gets_its_line_from_its_own_fields(
    calendar: WorkingCalendar,
) -> None:
    # What the timeline hands over: the event's type and vars(event).
    seen = set()
    for event in _a_real_loop(calendar):
        name = type(event).__qualname__
        if name not in DESCRIBED:
            continue
        seen.add(name)
        zh = describe(name, vars(event), "zh", calendar.zone)
        en = describe(name, vars(event), "en", calendar.zone)
        assert name not in (zh, en), f"{name} fell back to its type"
        # What people wrote (titles, notes) is in their own words, English here.
        written = {k: "文字" if k in WRITTEN else v for k, v in vars(event).items()}
        zh_alone = describe(name, written, "zh", calendar.zone)
        assert not set(re.findall(r"[A-Za-z_]+", zh_alone)) & CODES, zh_alone
    assert len(seen) >= 15, sorted(seen)


AGGREGATES = {
    "EarlyWarning": EarlyWarning,
    "Instruction": Instruction,
    "Disposition": Disposition,
    "Notice": Notice,
    "Whistle": Whistle,
    "Silence": Silence,
    "DutyRoster": DutyRoster,
    "SignForEscalation": SignForEscalation,
}


def test_a_line_names_only_fields_its_event_has() -> None:
    for line in sorted(i for i in catalogue().ids() if i.startswith("timeline.")):
        aggregate, event, *_ = line.removeprefix("timeline.").split(".")
        fields = {f.name for f in dataclasses.fields(getattr(AGGREGATES[aggregate], event))}
        named = {p.removesuffix("_count") for p in placeholders(catalogue().raw(line, "en"))}
        assert named <= fields, f"{line}: no field {', '.join(sorted(named - fields))}"
