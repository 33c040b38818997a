"""The simulation's script is checked when it is loaded: a mistake names its beat (ADR 0050)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from closedloop.storm_script import Cap, Issue, ScriptError, load_script, script_from_mapping


def script(*beats: dict[str, Any], length: str = "PT2H") -> dict[str, Any]:
    return {"code": "test-day", "title": "测试日", "length": length, "beats": list(beats)}


RAISE = {
    "at": "PT0M",
    "act": "reading",
    "subject": "qingshan-reservoir",
    "metric": "water_level",
    "value": 53.0,
    "unit": "E-QSRES",
    "warning": "reservoir",
}
ACK = {"at": "PT5M", "act": "acknowledge", "warning": "reservoir"}


def test_the_shipped_storm_day_fills_the_board_in_its_first_simulated_hour() -> None:
    day = load_script()
    assert day.code == "storm-day"
    assert [b.at for b in day.beats] == sorted(b.at for b in day.beats)
    first_hour = [b for b in day.beats if b.at < timedelta(hours=1)]
    kinds = {b.kind for b in first_hour}
    assert {"reading", "cap", "issue", "sign", "submit", "verify", "return"} <= kinds
    assert {b.act.type for b in day.beats if isinstance(b.act, Cap)} == {
        "Alert",
        "Update",
        "Cancel",
    }
    assert any(isinstance(b.act, Issue) and b.act.due_in == "PT20M" for b in first_hour)


def test_beats_at_the_same_moment_keep_the_files_order() -> None:
    later = {**ACK, "at": "PT5M"}
    played = script_from_mapping(script(RAISE, later, {**ACK, "act": "confirm"}))
    assert [b.number for b in played.beats] == [1, 2, 3]


@pytest.mark.parametrize(
    ("beats", "length", "says"),
    [
        ((ACK, RAISE), "PT2H", "beat 1: warning 'reservoir' is named before any beat gives it"),
        ((RAISE, {**ACK, "at": "PT3H"}), "PT2H", "beat 2: at = 'PT3H' lies past the day's length"),
        ((RAISE, {**ACK, "colour": "red"}), "PT2H", "beat 2: unknown setting(s) colour"),
        (({**RAISE, "act": "rain"},), "PT2H", "beat 1:"),
        (({**RAISE, "value": float("nan")},), "PT2H", "beat 1:"),
        (({**RAISE, "at": "soon"},), "PT2H", "beat 1: at: 'soon' is not an ISO 8601 duration"),
        (
            (RAISE, {"at": "PT1M", "act": "sign"}),
            "PT2H",
            "beat 2: name either an instruction or a warning, not both or neither",
        ),
        (
            (
                {
                    "at": "PT1M",
                    "act": "cap",
                    "message": "m",
                    "type": "Alrt",
                    "event": "暴雨",
                    "headline": "暴雨预警",
                },
            ),
            "PT2H",
            "beat 1:",
        ),
        (
            (
                {
                    "at": "PT1M",
                    "act": "issue",
                    "instruction": "i",
                    "by": "HW",
                    "to": "HW-DH",
                    "title": "巡查",
                    "due_in": "PT0M",
                },
            ),
            "PT2H",
            "beat 1: due_in:",
        ),
        (
            (
                {
                    "at": "PT1M",
                    "act": "issue",
                    "instruction": "i",
                    "by": "HW",
                    "to": "HW-DH",
                    "title": "巡查",
                    "priority": "asap",
                    "due_in": "PT1H",
                },
            ),
            "PT2H",
            "beat 1:",
        ),
        ((), "PT2H", "needs at least one [[beats]]"),
        ((RAISE,), "a day", "length:"),
    ],
)
def test_a_script_mistake_is_refused_naming_the_beat(
    beats: tuple[dict[str, Any], ...], length: str, says: str
) -> None:
    with pytest.raises(ScriptError) as refused:
        script_from_mapping(script(*beats, length=length))
    assert says in str(refused.value)


def test_a_missing_or_broken_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ScriptError, match="does not exist"):
        load_script(tmp_path / "none.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text('code = "x"\n[[beats]\n', encoding="utf-8")
    with pytest.raises(ScriptError, match=f"simulation script {broken} is not valid TOML"):
        load_script(broken)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('code = "x"\ntitle = "x"\nlength = "PT1H"\nbeats = []\n', encoding="utf-8")
    with pytest.raises(ScriptError, match=f"simulation script {wrong}: needs at least one"):
        load_script(wrong)
