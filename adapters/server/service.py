"""Turn :class:`Settings` into a running :class:`~tfa_engine.Engine`."""

from __future__ import annotations

import getpass
import logging
import os
import socket
from typing import TYPE_CHECKING, Any, Literal

from tfa_engine import Engine
from tfa_engine.config import ConfigError
from tfa_engine.gateways import (
    Bulkhead,
    CircuitBreaker,
    ConsoleGateway,
    Failover,
    Gateway,
    MediariverGateway,
    MemoryGateway,
)
from tfa_engine.store import (
    Store,
    StoreUnavailable,
    open_store,
    settle_pepper,
    verify_pepper,
)

from .settings import Settings

if TYPE_CHECKING:
    from ..metrics import Metrics

__all__ = [
    "PepperCheck", "build_engine", "local_actor", "make_gateway", "open_configured_store",
]

log = logging.getLogger("tfa.service")


def make_gateway(settings: Settings) -> Gateway:
    """The SMS gateway named by ``settings.gateway``; mediariver behind a breaker each
    (primary and fallback) and one bulkhead around them all. Console and memory answer
    at once: no thread ever waits on them."""
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
            gateway = Failover(gateway, fallback)
        return _bounded(settings, gateway)
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


def _bounded(settings: Settings, gateway: Gateway) -> Gateway:
    """``gateway`` behind a bulkhead of ``TFA_GATEWAY_SLOTS`` slots.

    Outside the breakers, so that a send refused for want of a slot never counts as a
    gateway failure. One bulkhead for the primary and its fallback together: what it
    protects is the server's threads, and a send holds one thread through both; while the
    primary hangs, sends are held there before any could reach the fallback, so slots of
    the fallback's own would stand idle, and once the primary's breaker opens every slot
    serves the fallback.
    """
    return Bulkhead(gateway, settings.gateway_slots_in_effect, name="mediariver")


def open_configured_store(settings: Settings) -> Store:
    """The store at ``settings.database`` (:func:`tfa_engine.store.open_store`) with the
    settings' options for its kind: an SQLite file, or a PostgreSQL database for a
    ``postgresql://`` URL (created and migrated on first use). Raises
    :class:`~tfa_engine.store.StoreError` naming the database (its password hidden) and
    the cause when it cannot be opened."""
    if settings.on_postgres:
        options: dict[str, Any] = {"max_size": settings.threads + 8}
    else:
        options = {"synchronous": settings.sqlite_synchronous}
    try:
        return open_store(settings.database, **options)
    except ImportError as exc:
        raise ConfigError(
            f"a PostgreSQL database needs the postgres extra (pip install '.[postgres]'): {exc}"
        ) from None
    except ValueError as exc:  # a location of no supported kind (Settings refuses those)
        raise ConfigError(f"TFA_DATABASE: {exc}") from None
    except OSError as exc:
        raise StoreUnavailable(
            f"cannot open the database {settings.database_location}: {exc}"
        ) from None


PepperCheck = Literal["settle", "verify", "skip"]


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
    pepper: PepperCheck = "settle",
    metrics: Metrics | None = None,
    actor: str | None = None,
) -> Engine:
    """An engine on the configured store and gateway.

    With ``declare`` (what the server does) the configuration file's tokens are installed
    and earlier declarations no longer in it are revoked. ``pepper`` says how the
    configured pepper is held against the one the database records (see
    :func:`~tfa_engine.store.settle_pepper`): ``settle`` (whatever hashes or verifies
    codes: recorded on the first start, compared after), ``verify`` (compared only if
    recorded: commands that hash no code) or ``skip``; a mismatch raises
    :class:`~tfa_engine.store.PepperMismatch`. With ``metrics`` the gateway counts and
    times its sends there (:class:`~tfa_engine.adapters.metrics.CountedGateway`).
    ``actor`` names who makes administrative changes in the audit trail (default
    ``server:<host>:<user>``: a server revokes the tokens its settings file no longer
    declares).
    """
    store = open_configured_store(settings)
    try:
        if pepper == "settle":
            settle_pepper(store, settings.engine.pepper)
        elif pepper == "verify":
            verify_pepper(store, settings.engine.pepper)
    except BaseException:
        store.close()
        raise
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
