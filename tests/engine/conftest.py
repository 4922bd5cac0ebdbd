"""Shared fixtures for the engine tests: a fake clock, both stores, engines and codes.

Fixtures:
    clock         (tests/conftest.py) a settable fake clock.
    store         every backend in turn: ``MemoryStore``, ``SQLiteStore`` on a real file and
                  ``PostgresStore`` on a fresh schema of ``TFA_TEST_DATABASE_URL``.
    sqlite_path   the path of a fresh SQLite file in ``tmp_path``.
    sqlite_store  a ``SQLiteStore`` on ``sqlite_path``.
    gateway       a ``MemoryGateway`` that keeps every message.
    make_engine   ``make_engine(store=None, **config_changes) -> Engine`` with the cheap
                  argon2 profile, no DNS resolver, ``clock`` and ``gateway``; ``store=None``
                  means ``sqlite_store``.
    engine        ``make_engine()``: an engine on a real SQLite file.
    issued        an ``IssuedToken`` created on ``engine``; ``token`` is its token string.
    send_code     ``send_code(engine, token, client_ref, phone=..., **fields)`` requests a
                  code and returns ``(message_id, code)`` read back from the gateway.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest
from postgres_db import postgres_store

from tfa_engine import (
    Engine,
    EngineConfig,
    IssuedToken,
    MemoryGateway,
    MemoryStore,
    SQLiteStore,
    catalogue,
)
from tfa_engine.config import PLACEHOLDER
from tfa_engine.store import Store

UK_MOBILE = "+447911123456"


class MakeEngine(Protocol):
    """The signature of the ``make_engine`` fixture."""

    def __call__(self, store: Store | None = None, **config_changes: Any) -> Engine: ...


SendCode = Callable[..., tuple[str, str]]


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    """Where a fresh SQLite store file goes."""
    return tmp_path / "tfa.db"


@pytest.fixture
def sqlite_store(sqlite_path: Path) -> Iterator[SQLiteStore]:
    """A SQLite store on a real file, closed afterwards."""
    store = SQLiteStore(sqlite_path)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Each storage backend in turn: SQLite on a real file, PostgreSQL on a schema of the
    test database (see tests/support/postgres_db.py)."""
    if request.param == "postgres":
        with postgres_store() as backend:
            yield backend
        return
    backend: Store = (
        MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "store.db")
    )
    try:
        yield backend
    finally:
        backend.close()


@pytest.fixture
def gateway() -> MemoryGateway:
    """A gateway that keeps every message it accepts."""
    return MemoryGateway()


@pytest.fixture
def make_engine(
    sqlite_store: SQLiteStore, clock: Callable[[], float], gateway: MemoryGateway
) -> MakeEngine:
    """Build engines on ``store`` (default: ``sqlite_store``) with config changes."""

    def build(store: Store | None = None, **config_changes: Any) -> Engine:
        settings: dict[str, Any] = {"argon2_profile": "test", **config_changes}
        return Engine(
            sqlite_store if store is None else store,
            gateway,
            EngineConfig(**settings),
            clock=clock,
            resolver=None,
        )

    return build


@pytest.fixture
def engine(make_engine: MakeEngine) -> Engine:
    """An engine on a real SQLite file with the default settings (cheap hashing)."""
    return make_engine()


@pytest.fixture
def issued(engine: Engine) -> IssuedToken:
    """A token issued on ``engine``."""
    return engine.create_token("test")


@pytest.fixture
def token(issued: IssuedToken) -> str:
    """The clear token string of ``issued``."""
    return issued.token


@pytest.fixture
def send_code(gateway: MemoryGateway) -> SendCode:
    """Request a code and read it back from the gateway: ``(message_id, code)``."""

    def send(
        engine: Engine, token: str, client_ref: str, phone: str = UK_MOBILE, **fields: Any
    ) -> tuple[str, str]:
        body = {"client_ref": client_ref, "phone_number": phone, **fields}
        outcome = engine.request_code(token, "127.0.0.1", body)
        assert outcome.status == catalogue.SUCCESS, outcome.status
        message_id = str(outcome.result["message_id"])
        message = next(m for m in gateway.messages if m.message_id == message_id)
        template = fields.get("message_template") or engine.config.default_template
        length = fields.get("code_length") or engine.config.default_code_length
        start = len(template.split(PLACEHOLDER, 1)[0])
        return message_id, message.text[start : start + length]

    return send
