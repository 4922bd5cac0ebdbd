"""Turn :class:`Settings` into a running :class:`~tfa_engine.Engine`."""

from __future__ import annotations

import logging
import sqlite3

from tfa_engine import Engine
from tfa_engine.config import ConfigError
from tfa_engine.gateways import ConsoleGateway, Gateway, MediariverGateway, MemoryGateway
from tfa_engine.store import SQLiteStore

from .settings import Settings

log = logging.getLogger("tfa.service")


def make_gateway(settings: Settings) -> Gateway:
    """The SMS gateway named by ``settings.gateway``."""
    if settings.gateway == "memory":
        return MemoryGateway()
    if settings.gateway == "console":
        return ConsoleGateway()
    if settings.gateway == "mediariver":
        assert settings.mediariver_url and settings.mediariver_username  # Settings checked
        return MediariverGateway(
            settings.mediariver_url,
            settings.mediariver_username,
            settings.mediariver_password or "",
            deadline=settings.mediariver_deadline,
            read_timeout=min(5.0, settings.mediariver_deadline),
        )
    raise ConfigError(f"gateway {settings.gateway!r} is not available")  # Settings checked it


def open_store(settings: Settings) -> SQLiteStore:
    """The SQLite store at ``settings.database`` (created and migrated on first use)."""
    try:
        return SQLiteStore(settings.database)
    except (sqlite3.Error, OSError) as exc:
        raise ConfigError(f"database {settings.database!r} cannot be opened: {exc}") from None


def build_engine(settings: Settings, *, declare: bool = True) -> Engine:
    """An engine on the configured store and gateway.

    With ``declare`` (what the server does) the configuration file's tokens are installed
    and earlier declarations no longer in it are revoked.
    """
    store = open_store(settings)
    engine = Engine(store, make_gateway(settings), settings.engine)
    if declare:
        try:
            engine.declare_tokens(settings.tokens)
        except BaseException:
            engine.close()
            raise
    return engine
