"""The engine: request a code, validate a code. Orchestration only; every rule lives in
its own module, every atomic step in the store, token administration in
:mod:`tfa_engine.tokens`, delivery reports in :mod:`tfa_engine.deliveries`."""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from . import audit, callbacks, catalogue, declared, deliveries, netguard
from .abuse import SendGate
from .access import IssuedToken, TokenRecord, check_ip, digests_equal, token_digest
from .background import Periodic
from .catalogue import Status
from .codes import canonical_code, generate_code
from .config import MAX_CODE_TTL, EngineConfig
from .declared import DeclaredToken
from .gateways import Gateway, GatewayError, SmsMessage
from .hashing import CodeHasher
from .outcome import Outcome
from .phones import mask
from .requests import (
    CodeRequest,
    decode_json,
    is_json_media_type,
    is_text,
    parse_code_request,
    render,
)
from .store import DuplicateClientRef, DuplicateMessageId, NewCode, Store
from .tokens import TokenAdmin

log = logging.getLogger("tfa.engine")

Clock = Callable[[], float]
# Seconds beyond the gateway's deadline after which a code still pending is taken for the
# leftover of a process that died while sending it (its client_ref may then be reused).
PENDING_MARGIN = 5.0


def new_message_id() -> str:
    """A 20-digit decimal message id, like Fortytwo's."""
    return str(10**19 + secrets.randbelow(9 * 10**19))


