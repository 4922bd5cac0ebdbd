"""The engine: request a code, validate a code, manage tokens. Orchestration only;
every rule lives in its own module and every atomic step in the store."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from . import callbacks, catalogue, netguard
from .access import (
    IssuedToken,
    TokenRecord,
    check_ip,
    digests_equal,
    invalid_allowlist_entries,
    new_token,
    new_token_id,
    token_digest,
)
from .catalogue import Status
from .codes import canonical_code, generate_code
from .config import MAX_CODE_TTL, EngineConfig, RateLimit
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
    valid_sender_id,
)
from .store import (
    CodeRecord,
    DuplicateClientRef,
    DuplicateMessageId,
    DuplicateToken,
    NewCallback,
    NewCode,
    Store,
)

log = logging.getLogger("tfa.engine")

Clock = Callable[[], float]


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
        signing_key: str | bytes
        self._stable_signing_key = bool(self.config.callback_key or self.config.pepper)
        if self.config.callback_key:
            signing_key = self.config.callback_key
        elif self.config.pepper:
            # A key of its own, derived so the pepper itself never signs anything.
            pepper = self.config.pepper.encode()
            signing_key = hashlib.sha256(b"tfa-callback-key:" + pepper).digest()
        else:
            # Nobody can verify signatures made with a key that lives only in this
            # process; set callback_key (TFA_CALLBACK_KEY) to give clients a secret.
            signing_key = secrets.token_hex(32)
        self._housekeeping: threading.Thread | None = None
        self._stop_housekeeping = threading.Event()
        self.callbacks = callbacks.CallbackDispatcher(
            store,
            callbacks.CallbackSigner(signing_key),
            allow_private=self.config.callback_allow_private,
            resolver=resolver or netguard.system_resolver,
            clock=clock,
        )

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
            return Outcome(request)
        if self.store.client_ref_taken(principal.id, request.client_ref):
            return Outcome(catalogue.CLIENT_REF_EXISTS)
        now = self.clock()
        limited = self._limit_sends(principal, request.phone, now)
        if limited is not None:
            return limited
        return self._send(principal, request, now)

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
        limited = self._limit_token(principal, now)
        if limited is not None:
            return limited
        record = self.store.find_code(principal.id, client_ref) if is_text(client_ref) else None
        if record is None or record.state == "pending":
            return Outcome(catalogue.CODE_NOT_FOUND)
        failures_key = f"phone-failures:{record.phone}"
        limited = self._peek(self.config.limit_phone_failures, failures_key, now)
        if limited is not None:
            return limited
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
                log.info("code valid message_id=%s", record.message_id)
                return Outcome(catalogue.VALID)
            return Outcome(catalogue.INVALID)
        if not self.store.count_failure(record.id, now, max_attempts):
            return Outcome(catalogue.INVALID)
        self._take(self.config.limit_phone_failures, failures_key, now)
        return Outcome(catalogue.DECLINED)

    # -- steps -----------------------------------------------------------------------------
    def _authorize(self, token: str | None, client_ip: str | None) -> TokenRecord | Status:
        if token is None:
            return catalogue.TOKEN_MISSING
        digest = token_digest(token)
        record = self.store.token_by_digest(digest)
        if record is None or record.revoked or not digests_equal(record.token_hash, digest):
            return catalogue.TOKEN_INVALID
        return check_ip(record, client_ip) or record

    def _take(self, limit: RateLimit, key: str, now: float) -> Outcome | None:
        """Count one event against ``limit``; the 429 outcome when it is used up."""
        return self._limited(self.store.take, limit, key, now)

    def _peek(self, limit: RateLimit, key: str, now: float) -> Outcome | None:
        """The 429 outcome when ``limit`` is used up, counting nothing."""
        return self._limited(self.store.peek, limit, key, now)

    def _limited(
        self, check: Callable[[str, int, int, float], int | None], limit: RateLimit,
        key: str, now: float,
    ) -> Outcome | None:
        if not self.config.rate_limits:
            return None
        wait = check(key, limit.count, limit.seconds, now)
        return None if wait is None else Outcome(catalogue.RATE_LIMITED, retry_after=wait)

    def _limit_token(self, principal: TokenRecord, now: float) -> Outcome | None:
        return self._take(self.config.limit_token_requests, f"token:{principal.id}", now)

    def _limit_sends(self, principal: TokenRecord, phone: str, now: float) -> Outcome | None:
        return self._limit_token(principal, now) or self._take(
            self.config.limit_phone_sends, f"phone-sends:{phone}", now
        )

    def _send(self, principal: TokenRecord, request: CodeRequest, now: float) -> Outcome:
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
                code_id = self.store.insert_code(new)
                break
            except DuplicateClientRef:
                return Outcome(catalogue.CLIENT_REF_EXISTS)
            except DuplicateMessageId:
                continue
        else:  # three random 20-digit collisions in a row: the randomness is broken
            raise RuntimeError("could not draw a free message_id")
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
        callback = None
        if request.callback_url:
            sent_at = self.clock()
            callback = NewCallback(
                principal.id,
                new.message_id,
                request.callback_url,
                callbacks.callback_body(new, callbacks.INTERNAL, callbacks.ACCEPTED, sent_at),
                sent_at,
            )
        self.store.activate_code(
            code_id, callback, self._sms_callback if callback is not None else None
        )
        if callback is not None:
            self.callbacks.wake()
        log.info("code sent message_id=%s to=%s", new.message_id, mask(request.phone))
        return Outcome(catalogue.SUCCESS, {"message_id": new.message_id}, api_job_id=api_job_id)

    def callback_secret(self, token_id: str) -> str | None:
        """The secret a token's client verifies ``X-TFA-Signature`` with; None while no
        callback key (or pepper) is configured, since the key then changes at each start."""
        return self.callbacks.signer.secret_for(token_id) if self._stable_signing_key else None

    # -- delivery reports ------------------------------------------------------------------
    def dlr_secret_matches(self, secret: str) -> bool:
        """True when ``secret`` is the configured delivery-report secret (constant time);
        always False when none is configured (the endpoint is then closed)."""
        expected = self.config.dlr_secret
        return bool(expected) and hmac.compare_digest(
            secret.encode("utf-8", "surrogatepass"), str(expected).encode()
        )

    def record_delivery_reports(self, reports: Any) -> int:
        """Apply mediariver delivery reports — one object or an array of
        ``{msisdn, delivery_status, delivery_date, uuid}`` — matched by ``uuid`` (our
        message_id). Unknown ids and repeated reports are ignored. Returns how many
        changed a message. Raises ValueError when the payload is not of that shape."""
        if isinstance(reports, (bytes, bytearray, str)):
            reports = decode_json(reports)
        items = reports if isinstance(reports, list) else [reports]
        if not items or not all(
            isinstance(item, Mapping)
            and isinstance(item.get("uuid"), str)
            and isinstance(item.get("delivery_status"), str)
            for item in items
        ):
            raise ValueError("not a delivery report")
        applied = 0
        for item in items:
            status = item["delivery_status"].upper()
            if status not in callbacks.DELIVERY_STATUSES:
                status = "UNKNOWN"
            if self.store.record_delivery(item["uuid"], status, self.clock(), self._sms_callback):
                applied += 1
        if applied:
            self.callbacks.wake()
        return applied

    @staticmethod
    def _sms_callback(record: CodeRecord) -> NewCallback | None:
        """The SMS callback telling a code's stored delivery status, if it has a URL."""
        if not record.callback_url or record.delivery_status is None:
            return None
        at = record.delivered_at if record.delivered_at is not None else record.created_at
        body = callbacks.callback_body(record, callbacks.SMS, record.delivery_status, at)
        return NewCallback(record.token_id, record.message_id, record.callback_url, body, at)

    # -- background work -------------------------------------------------------------------
    def start(self, *, purge_every: float = 3600.0) -> None:
        """Start the background work servers need: delivering callbacks, and purging
        records past retention every ``purge_every`` seconds (so client_refs come free
        without anyone running ``tfa purge``)."""
        self.callbacks.start()
        if self._housekeeping is None:
            self._stop_housekeeping.clear()
            self._housekeeping = threading.Thread(
                target=self._purge_periodically, args=(purge_every,), name="tfa-purge",
                daemon=True,
            )
            self._housekeeping.start()

    def _purge_periodically(self, every: float) -> None:
        while not self._stop_housekeeping.wait(every):
            try:
                removed = self.purge()
            except Exception:  # a busy or briefly unavailable store: try next time
                log.exception("purge failed")
            else:
                if removed:
                    log.info("purged %d records past retention", removed)

    # -- tokens ----------------------------------------------------------------------------
    def create_token(
        self,
        name: str,
        *,
        allowed_ips: Iterable[str] = (),
        sender_id: str | None = None,
        code_ttl: int | None = None,
        max_attempts: int | None = None,
    ) -> IssuedToken:
        """Issue a new token. The returned ``token`` is shown once; only its hash is kept.

        Raises ValueError for a bad name, allowlist entry, sender id or override.
        """
        token = new_token()
        record = self._token_record(
            new_token_id(), name, token, allowed_ips, sender_id, code_ttl, max_attempts, "api"
        )
        bad = invalid_allowlist_entries(record.allowed_ips)
        if bad:
            raise ValueError(f"not an IP address or CIDR network: {', '.join(bad)}")
        self.store.add_token(record)
        return IssuedToken(token, record)

    def declare_token(
        self,
        name: str,
        token: str,
        *,
        allowed_ips: Iterable[str] = (),
        sender_id: str | None = None,
        code_ttl: int | None = None,
        max_attempts: int | None = None,
    ) -> TokenRecord:
        """Install a token from a configuration file.

        A declaration is the same token as an earlier one when it has the same token
        value (a rename or a new allowlist updates it in place, keeping its codes) or,
        failing that, the same name (a rotated value replaces the old one, which then
        stops working). A malformed allowlist entry is kept: requests then get -66.
        """
        if not token:
            raise ValueError("a declared token must not be empty")
        digest = token_digest(token)
        same = self.store.token_by_digest(digest)
        if same is not None and same.source != "config":
            raise DuplicateToken(same.id)
        if same is None:
            same = next(
                (t for t in self.store.list_tokens() if t.source == "config" and t.name == name),
                None,
            )
        token_id = same.id if same is not None else "cfg_" + secrets.token_hex(6)
        record = self._token_record(
            token_id, name, token, allowed_ips, sender_id, code_ttl, max_attempts, "config"
        )
        if same is not None:
            record = replace(record, created_at=same.created_at)
        self.store.put_token(record)
        return record

    def _token_record(
        self,
        token_id: str,
        name: str,
        token: str,
        allowed_ips: Iterable[str],
        sender_id: str | None,
        code_ttl: int | None,
        max_attempts: int | None,
        source: str,
    ) -> TokenRecord:
        if not name or not name.strip():
            raise ValueError("a token needs a name")
        if sender_id is not None and not valid_sender_id(sender_id):
            raise ValueError(f"sender id {sender_id!r} is neither <= 15 digits nor <= 11 letters")
        if code_ttl is not None and not 1 <= code_ttl <= MAX_CODE_TTL:
            raise ValueError(f"code_ttl must be 1..{MAX_CODE_TTL} seconds")
        if max_attempts is not None and max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        return TokenRecord(
            id=token_id,
            name=name.strip(),
            token_hash=token_digest(token),
            allowed_ips=tuple(str(ip).strip() for ip in allowed_ips),
            sender_id=sender_id,
            code_ttl=code_ttl,
            max_attempts=max_attempts,
            created_at=self.clock(),
            source=source,
        )

    def list_tokens(self) -> list[TokenRecord]:
        """Every token (digests only), oldest first."""
        return self.store.list_tokens()

    def revoke_token(self, token_id: str) -> bool:
        """Revoke at once; False when no such unrevoked token exists."""
        return self.store.revoke_token(token_id, self.clock())

    # -- housekeeping ----------------------------------------------------------------------
    def purge(self) -> int:
        """Delete codes past retention (their client_refs become free); return the count."""
        return self.store.purge(self.clock(), self.config.retention)

    def close(self) -> None:
        """Stop background work and release the store's and the gateway's connections."""
        self._stop_housekeeping.set()
        if self._housekeeping is not None:
            self._housekeeping.join(5)
            self._housekeeping = None
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
