"""The engine: request a code, validate a code. Orchestration only; every rule lives in
its own module, every atomic step in the store, token administration in
:mod:`~tfa_engine._tokens`, delivery reports in :mod:`~tfa_engine._deliveries`, the send
that ends a request-code in :mod:`~tfa_engine._sending`, and the methods beside the two
API calls in :mod:`~tfa_engine._operations`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from . import _audit as audit
from . import _callbacks as callbacks
from . import _deliveries as deliveries
from . import _netguard as netguard
from . import catalogue
from ._abuse import SendGate
from ._access import TokenRecord, check_ip, digests_equal, token_digest
from ._background import Periodic
from ._codes import canonical_code
from ._hashing import CodeHasher
from ._operations import Operations
from ._outcome import Outcome
from ._requests import decode_json, is_json_media_type, is_text, parse_code_request
from ._sending import PENDING_MARGIN as PENDING_MARGIN
from ._sending import SendPath
from ._sending import new_message_id as new_message_id
from ._tokens import TokenAdmin
from .catalogue import Status
from .config import EngineConfig
from .gateways import Gateway
from .store import CodeRecord, RequestLimited, Store, failures_key, requests_key

log = logging.getLogger("tfa.engine")

Clock = Callable[[], float]


def _dead_state(record: CodeRecord, now: float) -> str:
    """Why a code can no longer be validated, for the audit trail."""
    if record.state in ("live", "pending"):
        return "expired" if now >= record.expires_at else record.state
    return record.state


class Engine(SendPath, Operations):
    """Sends and checks one-time codes. Thread-safe; share one per process.

    What the methods give back, and what they raise:

    * :meth:`request_code` and :meth:`validate_code` answer every request, well-formed or
      not, with an :class:`Outcome` whose :class:`Status` is the Fortytwo answer. They
      raise only when the machine fails (the store is down, a gateway breaks its
      contract), never because of what the caller sent.
    * The token methods return records and raise when asked for something impossible:
      :meth:`create_token` raises :class:`ConfigError` (a ValueError naming the option in
      its ``key``) for a bad name or option value or a name another active token has, and
      TypeError for an option that does not exist; :meth:`rotate_token` and
      :meth:`update_token` raise LookupError when no active token has that id or name,
      ConfigError for a token declared in the configuration file and, for an update, as
      :meth:`create_token` does; :meth:`declare_token` raises ConfigError for a bad
      declaration and :class:`~tfa_engine.store.DuplicateToken` (a :class:`StoreError`)
      when another token has its value or an API token its name; :meth:`declare_tokens`
      raises ConfigError naming the declaration it cannot install. :meth:`find_token`
      answers None and :meth:`revoke_token` False when there is no such token.
    * :meth:`record_delivery_reports` returns how many reports changed a message, and
      raises ValueError for a payload of another shape; :meth:`record_gateway_report`
      returns nothing.
    * :meth:`ping` raises :class:`StoreUnavailable` when the store would not take a code.
    * :meth:`with_config` raises ConfigError for a bad setting (TypeError for an unknown
      one), as :class:`EngineConfig` does; the constructor raises ValueError for a blank
      ``actor``.

    Every method that reads or writes the store raises :class:`StoreError`
    (:class:`StoreUnavailable` when the database is down or stays busy) if it fails.
    """

    def __init__(
        self,
        store: Store,
        gateway: Gateway,
        config: EngineConfig | None = None,
        *,
        clock: Clock = time.time,
        hasher: CodeHasher | None = None,
        resolver: netguard.Resolver | None = netguard.system_resolver,
        actor: str = "api",
    ) -> None:
        """An engine on ``store`` sending through ``gateway``.

        ``actor`` names who makes the administrative changes through this engine (token
        creation, rotation, update, revocation, a range released) in the audit trail the
        database keeps (``tfa audit``): ``api`` unless the embedding app names itself, as
        in ``Engine(store, gateway, actor="admin-ui:alice")``; the ``tfa`` command is
        ``cli:<host>:<user>``.
        """
        self.store = store
        self.gateway = gateway
        self.config = config or EngineConfig()
        self.clock = clock
        self.hasher = hasher or CodeHasher(self.config.argon2_profile, self.config.pepper)
        self._resolver = resolver
        self.admin_trail = audit.AdminTrail(store, clock, actor)
        self._tokens = TokenAdmin(store, clock, self.admin_trail)
        self.gate = SendGate(store, self.config)
        key, self._stable_signing_key = callbacks.signing_key(
            self.config.callback_key, self.config.pepper
        )
        self.callbacks = callbacks.CallbackDispatcher(
            store,
            callbacks.CallbackSigner(key),
            allow_private=self.config.callback_allow_private,
            resolver=resolver or netguard.system_resolver,
            clock=clock,
            lease=self.config.callback_lease,
        )
        # Reports the gateways receive themselves (SMPP receipts) come in here.
        self.deliveries = deliveries.DeliveryDesk(store, clock, self.callbacks.wake)
        gateway.attach(self.deliveries.provider_report)
        self._purging: Periodic | None = None
        self._reports: Periodic | None = None

    # -- the two API calls ---------------------------------------------------------------
    def request_code(
        self,
        token: str | None,
        client_ip: str | None,
        body: Any,
        *,
        content_type: str | None = None,
    ) -> Outcome:
        """Send a new code (``POST /1/2fa``).

        ``body`` is the decoded JSON object, or the raw bytes/text of an HTTP body.
        ``content_type`` is the HTTP header (``""`` when absent); leave it None for
        in-process calls, which have no media type to check.
        """
        principal = self._authorize(token, client_ip)
        if isinstance(principal, Status):
            return Outcome(principal)
        # Every authenticated request counts. One that may store a code is counted in the
        # transaction storing it (admit_code), after a look that writes nothing (so that
        # a refused request costs no hash); one that goes no further is counted on its own
        # before its answer, and one naming a callback before its host is looked up.
        if content_type is not None and not is_json_media_type(content_type):
            return self._counted(principal, client_ip, catalogue.UNSUPPORTED_MEDIA)
        if isinstance(body, (bytes, bytearray, str)):
            try:
                body = decode_json(body)
            except ValueError:
                return self._counted(principal, client_ip, catalogue.MALFORMED)
        counted = False
        if isinstance(body, dict) and body.get("callback_url") is not None:
            refused = self._count_request(principal, client_ip)
            if refused is not None:
                return refused
            counted = True
        request = parse_code_request(body, self.config, self._resolver)
        if isinstance(request, Status):
            refused = None if counted else self._count_request(principal, client_ip)
            if refused is not None:
                return refused
            if request == catalogue.CALLBACK_INVALID:
                audit.event("callback.refused", token_id=principal.id, client_ip=client_ip,
                            stage="request")
            return Outcome(request)
        now = self.clock()
        where = {"token_id": principal.id, "client_ip": client_ip, "phone": request.phone}
        policy = self.gate.policy(principal, request.phone, request.number_range,
                                  count_request=not counted)
        # A look that writes nothing, so that a request bound to be refused costs no hash;
        # the transaction storing the code judges again, and alone decides.
        preview = self.store.preview_send(principal.id, request.client_ref, policy, now,
                                          self._stale_before(now))
        destination_refused = self.gate.destination_refused(principal, request.phone,
                                                            request.region)
        if preview.client_ref_taken or destination_refused or preview.refusal is not None:
            refused = None if counted else self._count_request(principal, client_ip)
            if refused is not None:
                return refused
            if preview.client_ref_taken:
                return Outcome(catalogue.CLIENT_REF_EXISTS)
            if destination_refused:
                audit.event("destination.refused", **where)
                return Outcome(catalogue.DESTINATION_REFUSED)
            own, policy = policy.requests, replace(policy, requests=None)  # counted now
            if preview.refusal is not None and (own is None or preview.refusal.by != own.key):
                return self.gate.refused(preview.refusal, where)
        return self._send(principal, request, policy, where, now)

    def validate_code(
        self, token: str | None, client_ip: str | None, client_ref: str, code: str | None
    ) -> Outcome:
        """Check a code (``POST /1/2fa/{client_ref}/{code}``)."""
        if token is None:
            return Outcome(catalogue.TOKEN_MISSING)
        now = self.clock()
        digest = token_digest(token)
        # One read for the token, its code and both limits; the request is counted with
        # what the validation writes (or on its own, for an answer that writes nothing).
        look = self.store.look_up_validation(
            digest, client_ref if code and is_text(client_ref) else None, now,
            self.gate.window(self.config.limit_token_requests),
            self.gate.window(self.config.limit_phone_failures))
        principal = self._admit(look.token, digest, client_ip)
        if isinstance(principal, Status):
            return Outcome(principal)
        if look.requests_wait is not None:  # used up: refused before it counts anything
            return self._request_refused(principal.id, client_ip, look.requests_wait)
        if not code:
            return self._counted(principal, client_ip, catalogue.NO_CODE)
        record = look.code
        if record is None:
            return self._counted(principal, client_ip, catalogue.CODE_NOT_FOUND, "ref.unknown",
                                 {"token_id": principal.id, "client_ip": client_ip})
        where = {"token_id": principal.id, "client_ip": client_ip, "phone": record.phone,
                 "message_id": record.message_id}
        if look.failures_wait is not None:
            refused = self._count_request(principal, client_ip)
            if refused is not None:
                return refused
            audit.event("rate.limited", limit="phone-failures", **where)
            return Outcome(catalogue.RATE_LIMITED, retry_after=look.failures_wait)
        # A dead code answers the same whatever was submitted, and costs no hashing.
        if not record.is_live(now):
            return self._counted(
                principal, client_ip, catalogue.INVALID,
                "code.replayed" if record.state == "used" else "code.dead",
                {"state": _dead_state(record, now), **where})
        max_attempts = principal.max_attempts or self.config.max_attempts
        canonical = canonical_code(code, record.case_sensitive)
        matched = (
            canonical is not None
            and len(canonical) == record.code_length
            and self.hasher.verify(record.code_hash, canonical)
        )
        now = self.clock()  # hashing takes time; judge expiry as of its end
        request = self.gate.allowance(self.config.limit_token_requests,
                                      requests_key(principal.id))
        try:
            if matched:
                if self.store.consume_code(record.id, now, max_attempts, request):
                    audit.event("code.valid", **where)
                    return Outcome(catalogue.VALID)
                audit.event("code.replayed", state="used", **where)
                return Outcome(catalogue.INVALID)
            # Counted against the phone's failures in the same step as on the code: new
            # codes for the phone never reset that count (it is the phone's, not the code's).
            attempts = self.store.count_failure(
                record.id, now, max_attempts, self.gate.allowance(
                    self.config.limit_phone_failures, failures_key(principal.id, record.phone)),
                request)
        except RequestLimited as limited:  # used up while the code was hashed
            return self._request_refused(principal.id, client_ip, limited.retry_after)
        if attempts is None:
            audit.event("code.dead", state="closed", **where)
            return Outcome(catalogue.INVALID)
        audit.event("code.locked" if attempts >= max_attempts else "code.declined",
                    attempts=attempts, **where)
        return Outcome(catalogue.DECLINED)

    # -- steps -----------------------------------------------------------------------------
    def _count_request(self, principal: TokenRecord, client_ip: str | None) -> Outcome | None:
        """Count a request of the token on its own; the refusal when its limit is used up."""
        refused = self.gate.limit_requests(principal, self.clock())
        if refused is not None:
            audit.event("rate.limited", token_id=principal.id, client_ip=client_ip,
                        limit="token")
        return refused

    @staticmethod
    def _request_refused(token_id: str, client_ip: str | None, wait: int) -> Outcome:
        """The answer to a request over its token's request limit (counted nothing)."""
        audit.event("rate.limited", token_id=token_id, client_ip=client_ip, limit="token")
        return Outcome(catalogue.RATE_LIMITED, retry_after=wait)

    def _counted(self, principal: TokenRecord, client_ip: str | None, status: Status,
                 event: str | None = None, fields: dict[str, Any] | None = None) -> Outcome:
        """``status`` for a request that goes no further, once counted (or its refusal);
        ``event`` is audited with ``fields`` when it was counted."""
        refused = self._count_request(principal, client_ip)
        if refused is not None:
            return refused
        if event is not None:
            audit.event(event, **(fields or {}))
        return Outcome(status)

    def _authorize(self, token: str | None, client_ip: str | None) -> TokenRecord | Status:
        if token is None:
            return catalogue.TOKEN_MISSING
        digest = token_digest(token)
        return self._admit(self.store.token_by_digest(digest), digest, client_ip)

    def _admit(
        self, record: TokenRecord | None, digest: str, client_ip: str | None
    ) -> TokenRecord | Status:
        """The token found for ``digest``, if it may be used from ``client_ip`` now."""
        if record is None or record.revoked or not digests_equal(record.token_hash, digest):
            audit.event("token.invalid", client_ip=client_ip,
                        token_id=record.id if record is not None else None)
            return catalogue.TOKEN_INVALID
        refused = check_ip(record, client_ip)
        if refused is not None:
            audit.event("ip.refused", token_id=record.id, client_ip=client_ip,
                        reason=refused.name.lower())
            return refused
        self._tokens.note_use(record, self.clock())
        return record

    # -- callback signatures and settings --------------------------------------------------
    def callback_secret(self, token_id: str) -> str | None:
        """The secret a token's client verifies ``X-TFA-Signature`` with; None while no
        callback key (or pepper) is configured, since the key then changes at each start."""
        return self.callbacks.signer.secret_for(token_id) if self._stable_signing_key else None

    def with_config(self, **changes: Any) -> Engine:
        """A new engine on the same store and gateway with some settings changed;
        ConfigError for a bad value, TypeError for an unknown setting."""
        return Engine(
            self.store,
            self.gateway,
            self.config.with_changes(**changes),
            clock=self.clock,
            resolver=self._resolver,
            actor=self.admin_trail.actor,
        )
