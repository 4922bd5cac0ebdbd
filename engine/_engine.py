"""The engine: request a code, validate a code. Orchestration only; every rule lives in
its own module, every atomic step in the store, token administration in
:mod:`~tfa_engine._tokens`, delivery reports in :mod:`~tfa_engine._deliveries`."""

from __future__ import annotations

import logging
import random
import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from . import _audit as audit
from . import _callbacks as callbacks
from . import _declared as declared
from . import _deliveries as deliveries
from . import _netguard as netguard
from . import catalogue
from ._abuse import SendGate
from ._access import IssuedToken, TokenRecord, check_ip, digests_equal, token_digest
from ._background import Periodic
from ._codes import canonical_code, generate_code
from ._declared import DeclaredToken
from ._hashing import CodeHasher
from ._outcome import Outcome
from ._phones import mask
from ._requests import (
    CodeRequest,
    decode_json,
    is_json_media_type,
    is_text,
    parse_code_request,
    render,
)
from ._tokens import TokenAdmin
from .catalogue import Status
from .config import MAX_CODE_TTL, EngineConfig
from .gateways import Accepted, DeliveryReport, Gateway, GatewayError, SmsMessage
from .store import (
    CodeRecord,
    DuplicateClientRef,
    DuplicateMessageId,
    NewCode,
    RequestLimited,
    SendPolicy,
    Store,
    failures_key,
    requests_key,
)

log = logging.getLogger("tfa.engine")

Clock = Callable[[], float]
# Seconds beyond the gateway's deadline after which a code still pending is taken for the
# leftover of a process that died while sending it (its client_ref may then be reused).
PENDING_MARGIN = 5.0


def _dead_state(record: CodeRecord, now: float) -> str:
    """Why a code can no longer be validated, for the audit trail."""
    if record.state in ("live", "pending"):
        return "expired" if now >= record.expires_at else record.state
    return record.state


def new_message_id() -> str:
    """A 20-digit decimal message id, like Fortytwo's."""
    return str(10**19 + secrets.randbelow(9 * 10**19))


class Engine:
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

    def _stale_before(self, now: float) -> float:
        """Codes still pending from before this were being sent by a process that died:
        every live sender has had the gateway's deadline (and a margin) to finish."""
        return now - self.gateway.deadline - PENDING_MARGIN

    def _send(
        self, principal: TokenRecord, request: CodeRequest, policy: SendPolicy,
        where: dict[str, str | None], now: float,
    ) -> Outcome:
        code = generate_code(request.code_length, request.code_type, request.case_sensitive)
        code_hash = self.hasher.hash(code)  # outside any transaction: ~30 ms
        ttl = min(principal.code_ttl or self.config.code_ttl, MAX_CODE_TTL)
        sender = request.sender_id or principal.sender_id or self.config.default_sender_id
        api_job_id = str(uuid.uuid4())
        for _ in range(3):
            new = NewCode(
                message_id=new_message_id(),
                token_id=principal.id,
                client_ref=request.client_ref,
                phone=request.phone,
                code_hash=code_hash,
                code_length=request.code_length,
                case_sensitive=request.case_sensitive,
                sender=sender,
                callback_url=request.callback_url,
                created_at=now,
                expires_at=now + ttl,
                api_job_id=api_job_id,
            )
            try:
                admitted = self.store.admit_code(new, policy, self._stale_before(now))
                break
            except DuplicateClientRef:
                return Outcome(catalogue.CLIENT_REF_EXISTS)
            except DuplicateMessageId:
                continue
        else:  # three random 20-digit collisions in a row: the randomness is broken
            raise RuntimeError("could not draw a free message_id")
        rule = policy.fraud
        if admitted.fraud_released and rule is not None:
            audit.event("fraud.released", token_id=principal.id, range=rule.prefix,
                        by="expiry")
        if admitted.fraud_held is not None and rule is not None:
            sent, validated = admitted.fraud_held
            audit.event("fraud.held", range=rule.prefix, sent=sent, validated=validated,
                        **where)
        if admitted.code_id is None:
            assert admitted.refusal is not None
            return self.gate.refused(admitted.refusal, where)
        code_id = admitted.code_id
        message = SmsMessage(new.message_id, request.phone, sender,
                             render(request.template, code), avoid=admitted.avoid)
        try:
            accepted = self.gateway.send(message) or Accepted(self.gateway.label)
        except GatewayError as exc:
            self.store.discard_code(code_id)
            log.warning(
                "gateway refused message_id=%s to=%s: %s",
                new.message_id, mask(request.phone), exc.reason,
            )
            return Outcome(catalogue.SYSTEM_ERROR)
        except BaseException:
            self.store.discard_code(code_id)
            raise
        # Queues the INTERNAL callback (and an SMS one, if a report overtook the answer).
        activation = self.store.activate_code(code_id, self.clock(), accepted.gateway,
                                              accepted.provider_id)
        if activation.reported is not None:  # a report overtook the gateway's answer
            self.deliveries.told(accepted.gateway, activation.reported)
        if request.callback_url:
            self.callbacks.wake()
        audit.event("code.sent", message_id=new.message_id, gateway=accepted.gateway, **where)
        return Outcome(catalogue.SUCCESS, {"message_id": new.message_id}, api_job_id=api_job_id)

    def callback_secret(self, token_id: str) -> str | None:
        """The secret a token's client verifies ``X-TFA-Signature`` with; None while no
        callback key (or pepper) is configured, since the key then changes at each start."""
        return self.callbacks.signer.secret_for(token_id) if self._stable_signing_key else None

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
