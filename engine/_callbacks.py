"""Fortytwo-style callbacks: their bodies, their signature, and the outbox dispatcher.

A callback is queued in the store in the same transaction as the event it reports, then
delivered by :class:`CallbackDispatcher` — a background thread that claims due entries,
POSTs them signed, never follows a redirect, and connects only to an address it has
checked is public (the one it resolved, so DNS rebinding cannot redirect it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import urllib3

from . import _netguard as netguard
from ._background import Background
from .gateways._base import DELIVERY_STATUSES as DELIVERY_STATUSES
from .store import CallbackJob, Store, StoreUnavailable

log = logging.getLogger("tfa.callbacks")

SIGNATURE_HEADER = "X-TFA-Signature"
INTERNAL = "INTERNAL"
SMS = "SMS"
ACCEPTED = "ACCEPTD"  # INTERNAL: the gateway accepted the message (SMPP state name)


class Reported(Protocol):
    """What a callback tells about a code (a NewCode or a CodeRecord)."""

    @property
    def api_job_id(self) -> str | None: ...
    @property
    def message_id(self) -> str: ...
    @property
    def phone(self) -> str: ...
    @property
    def sender(self) -> str: ...
    @property
    def client_ref(self) -> str: ...


def callback_body(
    record: Reported, kind: str, status: str, at: float, error_code: int = 0
) -> str:
    """The JSON text of one callback, as Fortytwo sends it (times in ms and µs)."""
    return json.dumps(
        {
            "api_job_id": record.api_job_id,
            "data": [
                {
                    "type": kind,
                    "message_id": record.message_id,
                    "status": status,
                    "timestamp": int(at * 1000),
                    "micro_timestamp": int(at * 1_000_000),
                    "to": record.phone.lstrip("+"),
                    "sms_from": record.sender,
                    "client_message_id": record.client_ref,
                    "error_code": error_code,
                }
            ],
        },
        separators=(",", ":"),
    )


def signing_key(callback_key: str | None, pepper: str | None) -> tuple[str | bytes, bool]:
    """The key callbacks are signed with, and whether it is stable across starts.

    ``callback_key`` when set; else a key derived from the pepper (so the pepper itself
    never signs anything); else a random key that lives only in this process, with which
    nobody can verify a signature: set a callback key to give clients a secret.
    """
    if callback_key:
        return callback_key, True
    if pepper:
        return hashlib.sha256(b"tfa-callback-key:" + pepper.encode()).digest(), True
    return secrets.token_hex(32), False


def verify_signature(body: bytes, header: str | None, secret: str) -> bool:
    """For a client receiving our callbacks: True when ``header`` (the ``X-TFA-Signature``
    value) is the hex HMAC-SHA256 of the raw ``body`` bytes keyed with ``secret``'s UTF-8
    bytes (the callback secret ``tfa token create`` shows). Compared in constant time."""
    if not header:
        return False
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.strip().lower())


class CallbackSigner:
    """Derives each token's signing secret from one service key; nothing is stored.

    A client verifies ``X-TFA-Signature`` as the hex HMAC-SHA256 of the raw body under
    its secret (``tfa token create`` shows it; :func:`verify_signature` checks it).
    """

    def __init__(self, key: str | bytes) -> None:
        self._key = key.encode() if isinstance(key, str) else key
        if len(self._key) < 16:
            raise ValueError("the callback signing key must have at least 16 bytes")

    def secret_for(self, token_id: str) -> str:
        """The signing secret of a token."""
        return hmac.new(self._key, b"callback:" + token_id.encode(), hashlib.sha256).hexdigest()

    def sign(self, token_id: str, body: bytes) -> str:
        """The signature header value of a body sent for a token."""
        secret = self.secret_for(token_id).encode()
        return hmac.new(secret, body, hashlib.sha256).hexdigest()


class DeliveryError(Exception):
    """A callback could not be delivered this time."""


class GiveUp(DeliveryError):
    """A callback can never be delivered: no use trying again."""


def job_body(job: CallbackJob) -> bytes | None:
    """The exact bytes a claimed callback sends (and signs): built from its event and its
    code, so the same on every attempt and on every node; None once the code is gone."""
    if job.body is not None:  # queued by an older release, with its text
        return job.body.encode()
    if job.api_job_id is None:
        return None
    return callback_body(job, job.kind, job.status, job.at).encode()


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off: ``base * 2**attempt`` seconds, at most ``cap``."""

    max_attempts: int = 8
    base: float = 2.0
    cap: float = 600.0

    def next_delay(self, failures: int) -> float | None:
        """Seconds to wait after the ``failures``-th failure, None to give up."""
        if failures >= self.max_attempts:
            return None
        return float(min(self.cap, self.base * 2 ** (failures - 1)))


