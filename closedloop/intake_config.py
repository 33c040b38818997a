"""Where the intake's configuration lives, and the one function that loads all of it.

The rule catalogue, the CAP profile and the playbooks ship beside this module; each is
checked when loaded, so a bad file stops start-up with the file, the entry and the reason.
"""

from __future__ import annotations

from pathlib import Path

from domain.application import CommandCenter
from domain.cap import load_cap_profile
from domain.intake import Intake
from domain.playbooks import load_playbooks
from domain.rules import load_catalogue

HERE = Path(__file__).parent
DEFAULT_CATALOGUE = HERE / "rules" / "catalogue.toml"
DEFAULT_CAP_PROFILE = HERE / "cap_profile.toml"
DEFAULT_PLAYBOOKS = HERE / "playbooks"


def build_intake(
    center: CommandCenter,
    *,
    catalogue: Path = DEFAULT_CATALOGUE,
    cap_profile: Path = DEFAULT_CAP_PROFILE,
    playbooks: Path = DEFAULT_PLAYBOOKS,
) -> Intake:
    return Intake(
        center,
        catalogue=load_catalogue(catalogue),
        profile=load_cap_profile(cap_profile),
        playbooks=load_playbooks(playbooks),
    )
