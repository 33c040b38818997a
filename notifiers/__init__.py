"""Notification hooks that tell departments what happened (ADR 0014).

An outbox view derives, from the committed log, one delivery per matching subscription;
a delivery worker sends them as signed Standard Webhooks with retries, and records
every attempt. Subscriptions are aggregates of their own (``domain.subscription``).
"""
