"""The administration page offers a unit's act exactly when the domain takes it.

Random walks over the demo network, as admins of the city, a district and an office:
at each step a random unit and a random act (a move to a random unit); the page's
:func:`~api.screens.admin_steps.unit_steps` and
:func:`~api.screens.admin_steps.move_targets` must offer it if and only if the
command is accepted (with the API's own check that the unit is within the admin's
subtree). Accepted commands are kept, so later steps meet moved and deactivated units.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.screens.admin_steps import (
    DEACTIVATE,
    MOVE,
    RENAME,
    UNIT_STEPS,
    UnitTree,
    move_targets,
    unit_steps,
)
from domain.application import CommandCenter
from domain.demo import load_demo
from domain.errors import DomainError
from domain.meta import Actor, Context
from tests.conftest import opened_center

ADMINS = ("HC", "HW", "HW-DH")
STEP = st.tuples(
    st.integers(0, 40),  # the unit (modulo how many there are)
    st.sampled_from(UNIT_STEPS),
    st.integers(0, 40),  # where a move goes
    st.sampled_from(ADMINS),
)


def accepted(center: CommandCenter, admin: str, code: str, step: str, target: str) -> bool:
    """Whether the command of ``step`` is taken (as the API runs it: first its check that
    the unit lies within the admin's subtree, then the domain's)."""
    if not center.is_within(code, admin):
        return False
    ctx = Context(actor=Actor(person=f"admin-{admin}", unit=admin, role="admin"))
    try:
        if step == RENAME:
            center.update_unit(ctx, code, name=f"{center.unit(code).name}·")
        elif step == MOVE:
            current = center.unit(code).parent
            if current is None or not center.is_within(current, admin):
                return False  # the API's check of the place it leaves
            if not center.is_within(target, admin):
                return False  # and of the place it goes
            center.update_unit(ctx, code, parent=target)
        elif step == DEACTIVATE:
            center.update_unit(ctx, code, active=False, reason="合并")
        else:
            center.reactivate_unit(ctx, code)
    except DomainError:
        return False
    return True


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(STEP, min_size=4, max_size=14))
def test_an_act_is_offered_exactly_when_the_domain_takes_it(
    walk: list[tuple[int, str, int, str]],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / uuid.uuid4().hex}.sqlite3"
        with opened_center(url) as center:
            load_demo(center)
            for unit_at, step, target_at, admin in walk:
                tree = UnitTree.of(center.units())
                codes = list(tree.units)
                code, target = codes[unit_at % len(codes)], codes[target_at % len(codes)]
                unit = tree.units[code]
                if step == MOVE and target == unit.parent:
                    continue  # no move at all: not an act the page offers or refuses
                offered = step in unit_steps(tree, unit, admin)
                if step == MOVE:
                    offered = offered and target in move_targets(tree, unit, admin)
                taken = accepted(center, admin, code, step, target)
                assert offered == taken, (admin, code, step, target)
