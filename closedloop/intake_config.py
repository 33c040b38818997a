"""The intake as the composition root builds it, from the data files the settings name.

The rule catalogue, the CAP profile and the playbooks ship beside this module
(:class:`~closedloop.settings.IntakeSettings`); each is checked when loaded
(``closedloop/catalogues.py``), so a bad file stops start-up with the file, the entry and
the reason.
"""

from __future__ import annotations

from datetime import timedelta

from closedloop.catalogues import load_cap_profile, load_catalogue, load_playbooks, load_stations
from closedloop.settings import (
    DEFAULT_CAP_PROFILE,
    DEFAULT_CATALOGUE,
    DEFAULT_PLAYBOOKS,
    IntakeSettings,
    Settings,
)
from domain.application import CommandCenter
from domain.intake import Intake
from domain.readings import ReadingStore

__all__ = ["DEFAULT_CAP_PROFILE", "DEFAULT_CATALOGUE", "DEFAULT_PLAYBOOKS", "build_intake"]


def build_intake(
    center: CommandCenter, settings: Settings | None = None, readings: ReadingStore | None = None
) -> Intake:
    """The intake on ``center`` with the files of ``settings`` (the shipped ones by default),
    its readings kept in ``readings`` or in the readings store beside ``center``'s events."""
    from projections.readings import readings_beside

    files = settings.intake if settings is not None else IntakeSettings()
    if readings is None:
        readings = readings_beside(center.env)
        # Made here, so owned here: closed with the center (its pool's threads with it).
        center.close_with(readings.close)
    return Intake(
        center,
        catalogue=load_catalogue(files.catalogue),
        profile=load_cap_profile(files.cap_profile),
        playbooks=load_playbooks(files.playbooks),
        readings=readings,
        stations=load_stations(files.stations),
        future=timedelta(seconds=files.readings_future_seconds),
        retention_days=files.readings_retention_days,
    )
