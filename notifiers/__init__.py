"""Notification hooks that tell departments what happened.

Nothing is here yet: the webhook delivery of the notification-hooks issue will live in
this package, following the event log like the projections do.
"""