Transport = Callable[[str, int, str, str, str, bytes, dict[str, str], float], int]


def urllib3_transport(
    scheme: str,
    port: int,
    address: str,
    host: str,
    target: str,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
) -> int:
    """POST ``body`` to ``address`` (already checked), naming ``host`` in the Host
    header and in TLS (SNI and certificate check); return the HTTP status."""
    pool: urllib3.HTTPConnectionPool
    if scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            address, port, timeout=timeout, retries=False, server_hostname=host,
            assert_hostname=host, cert_reqs="CERT_REQUIRED",
        )
    else:
        pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False)
    try:
        response = pool.urlopen(
            "POST", target, body=body, headers=headers, redirect=False, retries=False,
            assert_same_host=False, preload_content=True,
        )
        return int(response.status)
    except urllib3.exceptions.HTTPError as exc:
        raise DeliveryError(type(exc).__name__) from None
    finally:
        pool.close()


class CallbackDispatcher(Background):
    """Delivers queued callbacks in a background thread (or step by step in tests); other
    nodes' dispatchers claim from the same outbox.

    Up to ``concurrency`` callbacks are posted at once, so one slow receiver does not hold
    up every other one. A claim covers ``lease`` seconds, and each callback's claim is
    renewed just before it is posted: a callback goes out again only when its poster died
    or its post failed — never because a slow receiver let a claim run out while others
    waited their turn (a renewal that finds the claim taken over skips the post). A
    delivery the store was down to record is recorded once it is back, before anything else
    is claimed (only an outage longer than the lease lets another node post it again).
    """

    def __init__(
        self,
        store: Store,
        signer: CallbackSigner,
        *,
        allow_private: bool = False,
        resolver: netguard.Resolver = netguard.system_resolver,
        clock: Callable[[], float] = time.time,
        retry: RetryPolicy | None = None,
        timeout: float = 5.0,
        batch: int = 20,
        lease: float = 60.0,
        poll_interval: float = 1.0,
        concurrency: int = 8,
        transport: Transport = urllib3_transport,
    ) -> None:
        self.store = store
        self.signer = signer
        self.allow_private = allow_private
        self.resolver = resolver
        self.clock = clock
        self.retry = retry or RetryPolicy()
        # A post must end well inside the claim renewed for it.
        self.timeout = min(timeout, lease / 2)
        self.batch = batch
        self.lease = lease
        self.concurrency = max(1, concurrency)
        self.transport = transport
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._posted: list[CallbackJob] = []  # delivered, not yet recorded (store down)
        self._posted_lock = threading.Lock()
        super().__init__("tfa-callbacks", poll_interval)

    def run_once(self) -> int:
        """Deliver every callback due now; return how many were claimed."""
        self._mark_posted()
        jobs = self.store.claim_callbacks(self.clock(), self.batch, self.lease)
        # The callbacks of one message go out one after the other, in the order they were
        # queued (INTERNAL before the SMS report that overtook it); messages in parallel.
        by_message: dict[str, list[CallbackJob]] = {}
        for job in sorted(jobs, key=lambda job: job.id):
            by_message.setdefault(job.message_id, []).append(job)
        groups = list(by_message.values())
        if len(groups) <= 1 or self.concurrency == 1:
            for group in groups:
                self._attempt_in_order(group)
        else:  # waits for all; raises the first
            list(self._executor().map(self._attempt_in_order, groups))
        return len(jobs)

    def _attempt_in_order(self, jobs: list[CallbackJob]) -> None:
        for job in jobs:
            self._attempt(job)

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.concurrency,
                                                thread_name_prefix="tfa-callback-post")
            return self._pool

    def _attempt(self, job: CallbackJob) -> None:
        try:
            if not self.deliver(job):
                log.info("callback for message_id=%s was taken over by another claim: "
                         "not posted here", job.message_id)
                return
        except DeliveryError as exc:
            failures = job.attempts + 1
            delay = None if isinstance(exc, GiveUp) else self.retry.next_delay(failures)
            retry_at = None if delay is None else self.clock() + delay
            self.store.callback_failed(job.id, str(exc), retry_at, job.claim or None)
            log.warning(
                "callback for message_id=%s failed (attempt %d): %s%s",
                job.message_id, failures, exc, "" if delay is not None else "; giving up",
            )
        else:
            try:
                self.store.callback_delivered(job.id, job.claim or None)
            except StoreUnavailable:
                # The receiver has it: posting it again would be a duplicate. The mark is
                # made once the store is back, before anything else is claimed.
                with self._posted_lock:
                    self._posted.append(job)
                raise
            log.info("callback for message_id=%s delivered", job.message_id)

    def _mark_posted(self) -> None:
        """Record the deliveries the store could not take when they were made."""
        while True:
            with self._posted_lock:
                if not self._posted:
                    return
                job = self._posted[0]
            # Whoever claims it now must not post it: delivered, whatever the claim.
            self.store.callback_delivered(job.id)
            with self._posted_lock:
                self._posted.remove(job)
            log.info("callback for message_id=%s delivered (recorded late)", job.message_id)

    def deliver(self, job: CallbackJob) -> bool:
        """POST one callback; raise :class:`DeliveryError` unless it got a 2xx. False,
        with nothing posted, when the claim on it was no longer ours to renew."""
        target = netguard.parse_callback_url(job.url)
        if target is None:
            raise DeliveryError("callback URL is invalid")
        addresses = netguard.resolve_public(
            target, allow_private=self.allow_private, resolver=self.resolver
        )
        if not addresses:
            raise DeliveryError("callback host has no address we may contact")
        body = job_body(job)
        if body is None:
            raise GiveUp("the code was purged before its callback could be delivered")
        parts = urlsplit(job.url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host_header = target.host if ":" not in target.host else f"[{target.host}]"
        if target.port != netguard.DEFAULT_PORTS[target.scheme]:
            host_header += f":{target.port}"
        headers = {
            "Host": host_header,
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "tfa-engine callbacks",
            SIGNATURE_HEADER: self.signer.sign(job.token_id, body),
        }
        if job.claim and not self.store.renew_callback(job, self.clock() + self.lease):
            return False
        status = self.transport(
            target.scheme, target.port, addresses[0], target.host, path, body, headers,
            self.timeout,
        )
        if not 200 <= status < 300:
            raise DeliveryError(f"HTTP {status}" + (" (redirect not followed)" if
                                                     300 <= status < 400 else ""))
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread (see :meth:`Background.stop`) and the posting threads."""
        super().stop(timeout)
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    @property
    def poll_interval(self) -> float:
        """Seconds between looks at the outbox when nothing woke the dispatcher."""
        return self.every

    @poll_interval.setter
    def poll_interval(self, seconds: float) -> None:
        self.every = seconds

    # -- background thread (see Background) ---------------------------------------------
    def step(self) -> None:
        """Deliver until nothing is due (a stop request ends the round)."""
        while self.run_once() and not self._stop.is_set():
            pass
