"""Turn :class:`Settings` into a running :class:`~tfa_engine.Engine`."""

from __future__ import annotations

import getpass
import logging
import os
import socket
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from tfa_engine import Engine
from tfa_engine.config import ConfigError
from tfa_engine.gateways import ConsoleGateway, Gateway, MediariverGateway, MemoryGateway
from tfa_engine.gateways.resilience import CircuitBreaker, Failover
from tfa_engine.store import Store, StoreError, is_postgres
from tfa_engine.store import open_store as store_at

from .settings import Settings

if TYPE_CHECKING:
    from ..metrics import Metrics

log = logging.getLogger("tfa.service")


def make_gateway(settings: Settings) -> Gateway:
    """The SMS gateway named by ``settings.gateway``."""
    if settings.gateway == "memory":
        return MemoryGateway()
    if settings.gateway == "console":
        return ConsoleGateway()
    if settings.gateway == "mediariver":
        assert settings.mediariver_url and settings.mediariver_username  # Settings checked
        gateway = _guarded(settings, "mediariver", _mediariver(
            settings, settings.mediariver_url, settings.mediariver_username,
            settings.mediariver_password,
        ))
        if settings.mediariver_fallback_url and settings.mediariver_fallback_username:
            fallback = _guarded(settings, "mediariver fallback", _mediariver(
                settings, settings.mediariver_fallback_url,
                settings.mediariver_fallback_username, settings.mediariver_fallback_password,
            ))
            return Failover(gateway, fallback)
        return gateway
    raise ConfigError(f"gateway {settings.gateway!r} is not available")  # Settings checked it


def _mediariver(settings: Settings, url: str, username: str, password: str | None) -> Gateway:
    return MediariverGateway(
        url, username, password or "",
        deadline=settings.mediariver_deadline,
        read_timeout=min(5.0, settings.mediariver_deadline),
    )


def _guarded(settings: Settings, name: str, gateway: Gateway) -> Gateway:
    """``gateway`` behind a circuit breaker, unless ``TFA_GATEWAY_BREAKER=off``."""
    if settings.gateway_breaker == "off":
        return gateway
    failures, seconds = settings.gateway_breaker.split("/")
    return CircuitBreaker(gateway, failures=int(failures), pause=float(seconds), name=name)


def open_store(settings: Settings) -> Store:
    """The store at ``settings.database``: an SQLite file, or a PostgreSQL database for a
    ``postgresql://`` URL (created and migrated on first use)."""
    if is_postgres(settings.database):
        options: dict[str, Any] = {"max_size": settings.threads + 8}
        shown = redact_url(settings.database)
    else:
        options = {"synchronous": settings.sqlite_synchronous}
        shown = repr(settings.database)
    try:
        return store_at(settings.database, **options)
    except ImportError as exc:
        raise ConfigError(
            f"a PostgreSQL database needs the postgres extra (pip install '.[postgres]'): {exc}"
        ) from None
    except (StoreError, OSError) as exc:
        raise ConfigError(f"database {shown} cannot be opened: {exc}") from None


def redact_url(url: str) -> str:
    """A database URL fit for logs: any password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def local_actor(role: str) -> str:
    """Who makes administrative changes from this process, for the audit trail:
    ``<role>:<host>:<user>``, the user being the one the process runs as (not what
    ``$USER`` says)."""
    try:
        import pwd

        user = pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):  # no pwd module (Windows), or no passwd entry
        try:
            user = getpass.getuser()
        except (ImportError, KeyError, OSError):  # nothing names the user at all
            user = "unknown"
    return f"{role}:{socket.gethostname()}:{user}"


def build_engine(
    settings: Settings,
    *,
    declare: bool = True,
    metrics: Metrics | None = None,
    actor: str | None = None,
) -> Engine:
    """An engine on the configured store and gateway.

    With ``declare`` (what the server does) the configuration file's tokens are installed
    and earlier declarations no longer in it are revoked. With ``metrics`` the gateway
    counts and times its sends there (:class:`~tfa_engine.adapters.metrics.CountedGateway`).
    ``actor`` names who makes administrative changes in the audit trail (default
    ``server:<host>:<user>``: a server revokes the tokens its settings file no longer
    declares).
    """
    store = open_store(settings)
    gateway = make_gateway(settings)
    if metrics is not None:
        from ..metrics import CountedGateway

        gateway = CountedGateway(gateway, metrics)
    engine = Engine(store, gateway, settings.engine,
                    actor=actor if actor is not None else local_actor("server"))
    if declare:
        try:
            engine.declare_tokens(settings.tokens)
        except BaseException:
            engine.close()
            raise
    return engine
