"""The one place where Closed Loop is wired together from its settings.

Nothing is built at import time: the CLI, the server and the tests all call
:func:`build_command_center` with the settings they want.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

from closedloop.settings import Settings
from domain.application import CommandCenter
from domain.calendar import CalendarError, WorkingCalendar

if TYPE_CHECKING:
    from closedloop.workers import Background
    from projections.base import ViewStore
    from projections.service import ReadModels


def load_calendar(path: Path) -> WorkingCalendar:
    """The working calendar from its TOML file; a bad file stops start-up with its reason."""
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise CalendarError(f"calendar file {path} does not exist") from None
    except OSError as e:
        raise CalendarError(f"calendar file {path} cannot be read: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise CalendarError(f"calendar file {path} is not valid TOML: {e}") from None
    try:
        return WorkingCalendar.from_mapping(data)
    except CalendarError as e:
        raise CalendarError(f"calendar file {path}: {e}") from None


def build_command_center(settings: Settings | None = None) -> CommandCenter:
    settings = settings or Settings.from_env()
    return CommandCenter(env=settings.store_env(), calendar=load_calendar(settings.calendar_path))


def build_read_models(center: CommandCenter, *, run: bool = True) -> ReadModels:
    """The views beside ``center``'s store; with ``run``, fed by a runner in this process."""
    from projections.service import ReadModels

    return ReadModels.beside(center, run=run)


def build_background(center: CommandCenter, store: ViewStore) -> Background:
    """Playbooks and the deadline watch, with the shipped intake configuration."""
    from closedloop.intake_config import build_intake
    from closedloop.workers import Background

    return Background(center, store, build_intake(center))
