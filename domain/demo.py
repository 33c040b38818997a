"""A demo district: a city, one district with its departments, offices, communities
and a handful of enterprises with safety duties, with Chinese and English names, and the
CAP senders its monitors speak for.

Loading it twice changes nothing: each unit is registered under a fixed command id,
and a unit already on the record is left as it is; so is a CAP sender already bound.
"""

from __future__ import annotations

from typing import Any

from domain.application import CommandCenter
from domain.cap_sender_commands import CapSenderCases
from domain.meta import Actor, Context

#: What each row of :data:`DEMO_UNITS` holds, in order: the keywords of
#: :meth:`CommandCenter.register_unit`.
FIELDS = ("code", "name", "name_en", "level", "kind", "parent")

DEMO_UNITS: list[tuple[str, str, str, str, str, str | None]] = [
    ("HC", "海城市人民政府", "Haicheng Municipal Government", "city", "government", None),
    (
        "HC-EM",
        "海城市应急管理局",
        "Haicheng Emergency Management Bureau",
        "city",
        "department",
        "HC",
    ),
    ("HW", "海湾区人民政府", "Haiwan District Government", "district", "government", "HC"),
    (
        "HW-EM",
        "海湾区应急管理局",
        "Haiwan Emergency Management Bureau",
        "district",
        "department",
        "HW",
    ),
    ("HW-WATER", "海湾区水务局", "Haiwan Water Affairs Bureau", "district", "department", "HW"),
    (
        "HW-ECO",
        "海城市生态环境局海湾分局",
        "Haiwan Ecology and Environment Bureau",
        "district",
        "department",
        "HW",
    ),
    ("HW-TRANS", "海湾区交通运输局", "Haiwan Transport Bureau", "district", "department", "HW"),
    (
        "HW-URBAN",
        "海湾区城市管理和综合执法局",
        "Haiwan Urban Management Bureau",
        "district",
        "department",
        "HW",
    ),
    (
        "HW-MARKET",
        "海湾区市场监督管理局",
        "Haiwan Market Supervision Bureau",
        "district",
        "department",
        "HW",
    ),
    (
        "HW-TOUR",
        "海湾区文化广电旅游体育局",
        "Haiwan Culture, Tourism and Sports Bureau",
        "district",
        "department",
        "HW",
    ),
    (
        "HW-PSB",
        "海城市公安局海湾分局",
        "Haiwan Public Security Branch",
        "district",
        "department",
        "HW",
    ),
    ("HW-DH", "东湖街道办事处", "Donghu Sub-district Office", "office", "government", "HW"),
    ("HW-XL", "西岭街道办事处", "Xiling Sub-district Office", "office", "government", "HW"),
    ("HW-NG", "南港街道办事处", "Nangang Sub-district Office", "office", "government", "HW"),
    ("HW-DH-HP", "湖畔社区", "Hupan Community", "community", "government", "HW-DH"),
    ("HW-DH-LY", "柳营社区", "Liuying Community", "community", "government", "HW-DH"),
    ("HW-DH-QS", "青山社区", "Qingshan Community", "community", "government", "HW-DH"),
    ("HW-XL-SQ", "松泉社区", "Songquan Community", "community", "government", "HW-XL"),
    ("HW-XL-FL", "枫林社区", "Fenglin Community", "community", "government", "HW-XL"),
    ("HW-XL-YT", "云台社区", "Yuntai Community", "community", "government", "HW-XL"),
    ("HW-NG-GK", "港口社区", "Gangkou Community", "community", "government", "HW-NG"),
    ("HW-NG-HX", "海星社区", "Haixing Community", "community", "government", "HW-NG"),
    ("HW-NG-BS", "白沙社区", "Baisha Community", "community", "government", "HW-NG"),
    (
        "E-QSRES",
        "青山水库管理有限公司",
        "Qingshan Reservoir Operations Co.",
        "enterprise",
        "enterprise",
        "HW-WATER",
    ),
    (
        "E-HWBUS",
        "海湾客运有限公司",
        "Haiwan Coach Lines Co.",
        "enterprise",
        "enterprise",
        "HW-TRANS",
    ),
    (
        "E-DHSCENIC",
        "东湖风景区管理有限公司",
        "Donghu Scenic Area Management Co.",
        "enterprise",
        "enterprise",
        "HW-DH-HP",
    ),
    (
        "E-NGFAB",
        "南港精密制造有限公司",
        "Nangang Precision Manufacturing Co.",
        "enterprise",
        "enterprise",
        "HW-NG-GK",
    ),
    (
        "E-XLFOOD",
        "西岭中央厨房有限公司",
        "Xiling Central Kitchen Co.",
        "enterprise",
        "enterprise",
        "HW-XL-SQ",
    ),
]

#: The CAP senders of the demo and the units whose monitors speak for each (ADR 0041):
#: the district's meteorological and water feeds come in through the district's gateway,
#: the city's through the city's; an office's monitors speak for their office alone.
DEMO_CAP_SENDERS: list[tuple[str, list[str]]] = [
    ("met@haiwan.gov.cn", ["HW"]),
    ("water@haiwan.gov.cn", ["HW", "HW-WATER"]),
    ("emergency@haicheng.gov.cn", ["HC"]),
    ("donghu@haiwan.gov.cn", ["HW-DH"]),
]

DEMO_ADMIN = Actor(person="demo-loader", unit="HC", role="admin")


def load_demo(app: CommandCenter) -> int:
    """Register the demo district's units that are not on the record yet; return how many."""
    existing = {u.code for u in app.units()}
    added = 0
    for row in DEMO_UNITS:
        unit: dict[str, Any] = dict(zip(FIELDS, row, strict=True))
        if unit["code"] in existing:
            continue
        app.register_unit(Context(DEMO_ADMIN, command_id=f"demo:{unit['code']}"), **unit)
        added += 1
    return added


def bind_demo_senders(app: CommandCenter) -> int:
    """Bind the demo's CAP senders that are not bound yet (``closedloop demo load`` does it
    after the units); return how many. Apart from :func:`load_demo`, so that the units'
    log positions stay as they were for everything built on them."""
    senders = CapSenderCases(app)
    bound = {b["sender"] for b in senders.bindings()}
    added = 0
    for sender, units in DEMO_CAP_SENDERS:
        if sender not in bound:
            senders.bind(Context(DEMO_ADMIN, command_id=f"demo:cap:{sender}"), sender, units=units)
            added += 1
    return added
