"""The closed loop of a city command center, as event-sourced aggregates.

This package knows only the standard library and ``eventsourcing``: the HTTP API,
the read models and the notifiers depend on it, never the other way round.
"""
