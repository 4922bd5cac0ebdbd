"""Fixtures every adapter test shares (``clock`` comes from tests/conftest.py).

    gateway   a ``MemoryGateway`` that keeps every message.
    engine    an ``Engine`` on a ``MemoryStore`` with cheap hashing and no DNS lookups.
    token     a token issued on ``engine``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tfa_engine import Engine, EngineConfig, MemoryGateway, MemoryStore


@pytest.fixture
def gateway() -> MemoryGateway:
    """A gateway that keeps every message it accepts."""
    return MemoryGateway()


@pytest.fixture
def engine(gateway: MemoryGateway, clock: Callable[[], float]) -> Engine:
    """An engine on memory with cheap hashing and no DNS lookups."""
    return Engine(
        MemoryStore(), gateway, EngineConfig(argon2_profile="test"), clock=clock, resolver=None
    )


@pytest.fixture
def token(engine: Engine) -> str:
    """A token issued on ``engine``."""
    return engine.create_token("shop").token
