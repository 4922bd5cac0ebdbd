"""Turn :class:`~tfa_engine.settings.Settings` into a running :class:`~tfa_engine.Engine`."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable

from .config import ConfigError
from .engine import Engine
from .gateways import ConsoleGateway, Gateway, MediariverGateway, MemoryGateway
from .settings import DeclaredToken, Settings
from .store import DuplicateToken, SQLiteStore, StoreError

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


def declare_tokens(engine: Engine, tokens: Iterable[DeclaredToken]) -> list[str]:
    """Install the declared tokens and revoke earlier declarations no longer in the file.

    The file is the truth for the tokens it declares: removing one from it stops it from
    working. A renamed declaration (same token) is updated in place and keeps its codes.
    Returns the names of the tokens revoked because the file no longer declares them.
    """
    declared = set()
    for token in tokens:
        try:
            record = engine.declare_token(
                token.name,
                token.token,
                allowed_ips=token.allowed_ips,
                sender_id=token.sender_id,
                code_ttl=token.code_ttl,
                max_attempts=token.max_attempts,
            )
        except DuplicateToken:
            raise ConfigError(
                f"declared token {token.name!r} cannot be installed: its token is already "
                "in use by another token"
            ) from None
        except (ValueError, StoreError) as exc:
            raise ConfigError(f"declared token {token.name!r} cannot be installed: {exc}") from None
        declared.add(record.id)
        log.info("declared token %r (%s)", record.name, record.id)
    revoked = []
    for record in engine.list_tokens():
        if record.source == "config" and record.id not in declared and not record.revoked:
            engine.revoke_token(record.id)
            log.warning("token %r is no longer declared: revoked", record.name)
            revoked.append(record.name)
    return revoked


def build_engine(settings: Settings, *, declare: bool = True) -> Engine:
    """An engine on the configured store and gateway.

    With ``declare`` (what the server does) the configuration file's tokens are installed
    and earlier declarations no longer in it are revoked.
    """
    store = open_store(settings)
    engine = Engine(store, make_gateway(settings), settings.engine)
    if declare:
        try:
            declare_tokens(engine, settings.tokens)
        except BaseException:
            engine.close()
            raise
    return engine
