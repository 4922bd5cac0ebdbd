"""Fixtures every adapter test shares (``clock`` comes from tests/conftest.py).

    gateway   a ``MemoryGateway`` that keeps every message.
    store     an ``OutageStore`` (tests/support/outage.py): a ``MemoryStore`` that raises
              ``StoreUnavailable`` while ``store.down`` is set.
    engine    an ``Engine`` on ``store`` with cheap hashing and no DNS lookups.
    token     a token issued on ``engine``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from outage import OutageStore

from tfa_engine import Engine, EngineConfig, MemoryGateway


@pytest.fixture
def gateway() -> MemoryGateway:
    """A gateway that keeps every message it accepts."""
    return MemoryGateway()


@pytest.fixture
def store() -> OutageStore:
    """A memory store that can be taken down (``store.down = True``)."""
    return OutageStore()


@pytest.fixture
def engine(store: OutageStore, gateway: MemoryGateway, clock: Callable[[], float]) -> Engine:
    """An engine on memory with cheap hashing and no DNS lookups."""
    return Engine(
        store, gateway, EngineConfig(argon2_profile="test"), clock=clock, resolver=None
    )


@pytest.fixture
def token(engine: Engine) -> str:
    """A token issued on ``engine``."""
    return engine.create_token("shop").token
