"""Every view Closed Loop keeps, in the order the runner feeds them."""

from __future__ import annotations

from collections.abc import Sequence

from domain.calendar import WorkingCalendar
from projections.indicators import IndicatorsView
from projections.instructions import InstructionsView
from projections.loops import LoopsView
from projections.notices import NoticesView
from projections.store import ViewStore
from projections.units import UnitsView
from projections.view import View
from projections.warnings import WarningsView
from projections.whistles import WhistlesView

#: The order matters: views lock their tracking rows in this order, so two runners can
#: never wait on each other (ADR 0016).
VIEW_CLASSES: list[type[View]] = [
    UnitsView,
    WarningsView,
    InstructionsView,
    LoopsView,
    IndicatorsView,
    NoticesView,
    WhistlesView,
]


def build_views(
    store: ViewStore, calendar: WorkingCalendar, classes: Sequence[type[View]] | None = None
) -> list[View]:
    """The views over ``store``, each given what it needs: the indicators count sign-for
    limits in the deployment's working time, so they take its calendar."""
    return [
        cls(store, calendar) if issubclass(cls, IndicatorsView) else cls(store)
        for cls in (classes if classes is not None else VIEW_CLASSES)
    ]


def view_classes() -> list[type[View]]:
    return list(VIEW_CLASSES)


def view_names() -> list[str]:
    return [c.name for c in VIEW_CLASSES]
