"""Turn :class:`Settings` into a running :class:`~tfa_engine.Engine`."""

from __future__ import annotations

import getpass
import logging
import os
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from tfa_engine import Engine
from tfa_engine.config import ConfigError
from tfa_engine.gateways import (
    Bulkhead,
    CircuitBreaker,
    Gateway,
    RoutedGateway,
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


def make_gateway(
    settings: Settings, counted: Callable[[Gateway], Gateway] | None = None
) -> Gateway:
    """The SMS gateways the settings configure, ready to send through.

    Each remote gateway sits behind its own circuit breaker (so that a route skips one
    that keeps failing at once); several go behind a :class:`RoutedGateway` over the
    settings' routes; one bulkhead bounds the sends waiting on any of them. ``counted``
    wraps each gateway inside its breaker (the metrics count every send a gateway really
    got, under its name). Console and memory answer at once: no thread ever waits on them.
    """
    built: dict[str, Gateway] = {}
    for spec in settings.gateways:
        gateway = spec.build()
        if counted is not None:
            gateway = counted(gateway)
        built[spec.name] = _guarded(settings, spec.name, gateway) if spec.remote else gateway
    if len(built) == 1:
        (gateway,) = built.values()
    else:
        gateway = RoutedGateway(built, settings.routes, deadline=settings.route_deadline)
    return _bounded(settings, gateway) if settings.remote_gateways else gateway


def _guarded(settings: Settings, name: str, gateway: Gateway) -> Gateway:
    """``gateway`` behind a circuit breaker, unless ``TFA_GATEWAY_BREAKER=off``."""
    if settings.gateway_breaker == "off":
        return gateway
    failures, seconds = settings.gateway_breaker.split("/")
    return CircuitBreaker(gateway, failures=int(failures), pause=float(seconds), name=name)


def _bounded(settings: Settings, gateway: Gateway) -> Gateway:
    """``gateway`` behind a bulkhead of ``TFA_GATEWAY_SLOTS`` slots.

    Outside the breakers, so that a send refused for want of a slot never counts as a
    gateway failure. One bulkhead for every gateway together: what it protects is the
    server's threads, and a send holds one thread through every gateway of its route;
    while the first hangs, sends are held there before any could reach the next, so slots
    of the next's own would stand idle, and once the first's breaker opens every slot
    serves the next.
    """
    return Bulkhead(gateway, settings.gateway_slots_in_effect, name=gateway.label)


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
    counted: Callable[[Gateway], Gateway] | None = None
    if metrics is not None:
        from ..metrics import CountedGateway

        def counted(gateway: Gateway) -> Gateway:
            return CountedGateway(gateway, metrics)

    gateway = make_gateway(settings, counted)
    engine = Engine(store, gateway, settings.engine,
                    actor=actor if actor is not None else local_actor("server"))
    if declare:
        try:
            engine.declare_tokens(settings.tokens)
        except BaseException:
            engine.close()
            raise
    return engine
