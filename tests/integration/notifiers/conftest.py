"""The notifiers on the ``demo`` fixture's store, pointed at the fake receiver."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from domain.application import CommandCenter
from notifiers.config import WebhookConfig
from notifiers.secrets import Keyring
from notifiers.service import Notifiers
from projections.store import ViewStore
from tests.fakes import fast_config


@pytest.fixture
def make_notifiers(demo: CommandCenter, keyring: Keyring) -> Iterator[Callable[..., Notifiers]]:
    made: list[Notifiers] = []
    stores: list[ViewStore] = []

    def make(config: WebhookConfig | None = None, **kwargs: Any) -> Notifiers:
        store = ViewStore.for_env(demo.env)
        stores.append(store)
        n = Notifiers(demo, store, keyring=keyring, config=config or fast_config(), **kwargs)
        n.prepare()
        made.append(n)
        return n

    yield make
    for n in made:
        n.stop()
    for s in stores:
        s.close()
