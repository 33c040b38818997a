"""Fixtures of the integration layer: the views over the ``center`` fixture's store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from domain.application import CommandCenter
from projections.store import ViewStore


@pytest.fixture
def store(center: CommandCenter) -> Iterator[ViewStore]:
    views = ViewStore.for_env(center.env)
    try:
        yield views
    finally:
        views.close()
