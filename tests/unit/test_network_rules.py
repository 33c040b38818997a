"""Rules that need the whole network: which way instructions may travel, and who is above.

Instructions go down the tree, or across to a department of the same government; never
up, never sideways to another government's units, never to a deactivated unit. A
forwarded part goes only below the unit forwarding it. The issuer or any unit above
it may remind, supervise, park and cancel.
"""

from __future__ import annotations

import pytest

from domain.application import CommandCenter
from domain.errors import DirectionRefused, InvalidTransition, InvalidValue, NotFound, NotPermitted
from domain.instruction import InstructionStatus
from tests.unit.builders import (
    CITY,
    CITY_DEPARTMENT,
    COMMUNITY,
    DISTRICT,
    ECOLOGY,
    EMERGENCY,
    FOREIGN_COMMUNITY,
    OFFICE,
    OTHER_COMMUNITY,
    OTHER_OFFICE,
    RESERVOIR,
    SCENIC,
    TRANSPORT,
    WATER,
    ctx,
    issue,
    nothing_stored,
    signed,
)


@pytest.mark.parametrize(
    ("issuer", "target"),
    [
        (DISTRICT, OFFICE),  # down one level
        (DISTRICT, COMMUNITY),  # down two levels
        (DISTRICT, WATER),  # to its own department
        (DISTRICT, RESERVOIR),  # down through a department to its enterprise
        (CITY, EMERGENCY),  # the city to a district department
        (CITY, CITY_DEPARTMENT),
        (OFFICE, SCENIC),  # an office to an enterprise in one of its communities
        (WATER, ECOLOGY),  # across, to a department of the same government
        (WATER, RESERVOIR),  # a department to the enterprise it oversees
    ],
)
def test_an_instruction_goes_down_or_across_to_a_sister_department(
    app: CommandCenter, issuer: str, target: str
) -> None:
    iid = issue(app, issuer, target)
    assert app.instruction(iid).lead == target


@pytest.mark.parametrize(
    ("issuer", "target"),
    [
        (OFFICE, DISTRICT),  # up
        (COMMUNITY, OFFICE),  # up
        (WATER, DISTRICT),  # a department to its own government is up
        (RESERVOIR, WATER),  # an enterprise to its department is up
        (OFFICE, OTHER_OFFICE),  # sideways to another government
        (COMMUNITY, FOREIGN_COMMUNITY),  # to a community under another office
        (OFFICE, WATER),  # an office to its district's department
        (WATER, OFFICE),  # a department to an office: not its subtree, not a department
        (EMERGENCY, RESERVOIR),  # to an enterprise of a sister department
        (CITY_DEPARTMENT, EMERGENCY),  # a city department to a district department
    ],
)
def test_an_instruction_never_goes_up_or_sideways(
    app: CommandCenter, issuer: str, target: str
) -> None:
    with nothing_stored(app), pytest.raises(DirectionRefused):
        issue(app, issuer, target)


def test_a_cooperating_unit_is_held_to_the_same_directions(app: CommandCenter) -> None:
    with nothing_stored(app), pytest.raises(DirectionRefused, match=CITY):
        issue(app, DISTRICT, OFFICE, cooperating_units=[ECOLOGY, CITY])
    iid = issue(app, DISTRICT, OFFICE, cooperating_units=[ECOLOGY, OTHER_OFFICE])
    assert app.instruction(iid).cooperating == [ECOLOGY, OTHER_OFFICE]


def test_no_instruction_goes_to_or_comes_from_a_deactivated_unit(app: CommandCenter) -> None:
    app.deactivate_unit(ctx(CITY), SCENIC, "concession ended")
    with nothing_stored(app), pytest.raises(InvalidValue, match="deactivated"):
        issue(app, OFFICE, SCENIC)
    with nothing_stored(app), pytest.raises(InvalidValue, match="deactivated"):
        issue(app, SCENIC, "HW-NG-GK")


def test_an_instruction_to_an_unknown_unit_is_refused(app: CommandCenter) -> None:
    with nothing_stored(app), pytest.raises(NotFound):
        issue(app, DISTRICT, "HW-NOWHERE")


def test_directions_follow_the_network_as_it_is_now(app: CommandCenter) -> None:
    app.move_unit(ctx(CITY), COMMUNITY, OTHER_OFFICE)
    with nothing_stored(app), pytest.raises(DirectionRefused):
        issue(app, OFFICE, COMMUNITY)
    assert app.instruction(issue(app, OTHER_OFFICE, SCENIC)).lead == SCENIC


