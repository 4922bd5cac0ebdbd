"""The storage contract every backend honours.

It is deliberately narrow: each method is one atomic step that a single SQL statement
(or one short ``BEGIN IMMEDIATE`` transaction) can carry, so SQLite, memory and later
PostgreSQL give the same answers under concurrency. No method holds a transaction while
the caller hashes or talks to a gateway.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from ..access import TokenRecord

CodeState = Literal["pending", "live", "used", "locked", "superseded"]


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
class CodeRecord:
    """A stored code, as read back."""

    id: int
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
    state: CodeState
    attempts: int
    api_job_id: str = ""
    delivery_status: str | None = None
    delivered_at: float | None = None

    def is_live(self, now: float) -> bool:
        """Can still be validated: sent, unused, not locked or superseded, not expired."""
        return self.state == "live" and now < self.expires_at


@dataclass(frozen=True)
class NewCallback:
    """A callback to deliver: ``body`` is the exact JSON text that is signed and sent."""

    token_id: str
    message_id: str
    url: str
    body: str
    created_at: float


@dataclass(frozen=True)
class CallbackJob:
    """A pending callback claimed for delivery."""

    id: int
    token_id: str
    message_id: str
    url: str
    body: str
    attempts: int  # failed deliveries so far


CallbackFactory = Callable[[CodeRecord], "NewCallback | None"]


def window_start(now: float, seconds: int) -> int:
    """The start of the fixed rate-limit window ``now`` falls in."""
    return math.floor(now / seconds) * seconds


def retry_after(now: float, seconds: int) -> int:
    """Whole seconds until the current window ends (at least 1)."""
    return max(1, math.ceil(window_start(now, seconds) + seconds - now))


class Store(ABC):
    """Persistent state of the engine: tokens, codes and rate-limit counters."""

    # -- tokens ------------------------------------------------------------------------
    @abstractmethod
    def add_token(self, record: TokenRecord) -> None:
        """Store a new token; :class:`DuplicateToken` if its id or digest exists."""

    @abstractmethod
    def put_token(self, record: TokenRecord) -> None:
        """Insert or replace the token with ``record.id`` (declared tokens)."""

    @abstractmethod
    def token_by_digest(self, digest: str) -> TokenRecord | None:
        """The token with this digest, revoked or not."""

    @abstractmethod
    def list_tokens(self) -> list[TokenRecord]:
        """Every token, oldest first."""

    @abstractmethod
    def revoke_token(self, token_id: str, now: float) -> bool:
        """Revoke; False when there is no such unrevoked token."""

    # -- codes -------------------------------------------------------------------------
    @abstractmethod
    def client_ref_taken(self, token_id: str, client_ref: str) -> bool:
        """A cheap pre-check; :meth:`insert_code` stays the authority."""

    @abstractmethod
    def insert_code(self, code: NewCode) -> int:
        """Store a pending code and return its id.

        Raises :class:`DuplicateClientRef` or :class:`DuplicateMessageId`.
        """

    @abstractmethod
    def activate_code(
        self,
        code_id: int,
        callback: NewCallback | None = None,
        early_report: CallbackFactory | None = None,
    ) -> CodeState:
        """Pending → live after the gateway accepted it, superseding older live codes
        for the same (token, phone), and queue ``callback`` in the same transaction; if a
        delivery report already arrived while the code was pending, queue
        ``early_report(record)`` after it. Returns ``superseded`` when a newer code of the
        same phone went live first (two sends raced), else ``live``."""

    @abstractmethod
    def record_delivery(
        self, message_id: str, status: str, at: float, callback: CallbackFactory
    ) -> bool:
        """Store a delivery report and, for a sent code, queue ``callback(record)`` (if not
        None) in the same transaction; a pending code keeps the report for
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
        """Atomically live → used if still live, unexpired and under the attempt limit.

        True for exactly one caller, however many race.
        """

    @abstractmethod
    def count_failure(self, code_id: int, now: float, max_attempts: int) -> bool:
        """Atomically record a wrong attempt on a live code; the attempt that reaches
        ``max_attempts`` locks it. False (nothing recorded) when the code was no longer
        live, so parallel guesses never record more than the limit."""

    # -- callback outbox ---------------------------------------------------------------
    @abstractmethod
    def claim_callbacks(self, now: float, limit: int, lease: float) -> list[CallbackJob]:
        """Up to ``limit`` pending callbacks due by ``now``, oldest queued first, hidden
        from other claimers for ``lease`` seconds (a dispatcher that dies mid-delivery is
        thus retried)."""

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

    # -- rate limits -------------------------------------------------------------------
    @abstractmethod
    def take(self, key: str, limit: int, seconds: int, now: float) -> int | None:
        """Count one event against ``key``'s window. None when it was under the limit;
        otherwise nothing is counted and the seconds to wait are returned."""

    @abstractmethod
    def peek(self, key: str, limit: int, seconds: int, now: float) -> int | None:
        """Like :meth:`take` but counts nothing."""

    # -- housekeeping ------------------------------------------------------------------
    @abstractmethod
    def purge(self, now: float, retention: float) -> int:
        """Delete codes expired more than ``retention`` seconds ago, settled callbacks as
        old, and stale counters; return how many codes went."""

    def ping(self, now: float) -> None:  # noqa: B027 - optional hook, not abstract
        """A round trip that writes, for readiness probes: raises :class:`StoreUnavailable`
        when the store cannot take the writes requests need (a no-op where it always can)."""

    def close(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Release connections (a no-op where there are none)."""
