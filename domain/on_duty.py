"""What the events of a watch's steps share when they name the person on duty (ADR 0098).

A watch (the deadline watch, the check-in watch, the follow-up watch, the notice watch)
tells a unit something on the system's behalf: a reminder, a lateness put on record, a
supervision, an escalation. Issue 22 item 7 asks that the step name whoever was on duty
there at that moment, as the roster said then (ADRs 0090, 0094). Each such event came to
carry the name in its second version, and an event stored in its first version named
nobody: it reads as naming nobody, since saying someone was on duty would invent it.

:class:`NamesOnDuty` is that rule, once: the class version and the one upcaster. Its
subclass :class:`NamesOnDutyAtUnit` adds the two fields of a step that tells one unit.
A step that tells several units at once (a notice's late reminder) declares its own map
of who was on duty at each, with what an old event of it reads as.

The mix-ins never move or rename an event class: an event's topic on the record is its
module and qualified name (``domain.whistle:Whistle.Reminded``), so each event stays
where it was declared and only takes the mix-in as its first base.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from copy import deepcopy
from typing import Any, ClassVar


class NamesOnDuty:
    """An event of a watch's step that names who was on duty where it told; version 2.

    A subclass that needs a third version raises ``class_version`` and adds
    ``upcast_v2_v3`` as any event does; this step stays the first.
    """

    class_version = 2

    #: What each field naming the person reads as on an event stored before it named
    #: anyone (version 1): nobody named.
    NOBODY_NAMED: ClassVar[Mapping[str, Any]] = {}

    @classmethod
    def upcast_v1_v2(cls, state: dict[str, Any]) -> None:
        # Who was on duty then is unknown, and today's roster must not be asked: a
        # handover since would give someone else's name.
        state.update(deepcopy(dict(cls.NOBODY_NAMED)))


class NamesOnDutyAtUnit(NamesOnDuty):
    """A step that tells one unit, naming the person holding its duty officer's post
    then (after any handover), or nobody when no shift of its roster covered the moment.

    The two fields are added after the event's own, as each event declared them before
    this mix-in existed, so each event's shape, and the record of shapes
    (``tests/integration/event_shapes.json``), is what it was. The library makes every
    event class a dataclass right after this hook runs, so the fields are real fields,
    with their defaults, in that order.
    """

    #: Who was on duty at the unit told; None: nobody on its roster then, or a person's
    #: own step (the API's remind), which names nobody.
    on_duty: str | None
    #: Whether a shift of the roster covered that moment (chooses the timeline's line).
    on_roster: bool

    NOBODY_NAMED: ClassVar[Mapping[str, Any]] = {"on_duty": None, "on_roster": False}
    _FIELDS: ClassVar[Mapping[str, str]] = {"on_duty": "str | None", "on_roster": "bool"}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # The library redefines each nested event class under its aggregate's own Event
        # (a subclass of the one declared); that one inherits the fields already.
        if "on_duty" in getattr(cls, "__dataclass_fields__", {}):
            return
        annotations = inspect.get_annotations(cls)
        for name, hint in cls._FIELDS.items():
            annotations[name] = hint
            setattr(cls, name, cls.NOBODY_NAMED[name])
        cls.__annotations__ = annotations
