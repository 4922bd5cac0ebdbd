"""What an engine offers beside the two API calls, each a step or two on the engine's
parts: delivery reports handed in by the faces, token administration (through
:class:`~tfa_engine._tokens.TokenAdmin`), the fraud guard's holds as an operator sees and
releases them, and the background work and housekeeping of a running service (callback
delivery, purges, readiness, shutdown).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable
from typing import Any

from . import _declared as declared
from . import _deliveries as deliveries
from ._access import IssuedToken, TokenRecord
from ._audit import AdminTrail
from ._background import Periodic
from ._callbacks import CallbackDispatcher
from ._declared import DeclaredToken
from ._deliveries import DeliveryDesk
from ._hashing import CodeHasher
from ._tokens import TokenAdmin
from .config import EngineConfig
from .gateways import DeliveryReport, Gateway
from .store import Store

log = logging.getLogger("tfa.engine")


class Operations:
    """The methods of :class:`~tfa_engine.Engine` beside the two API calls (a mixin, on
    the parts the engine's constructor builds)."""

    store: Store
    gateway: Gateway
    config: EngineConfig
    clock: Callable[[], float]
    hasher: CodeHasher
    admin_trail: AdminTrail
    callbacks: CallbackDispatcher
    deliveries: DeliveryDesk
    _tokens: TokenAdmin
    _purging: Periodic | None
    _reports: Periodic | None

    # -- delivery reports ------------------------------------------------------------------
    def dlr_secret_matches(self, secret: str) -> bool:
        """True when ``secret`` is the configured delivery-report secret (constant time);
        always False when none is configured (the endpoint is then closed)."""
        return deliveries.secret_matches(self.config.dlr_secret, secret)

    def record_delivery_reports(self, reports: Any) -> int:
        """Apply mediariver delivery reports — one object or an array of
        ``{msisdn, delivery_status, delivery_date, uuid}`` — matched by ``uuid`` (our
        message_id). Unknown ids and repeated reports are ignored. Returns how many
        changed a message. Raises ValueError when the payload is not of that shape."""
        return self.deliveries.mediariver_reports(reports)

    def record_gateway_report(self, report: DeliveryReport) -> None:
        """Apply a report of the gateway ``report.gateway`` naming the message by the
        provider's id (a provider's webhook read by an HTTP face): it reaches the code whose
        SMS that gateway took under that id. A report that comes before the code's
        activation is kept a while and tried again; repeats are ignored."""
        self.deliveries.provider_report(report)

    # -- tokens (see TokenAdmin; names or ids both find an active token) -------------------
    def create_token(self, name: str, **options: Any) -> IssuedToken:
        """Issue a new token with ``options`` (allowed_ips, sender_id, code_ttl,
        max_attempts, allowed_destinations, sms_budget); its ``token`` is shown once.
        ConfigError for a bad name or option value or a name in use, TypeError for an
        unknown option."""
        return self._tokens.create(name, **options)

    def find_token(self, name_or_id: str) -> TokenRecord | None:
        """The active token with this id or name, else None."""
        return self._tokens.find(name_or_id)

    def rotate_token(self, name_or_id: str) -> IssuedToken:
        """A new value for a token (same id and settings); the old one dies at once.
        LookupError when no active token has that id or name; ConfigError for a token
        declared in the configuration file."""
        return self._tokens.rotate(name_or_id)

    def update_token(self, name_or_id: str, **changes: Any) -> TokenRecord:
        """Change a token's ``name`` or options; what is not given stays. LookupError when
        no active token has that id or name; ConfigError for a token declared in the
        configuration file, a bad value or a name in use; TypeError for an unknown option."""
        return self._tokens.update(name_or_id, **changes)

    def revoke_token(self, name_or_id: str) -> bool:
        """Revoke at once; False when no such active token exists."""
        return self._tokens.revoke(name_or_id)

    def list_tokens(self) -> list[TokenRecord]:
        """Every token (digests only), oldest first."""
        return self._tokens.list()

    def declare_token(self, name: str, token: str, **options: Any) -> TokenRecord:
        """Install a token from a configuration file (see
        :class:`~tfa_engine.config.DeclaredToken`). ConfigError for a bad declaration;
        :class:`~tfa_engine.store.DuplicateToken` when another token has this value, or an
        API token this name."""
        return declared.declare(self._tokens, DeclaredToken(name, token, **options))

    def declare_tokens(self, tokens: Iterable[DeclaredToken]) -> list[str]:
        """Make the declared tokens those of a file; return the names of the tokens
        revoked because the file no longer holds them. ConfigError naming a declaration
        that cannot be installed."""
        installed, revoked = declared.declare_all(self._tokens, tokens)
        for record in installed:
            log.info("declared token %r (%s)", record.name, record.id)
        for name in revoked:
            log.warning("token %r is no longer declared: revoked", name)
        return revoked

    # -- the fraud guard's holds ---------------------------------------------------------
    def held_ranges(self) -> list[tuple[str, str, float]]:
        """(token id, range, held until) of the ranges the fraud guard holds now."""
        return self.store.held_ranges(self.clock())

    def release_range(self, token_id: str, prefix: str) -> bool:
        """End a hold by hand (an operator vouches for the range); False when it was not
        held. Its earlier traffic no longer counts against it."""
        released = self.store.release_range(token_id, prefix, self.clock())
        if released:
            self.admin_trail.record("fraud.released", token_id=token_id, detail=prefix,
                                    range=prefix, by="operator")
        return released

    # -- background work and housekeeping --------------------------------------------------
    def start(self, *, purge_every: float = 3600.0, first_purge_within: float = 60.0) -> None:
        """Start the background work servers need: delivering callbacks, and purging
        records past retention every ``purge_every`` seconds (so client_refs come free
        without anyone running ``tfa purge``). The first purge comes at a random moment
        within ``first_purge_within`` seconds of the start: a node restarted more often
        than ``purge_every`` still purges, and nodes started together do not purge
        together."""
        self.callbacks.start()
        if self._purging is None:
            first = random.uniform(0, min(first_purge_within, purge_every))  # noqa: S311
            self._purging = Periodic("tfa-purge", self._purge_logged, purge_every, first)
            self._purging.start()
        if self._reports is None:
            self._reports = Periodic("tfa-reports", self.deliveries.retry_parked, 1.0)
            self._reports.start()

    def _purge_logged(self) -> None:
        removed = self.purge()
        if removed:
            log.info("purged %d records past retention", removed)

    def ping(self) -> None:
        """Check that the store would take a request-code now, without writing to it;
        raises :class:`~tfa_engine.store.StoreUnavailable` when it would not. For readiness
        probes, which should ask through a :class:`~tfa_engine.store.ReadinessCache`."""
        self.store.ping(self.clock())

    def purge(self) -> int:
        """Delete codes past retention (their client_refs become free) and administrative
        events past theirs (``admin_audit_retention``); return how many of both went."""
        now = self.clock()
        removed = self.store.purge(now, self.config.retention)
        return removed + self.store.purge_admin_events(now - self.config.admin_audit_retention)

    def close(self) -> None:
        """Stop background work and release the store's and the gateway's connections."""
        for background in (self._purging, self._reports):
            if background is not None:
                background.stop()
        self._purging = self._reports = None
        self.callbacks.stop()
        self.hasher.close()
        self.gateway.close()
        self.store.close()