class Engine:
    """Sends and checks one-time codes. Thread-safe; share one per process.

    Every method answers with an :class:`Outcome`; exceptions mean the machine failed
    (the store is down), never that the caller did something wrong.
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
    ) -> None:
        self.store = store
        self.gateway = gateway
        self.config = config or EngineConfig()
        self.clock = clock
        self.hasher = hasher or CodeHasher(self.config.argon2_profile, self.config.pepper)
        self._resolver = resolver
        self.tokens = TokenAdmin(store, clock)
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
        self._purging: Periodic | None = None

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
        if content_type is not None and not is_json_media_type(content_type):
            return Outcome(catalogue.UNSUPPORTED_MEDIA)
        if isinstance(body, (bytes, bytearray, str)):
            try:
                body = decode_json(body)
            except ValueError:
                return Outcome(catalogue.MALFORMED)
        request = parse_code_request(body, self.config, self._resolver)
        if isinstance(request, Status):
            if request == catalogue.CALLBACK_INVALID:
                audit.event("callback.refused", token_id=principal.id, client_ip=client_ip,
                            stage="request")
            return Outcome(request)
        now = self.clock()
        if self.store.client_ref_taken(principal.id, request.client_ref, self._stale_before(now)):
            return Outcome(catalogue.CLIENT_REF_EXISTS)
        refused = self.gate.limit_requests(principal, now)
        if refused is not None:
            audit.event("rate.limited", token_id=principal.id, client_ip=client_ip,
                        phone=request.phone, limit="token")
            return refused
        refused = self.gate.admit(principal, request.phone, client_ip, now)
        if refused is not None:
            return refused
        return self._send(principal, request, client_ip, now)

    def validate_code(
        self, token: str | None, client_ip: str | None, client_ref: str, code: str | None
    ) -> Outcome:
        """Check a code (``POST /1/2fa/{client_ref}/{code}``)."""
        principal = self._authorize(token, client_ip)
        if isinstance(principal, Status):
            return Outcome(principal)
        if not code:
            return Outcome(catalogue.NO_CODE)
        now = self.clock()
        refused = self.gate.limit_requests(principal, now)
        if refused is not None:
            audit.event("rate.limited", token_id=principal.id, client_ip=client_ip,
                        limit="token")
            return refused
        record = self.store.find_code(principal.id, client_ref) if is_text(client_ref) else None
        if record is None:
            return Outcome(catalogue.CODE_NOT_FOUND)
        where = {"token_id": principal.id, "client_ip": client_ip, "phone": record.phone,
                 "message_id": record.message_id}
        failures_key = f"phone-failures:{record.phone}"
        refused = self.gate.peek(self.config.limit_phone_failures, failures_key, now)
        if refused is not None:
            audit.event("rate.limited", limit="phone-failures", **where)
            return refused
        # A dead code answers the same whatever was submitted, and costs no hashing.
        if not record.is_live(now):
            return Outcome(catalogue.INVALID)
        max_attempts = principal.max_attempts or self.config.max_attempts
        canonical = canonical_code(code, record.case_sensitive)
        matched = (
            canonical is not None
            and len(canonical) == record.code_length
            and self.hasher.verify(record.code_hash, canonical)
        )
        now = self.clock()  # hashing takes time; judge expiry as of its end
        if matched:
            if self.store.consume_code(record.id, now, max_attempts):
                audit.event("code.valid", **where)
                return Outcome(catalogue.VALID)
            return Outcome(catalogue.INVALID)
        attempts = self.store.count_failure(record.id, now, max_attempts)
        if attempts is None:
            return Outcome(catalogue.INVALID)
        # New codes for the phone never reset this count: it is the phone's, not the code's.
        self.gate.take(self.config.limit_phone_failures, failures_key, now)
        audit.event("code.locked" if attempts >= max_attempts else "code.declined",
                    attempts=attempts, **where)
        return Outcome(catalogue.DECLINED)

    # -- steps -----------------------------------------------------------------------------
    def _authorize(self, token: str | None, client_ip: str | None) -> TokenRecord | Status:
        if token is None:
            return catalogue.TOKEN_MISSING
        digest = token_digest(token)
        record = self.store.token_by_digest(digest)
        if record is None or record.revoked or not digests_equal(record.token_hash, digest):
            audit.event("token.invalid", client_ip=client_ip,
                        token_id=record.id if record is not None else None)
            return catalogue.TOKEN_INVALID
        refused = check_ip(record, client_ip)
        if refused is not None:
            audit.event("ip.refused", token_id=record.id, client_ip=client_ip,
                        reason=refused.name.lower())
            return refused
        self.tokens.note_use(record, self.clock())
        return record

    def _stale_before(self, now: float) -> float:
        """Codes still pending from before this were being sent by a process that died:
        every live sender has had the gateway's deadline (and a margin) to finish."""
        return now - self.gateway.deadline - PENDING_MARGIN

    def _send(
        self, principal: TokenRecord, request: CodeRequest, client_ip: str | None, now: float
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
                code_id = self.store.insert_code(new, self._stale_before(now))
                break
            except DuplicateClientRef:
                return Outcome(catalogue.CLIENT_REF_EXISTS)
            except DuplicateMessageId:
                continue
        else:  # three random 20-digit collisions in a row: the randomness is broken
            raise RuntimeError("could not draw a free message_id")
        held = self.gate.fraud_recheck(principal, request.phone, client_ip, now)
        if held is not None:  # parallel sends to the range got there first
            self.store.discard_code(code_id)
            return held
        message = SmsMessage(new.message_id, request.phone, sender, render(request.template, code))
        try:
            self.gateway.send(message)
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
        self.store.activate_code(code_id, self.clock())
        if request.callback_url:
            self.callbacks.wake()
        audit.event("code.sent", token_id=principal.id, client_ip=client_ip,
                    phone=request.phone, message_id=new.message_id)
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
        applied = 0
        for message_id, status in deliveries.parse_reports(reports):
            if self.store.record_delivery(message_id, status, self.clock()):
                applied += 1
        if applied:
            self.callbacks.wake()
        return applied

    # -- tokens (see TokenAdmin; names or ids both find an active token) -------------------
    def create_token(self, name: str, **options: Any) -> IssuedToken:
        """Issue a new token with ``options`` (:class:`~tfa_engine.tokens.TokenOptions`:
        allowed_ips, sender_id, code_ttl, max_attempts, allowed_destinations, sms_budget);
        its ``token`` is shown once. ConfigError for a bad option or a name in use."""
        return self.tokens.create(name, **options)

    def find_token(self, name_or_id: str) -> TokenRecord | None:
        """The active token with this id or name, else None."""
        return self.tokens.find(name_or_id)

    def rotate_token(self, name_or_id: str) -> IssuedToken:
        """A new value for a token (same id and settings); the old one dies at once."""
        return self.tokens.rotate(name_or_id)

    def update_token(self, name_or_id: str, **changes: Any) -> TokenRecord:
        """Change a token's ``name`` or options; what is not given stays."""
        return self.tokens.update(name_or_id, **changes)

    def revoke_token(self, name_or_id: str) -> bool:
        """Revoke at once; False when no such active token exists."""
        return self.tokens.revoke(name_or_id)

    def list_tokens(self) -> list[TokenRecord]:
        """Every token (digests only), oldest first."""
        return self.tokens.list()

    def declare_token(self, name: str, token: str, **options: Any) -> TokenRecord:
        """Install a token from a configuration file (see :mod:`tfa_engine.declared`)."""
        return declared.declare(self.tokens, DeclaredToken(name, token, **options))

    def declare_tokens(self, tokens: Iterable[DeclaredToken]) -> list[str]:
        """Make the declared tokens those of a file; return the names of the tokens
        revoked because the file no longer holds them."""
        installed, revoked = declared.declare_all(self.tokens, tokens)
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
            audit.event("fraud.released", token_id=token_id, range=prefix, by="operator")
        return released

    # -- background work and housekeeping --------------------------------------------------
    def start(self, *, purge_every: float = 3600.0) -> None:
        """Start the background work servers need: delivering callbacks, and purging
        records past retention every ``purge_every`` seconds (so client_refs come free
        without anyone running ``tfa purge``)."""
        self.callbacks.start()
        if self._purging is None:
            self._purging = Periodic("tfa-purge", self._purge_logged, purge_every)
            self._purging.start()

    def _purge_logged(self) -> None:
        removed = self.purge()
        if removed:
            log.info("purged %d records past retention", removed)

    def ping(self) -> None:
        """Check that the store would take a request-code now, without writing to it;
        raises :class:`~tfa_engine.store.StoreUnavailable` when it would not. For readiness
        probes, which should ask through a :class:`~tfa_engine.readiness.ReadinessCache`."""
        self.store.ping(self.clock())

    def purge(self) -> int:
        """Delete codes past retention (their client_refs become free); return the count."""
        return self.store.purge(self.clock(), self.config.retention)

    def close(self) -> None:
        """Stop background work and release the store's and the gateway's connections."""
        if self._purging is not None:
            self._purging.stop()
            self._purging = None
        self.callbacks.stop()
        self.hasher.close()
        self.gateway.close()
        self.store.close()

    def with_config(self, **changes: Any) -> Engine:
        """A new engine on the same store and gateway with some settings changed."""
        return Engine(
            self.store,
            self.gateway,
            self.config.with_changes(**changes),
            clock=self.clock,
            resolver=self._resolver,
        )