# -- forwarding ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lead", "below"), [(OFFICE, COMMUNITY), (OFFICE, SCENIC), (WATER, RESERVOIR)]
)
def test_a_lead_forwards_part_of_it_to_a_unit_below_it(
    app: CommandCenter, lead: str, below: str
) -> None:
    parent = signed(app, DISTRICT, lead)
    child = app.forward(ctx(lead), parent, to_unit=below).id
    assert app.instruction(child).lead == below
    assert app.instruction(parent).open_children == [child]


@pytest.mark.parametrize(
    ("lead", "target"),
    [
        (WATER, ECOLOGY),  # across is fine for an instruction, not for a forwarded part
        (OFFICE, OTHER_OFFICE),
        (OFFICE, FOREIGN_COMMUNITY),
    ],
)
def test_a_forwarded_part_goes_only_to_a_unit_below_the_forwarder(
    app: CommandCenter, lead: str, target: str
) -> None:
    parent = signed(app, DISTRICT, lead)
    with nothing_stored(app), pytest.raises(DirectionRefused):
        app.forward(ctx(lead), parent, to_unit=target)


def test_only_an_assignee_that_signed_for_it_forwards_it(app: CommandCenter) -> None:
    parent = issue(app, DISTRICT, OFFICE)
    with nothing_stored(app), pytest.raises(InvalidTransition):
        app.forward(ctx(OFFICE), parent, to_unit=COMMUNITY)
    with nothing_stored(app), pytest.raises(NotPermitted):
        app.forward(ctx(OTHER_OFFICE), parent, to_unit=FOREIGN_COMMUNITY)


# -- redirecting --------------------------------------------------------------------------


def test_a_redirect_is_held_to_the_issuers_directions(app: CommandCenter) -> None:
    iid = issue(app, OFFICE, COMMUNITY)
    app.return_to_issuer(ctx(COMMUNITY), iid, "the bank is in Liuying")
    with nothing_stored(app), pytest.raises(DirectionRefused):
        app.redirect(ctx(OFFICE), iid, to_unit=FOREIGN_COMMUNITY)
    app.redirect(ctx(OFFICE), iid, to_unit=OTHER_COMMUNITY)
    assert app.instruction(iid).lead == OTHER_COMMUNITY


def test_only_the_issuer_redirects(app: CommandCenter) -> None:
    iid = issue(app, DISTRICT, OFFICE)
    app.return_to_issuer(ctx(OFFICE), iid, "not ours")
    with nothing_stored(app), pytest.raises(NotPermitted):
        app.redirect(ctx(CITY), iid, to_unit=OTHER_OFFICE)


def test_a_returned_forwarded_part_is_redirected_only_below_the_forwarder(
    app: CommandCenter,
) -> None:
    parent = signed(app, DISTRICT, WATER)
    child = app.forward(ctx(WATER), parent, to_unit=RESERVOIR).id
    app.return_to_issuer(ctx(RESERVOIR), child, "the dam belongs to the city")
    with nothing_stored(app), pytest.raises(DirectionRefused):
        app.redirect(ctx(WATER), child, to_unit=ECOLOGY)


# -- who is above ---------------------------------------------------------------------


def test_the_chain_above_a_unit_runs_up_to_the_city(app: CommandCenter) -> None:
    assert app.ancestors(SCENIC) == [COMMUNITY, OFFICE, DISTRICT, CITY]
    assert app.ancestors(CITY) == []
    assert app.is_within(SCENIC, OFFICE)
    assert app.is_within(OFFICE, OFFICE)
    assert not app.is_within(OFFICE, SCENIC)


@pytest.mark.parametrize("by", [OFFICE, DISTRICT, CITY])
def test_every_unit_above_the_issuer_may_cancel(app: CommandCenter, by: str) -> None:
    iid = signed(app, OFFICE, COMMUNITY)
    app.cancel_instruction(ctx(by), iid, "handled by the district directly")
    assert app.instruction(iid).status == InstructionStatus.CANCELLED


@pytest.mark.parametrize(
    "by",
    [COMMUNITY, OTHER_OFFICE, WATER, TRANSPORT, SCENIC],
    ids=["the lead", "a sister office", "a district department", "another", "below the lead"],
)
def test_no_unit_beside_or_below_the_issuer_may_cancel(app: CommandCenter, by: str) -> None:
    iid = signed(app, OFFICE, COMMUNITY)
    with nothing_stored(app), pytest.raises(NotPermitted):
        app.cancel_instruction(ctx(by), iid, "not ours to cancel")
