"""The demo district's duty rosters (ADR 0084): a week of day and night shifts for the
district, Donghu office and its Hupan community, from today in the calendar's zone, so
that ``make run`` shows who is on duty and whom an escalation names.

Loading it again the same day changes nothing (a fixed command id per unit and day); a
later day's load adds the shifts not yet on the roster, and a week already covered is
left as it is.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from domain.application import CommandCenter
from domain.errors import ShiftRefused
from domain.meta import Actor, Context, now
from domain.roster import ShiftPlan
from domain.roster_commands import RosterCases

#: unit -> (officers by day, officers by night, leaders), each (person, deputy).
DEMO_ROSTERS = {
    "HW": (("hw.li", "hw.wang"), ("hw.zhao", "hw.sun"), ("hw.chen", "hw.zhou")),
    "HW-DH": (("dh.liu", "dh.ma"), ("dh.huang", "dh.lin"), ("dh.he", "dh.guo")),
    "HW-DH-HP": (("hp.xu", "hp.zhu"), ("hp.hu", "hp.gao"), ("hp.luo", "hp.liang")),
}
DAYS = 7


def load_demo_rosters(center: CommandCenter) -> int:
    """Arrange the week's shifts of each demo unit; answer how many units got shifts."""
    cases = RosterCases(center)
    local = center.calendar.to_local(now())
    zone, today = local.tzinfo, local.date()
    arranged = 0
    for unit, (day, night, leader) in DEMO_ROSTERS.items():
        plans: list[ShiftPlan] = []
        for n in range(DAYS):
            d = today + timedelta(days=n)
            morning = datetime.combine(d, time(8, 0), zone)
            evening = morning + timedelta(hours=12)
            plans.append(ShiftPlan("duty_officer", *day, morning, evening))
            plans.append(ShiftPlan("duty_officer", *night, evening, evening + timedelta(hours=12)))
            plans.append(ShiftPlan("duty_leader", *leader, morning, morning + timedelta(days=1)))
        plans = [p for p in plans if p.ends_at > now()]
        roster = cases.roster(unit)
        if roster is not None:
            plans = [
                p
                for p in plans
                if roster.on_duty(p.post, p.starts_at) is None
                and roster.on_duty(p.post, p.ends_at - timedelta(seconds=1)) is None
            ]
        if not plans:
            continue
        ctx = Context(
            Actor(person="demo", unit="SYSTEM", role="system"),
            command_id=f"demo-roster:{unit}:{today.isoformat()}",
        )
        try:
            cases.arrange_shifts(ctx, unit, plans)
        except ShiftRefused:
            continue
        arranged += 1
    return arranged
