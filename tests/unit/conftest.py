"""Fixtures of the unit layer: the application on the library's in-memory store (no I/O)."""

from __future__ import annotations

import pytest

from domain.application import CommandCenter
from domain.demo import load_demo


@pytest.fixture
def app(memory_center: CommandCenter) -> CommandCenter:
    """The application on the in-memory store, with the demo district loaded."""
    load_demo(memory_center)
    return memory_center
