"""Every view Closed Loop keeps, in the order the runner feeds them."""

from __future__ import annotations

import importlib

from projections.base import View
from projections.instructions import InstructionsView
from projections.loops import LoopsView
from projections.units import UnitsView
from projections.warnings import WarningsView

CORE_VIEWS: list[type[View]] = [UnitsView, WarningsView, InstructionsView, LoopsView]

#: Modules whose ``VIEWS`` list adds views (the reports' indicators).
EXTENSIONS = ("projections.indicators",)


def view_classes() -> list[type[View]]:
    classes = list(CORE_VIEWS)
    for module_name in EXTENSIONS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name != module_name:
                raise
            continue
        classes.extend(c for c in getattr(module, "VIEWS", []) if c not in classes)
    return classes


def view_names() -> list[str]:
    return [c.name for c in view_classes()]
