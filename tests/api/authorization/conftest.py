"""One world per module: the refusals of a module share their targets (``world.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.authorization.world import World, world


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world(tmp_path_factory.mktemp("authorization")) as made:
        yield made
