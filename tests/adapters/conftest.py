"""Fixtures every adapter test shares: a fake clock, a memory gateway, an engine, a token.

    clock     a settable :class:`FakeClock` (call it for the time; ``.advance(s)``).
    gateway   a ``MemoryGateway`` that keeps every message.
    engine    an ``Engine`` on a ``MemoryStore`` with cheap hashing and no DNS lookups.
    token     a token issued on ``engine``.
"""

from __future__ import annotations

import pytest

from engine import Engine, EngineConfig, MemoryGateway, MemoryStore

START = 1_700_000_000.0


class FakeClock:
    """A clock that moves only when told to; call it to read the time."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move forward by ``seconds``."""
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock starting at a fixed instant."""
    return FakeClock()


@pytest.fixture
def gateway() -> MemoryGateway:
    """A gateway that keeps every message it accepts."""
    return MemoryGateway()


@pytest.fixture
def engine(gateway: MemoryGateway, clock: FakeClock) -> Engine:
    """An engine on memory with cheap hashing and no DNS lookups."""
    return Engine(
        MemoryStore(), gateway, EngineConfig(argon2_profile="test"), clock=clock, resolver=None
    )


@pytest.fixture
def token(engine: Engine) -> str:
    """A token issued on ``engine``."""
    return engine.create_token("shop").token
