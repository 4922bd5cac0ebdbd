"""The storage contract every backend honours, whatever the database.

Each method is one atomic step: it holds against every other thread and every other
process on the same database, so several servers on one database keep every invariant
(one success per code, attempts never above the limit, one live code per phone, no
window admitting more than its limit). No method holds a transaction while the caller
hashes or talks to a gateway, and no method calls back into engine code: the outbox
records what happened (the event and where to tell it) and callback bodies are built
when they are delivered.

The contract comes in concerns — tokens, codes, the callback outbox, rate limits — that
one :class:`Store` carries together.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Literal

from ..access import TokenRecord

CodeState = Literal["pending", "live", "used", "locked", "superseded"]
NEVER = float("-inf")  # a ``stale_before`` no pending code is older than


class StoreError(Exception):
    """The store failed (not an outcome: the caller answers 500)."""


class StoreUnavailable(StoreError):
    """The store cannot be reached, or stayed busy past its timeout (disk full, read-only,
    database down). Not the caller's fault and usually passing: the service answers 503 with
    -78 and ``Retry-After``, and serves again by itself once the store recovers."""


class DuplicateClientRef(StoreError):
    """The (token, client_ref) pair is taken."""


class DuplicateMessageId(StoreError):
    """The message_id is taken (a random collision: draw another)."""


class DuplicateToken(StoreError):
    """A token with that id or digest exists already."""


class DuplicateTokenName(DuplicateToken):
    """An active token has that name already (names tell tokens apart)."""


@dataclass(frozen=True)
class NewCode:
    """A code about to be sent; stored as ``pending`` until the gateway accepts it."""

    message_id: str
    token_id: str
    client_ref: str
    phone: str
    code_hash: str = field(repr=False)
    code_length: int
    case_sensitive: bool
    sender: str
    callback_url: str | None
    created_at: float
    expires_at: float
    api_job_id: str = ""


@dataclass(frozen=True)
class CodeRecord(NewCode):
    """A stored code, as read back."""

    id: int = 0
    state: CodeState = "pending"
    attempts: int = 0
    delivery_status: str | None = None
    delivered_at: float | None = None

    def is_live(self, now: float) -> bool:
        """Can still be validated: unexpired, and live or pending. A pending code's SMS
        may be out already (the gateway answered, or the process sending it died): who
        holds the code got it from that SMS."""
        return self.state in ("live", "pending") and now < self.expires_at


@dataclass(frozen=True)
class CallbackJob:
    """A pending callback claimed for delivery: the event (``kind``, ``status``, ``at``)
    and what the body tells of its code. ``api_job_id`` is None when the code is no longer
    stored; ``body`` is set only for callbacks queued by older releases, with their text."""

    id: int
    token_id: str
    message_id: str
    url: str
    attempts: int  # failed deliveries so far
    kind: str = ""
    status: str = ""
    at: float = 0.0
    api_job_id: str | None = None
    phone: str = ""
    sender: str = ""
    client_ref: str = ""
    body: str | None = None


class TokenStore(ABC):
    """API tokens (their digests only)."""

    @abstractmethod
    def add_token(self, record: TokenRecord) -> None:
        """Store a new token; :class:`DuplicateToken` if its id or digest exists,
        :class:`DuplicateTokenName` if an active token has its name."""

    @abstractmethod
    def put_token(self, record: TokenRecord) -> None:
        """Insert or replace the token with ``record.id`` (declared, rotated or updated
        tokens; its last use is kept); :class:`DuplicateToken` if another token has its
        digest, :class:`DuplicateTokenName` if another active token has its name."""

    @abstractmethod
    def touch_token(self, token_id: str, now: float) -> None:
        """Note that the token was used at ``now``."""

    @abstractmethod
    def token_by_digest(self, digest: str) -> TokenRecord | None:
        """The token with this digest, revoked or not."""

    @abstractmethod
    def list_tokens(self) -> list[TokenRecord]:
        """Every token, oldest first."""

    @abstractmethod
    def revoke_token(self, token_id: str, now: float) -> bool:
        """Revoke; False when there is no such unrevoked token."""

    @abstractmethod
    def exclusive(self, name: str) -> AbstractContextManager[None]:
        """Hold ``name`` against every other process on the database while a read-then-write
        of several steps runs (declaring a file's tokens at start-up)."""


class CodeStore(ABC):
    """Codes: single use, attempt counting, one live code per (token, phone)."""

    @abstractmethod
    def client_ref_taken(
        self, token_id: str, client_ref: str, stale_before: float = NEVER
    ) -> bool:
        """A cheap pre-check; :meth:`insert_code` stays the authority. A code still pending
        from before ``stale_before`` (its sender died) does not hold its client_ref."""

    @abstractmethod
    def insert_code(self, code: NewCode, stale_before: float = NEVER) -> int:
        """Store a pending code and return its id. A code of the same (token, client_ref)
        still pending from before ``stale_before`` is replaced.

        Raises :class:`DuplicateClientRef` or :class:`DuplicateMessageId`.
        """

    @abstractmethod
    def activate_code(self, code_id: int, now: float) -> CodeState:
        """The gateway accepted the code's SMS: pending → live, superseding older live codes
        of the same (token, phone), or born ``superseded`` when a newer code of the phone
        went live first. A code validated (or locked) while pending keeps that state, and
        still supersedes older ones. On leaving ``pending`` it queues the ``INTERNAL``
        callback (at ``now``) when the code has a callback URL, then the ``SMS`` callback of
        a delivery report that came while it was pending. Returns the code's state; an
        activation repeated changes and queues nothing. :class:`StoreError` when the code
        is not stored (discarded, or replaced as stale)."""

    @abstractmethod
    def record_delivery(self, message_id: str, status: str, at: float) -> bool:
        """Store a delivery report and, for a code no longer pending with a callback URL,
        queue its ``SMS`` callback; a pending code keeps the report for
        :meth:`activate_code`. False, with nothing stored, for an unknown message_id or a
        report repeating the stored status (gateways resend reports)."""

    @abstractmethod
    def discard_code(self, code_id: int) -> None:
        """Delete a pending code (the gateway refused it), freeing its client_ref."""

    @abstractmethod
    def find_code(self, token_id: str, client_ref: str) -> CodeRecord | None:
        """The code stored for (token, client_ref), in any state."""

    @abstractmethod
    def consume_code(self, code_id: int, now: float, max_attempts: int) -> bool:
        """Atomically mark a live or pending code used, if unexpired and under the attempt
        limit. True for exactly one caller, however many race."""

    @abstractmethod
    def count_failure(self, code_id: int, now: float, max_attempts: int) -> int | None:
        """Atomically record a wrong attempt on a live or pending code and return the
        attempts recorded so far; the attempt that reaches ``max_attempts`` locks it. None
        (nothing recorded) when the code was no longer open, so parallel guesses never
        record more than the limit."""


class OutboxStore(ABC):
    """Callbacks waiting to be delivered (queued by :class:`CodeStore`)."""

    @abstractmethod
    def claim_callbacks(self, now: float, limit: int, lease: float) -> list[CallbackJob]:
        """Up to ``limit`` pending callbacks due by ``now``, oldest queued first, hidden
        from every other claimer for ``lease`` seconds (a dispatcher that dies
        mid-delivery is thus retried)."""

    @abstractmethod
    def callback_delivered(self, job_id: int) -> None:
        """The receiver acknowledged the callback."""

    @abstractmethod
    def callback_failed(self, job_id: int, error: str, retry_at: float | None) -> None:
        """A delivery failed: count it and try again at ``retry_at``, or give up (None)."""

    @abstractmethod
    def callback_states(self, message_id: str) -> list[tuple[str, int]]:
        """(state, attempts) of the callbacks of a message, oldest first: ``pending``,
        ``delivered`` or ``failed``."""

    @abstractmethod
    def pending_callbacks(self) -> int:
        """How many callbacks wait for delivery."""


class LimitStore(ABC):
    """Rate limits that hold over any window: ``limit`` events in any ``seconds``."""

    @abstractmethod
    def take(self, key: str, limit: int, seconds: int, now: float) -> int | None:
        """Count one event against ``key``. None when fewer than ``limit`` events were
        counted in the ``seconds`` before ``now``; otherwise nothing is counted and the
        whole seconds until one is admitted again are returned (at least 1)."""

    @abstractmethod
    def peek(self, key: str, limit: int, seconds: int, now: float) -> int | None:
        """Like :meth:`take` but counts nothing."""


class FraudStore(ABC):
    """What the fraud guard knows of a token's traffic to a number range (an E.164 prefix)
    and of the ranges it holds."""

    @abstractmethod
    def range_activity(self, token_id: str, prefix: str, since: float) -> tuple[int, int]:
        """(codes sent, codes validated) of a token to numbers starting with ``prefix``,
        created after ``since``."""

    @abstractmethod
    def range_hold(self, token_id: str, prefix: str) -> tuple[float | None, float | None]:
        """(held until, last released at) of a token's range; None for what never was."""

    @abstractmethod
    def hold_range(self, token_id: str, prefix: str, until: float) -> bool:
        """Hold sends to the range until ``until``; True for the one caller that held it
        (False when it was held already)."""

    @abstractmethod
    def release_range(
        self, token_id: str, prefix: str, now: float, expired_by: float | None = None
    ) -> bool:
        """End a hold at ``now`` — only one that ended by ``expired_by``, if given; True
        for the one caller that released it. Traffic before ``now`` no longer counts."""

    @abstractmethod
    def held_ranges(self, now: float) -> list[tuple[str, str, float]]:
        """(token id, prefix, held until) of every hold still in force, soonest end first."""


class Store(TokenStore, CodeStore, OutboxStore, LimitStore, FraudStore):
    """Persistent state of the engine: tokens, codes, callbacks and rate-limit counters."""

    @abstractmethod
    def purge(self, now: float, retention: float) -> int:
        """Delete codes expired more than ``retention`` seconds ago and pending codes past
        their expiry, settled callbacks as old, and counters no window needs; return how
        many codes went. Safe to run on several nodes at once."""

    def ping(self, now: float) -> None:
        """For readiness probes, without writing: raises :class:`StoreUnavailable` when the
        store could not take the writes a request-code needs now (a no-op where it always
        can)."""

    def close(self) -> None:
        """Release connections (a no-op where there are none)."""


def retry_after(admitted_at: float, seconds: int, now: float) -> int:
    """Whole seconds (at least 1) until an event admitted at ``admitted_at`` leaves a
    window of ``seconds``."""
    return max(1, math.ceil(admitted_at + seconds - now))
