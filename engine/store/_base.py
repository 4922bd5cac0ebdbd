"""The storage contract every backend honours, whatever the database.

Each method is one atomic step: it holds against every other thread and every other
process on the same database, so several servers on one database keep every invariant
(one success per code, attempts never above the limit, one live code per phone, no
window admitting more than its limit). No method holds a transaction while the caller
hashes or talks to a gateway, and no method calls back into engine code: the outbox
records what happened (the event and where to tell it) and callback bodies are built
when they are delivered.

The contract comes in concerns — tokens, codes, the callback outbox, rate limits, the
fraud guard, administrative events (:mod:`.admin`) — that one :class:`Store` carries
together. The records its methods take and return are in :mod:`._records`, and can be
imported from here as well.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from .._access import TokenRecord
from ._admin import AdminEventStore
from ._records import FRAUD as FRAUD
from ._records import NEVER as NEVER
from ._records import Activation as Activation
from ._records import Admission as Admission
from ._records import Allowance as Allowance
from ._records import CallbackJob as CallbackJob
from ._records import CodeRecord as CodeRecord
from ._records import CodeState as CodeState
from ._records import FraudRule as FraudRule
from ._records import NewCode as NewCode
from ._records import Recorded as Recorded
from ._records import Refusal as Refusal
from ._records import SendPolicy as SendPolicy
from ._records import SendPreview as SendPreview
from ._records import retry_after as retry_after

if TYPE_CHECKING:  # _validation builds on the records imported here
    from ._validation import Validation, Window


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

    def insert_code(self, code: NewCode, stale_before: float = NEVER) -> int:
        """Store a pending code with no limit to pass and return its id (see
        :meth:`admit_code`)."""
        admitted = self.admit_code(code, SendPolicy(), stale_before)
        assert admitted.code_id is not None  # an empty policy refuses nothing
        return admitted.code_id

    @abstractmethod
    def preview_send(
        self, token_id: str, client_ref: str, policy: SendPolicy, now: float,
        stale_before: float = NEVER,
    ) -> SendPreview:
        """What :meth:`admit_code` would refuse now, writing nothing (a hint: the traffic
        count of the fraud guard is left to the admission)."""

    @abstractmethod
    def admit_code(
        self, code: NewCode, policy: SendPolicy, stale_before: float = NEVER
    ) -> Admission:
        """In one atomic step: check that the (token, client_ref) is free, then each of the
        policy's allowances, then the fraud guard (which may start a hold, or end one whose
        time is up, even when it refuses); then store the code as ``pending`` and use up one
        of each allowance at ``code.created_at``. A refused send stores nothing and uses up
        nothing, however many race: parallel duplicates of one client_ref use up the
        allowances of one send. A code of the same (token, client_ref) that was never sent
        and was made before ``stale_before`` (its sender died) is replaced.

        Raises :class:`DuplicateClientRef` (before any limit is looked at) or
        :class:`DuplicateMessageId`.
        """

    @abstractmethod
    def activate_code(
        self, code_id: int, now: float, gateway: str | None = None,
        provider_id: str | None = None,
    ) -> Activation:
        """The gateway accepted the code's SMS (``sent_at`` becomes ``now``; ``gateway``
        names it and ``provider_id`` is its id of the SMS): pending → live,
        superseding every older code of the same (token, phone) that could still be
        validated — live ones, and pending ones (still being sent, or left by a sender that
        died) —, or born ``superseded`` when a newer code of the phone went live first. A
        code validated, locked or superseded while pending keeps that state, and still
        supersedes older ones. The first activation queues the ``INTERNAL`` callback (at
        ``now``) when the code has a callback URL, then the ``SMS`` callback of a delivery
        report that came before it. Returns the code's state and that report's status;
        an activation repeated changes and queues nothing. :class:`StoreError` when the
        code is not stored (discarded, or replaced as stale)."""

    @abstractmethod
    def record_delivery(self, message_id: str, status: str, at: float) -> Recorded | None:
        """Store a delivery report and, for a code no longer pending with a callback URL,
        queue its ``SMS`` callback; a pending code keeps the report for
        :meth:`activate_code`. None, with nothing stored, for an unknown message_id or a
        report repeating the stored status (gateways resend reports)."""

    @abstractmethod
    def message_of(self, gateway: str, provider_id: str) -> str | None:
        """The message_id of the code whose SMS ``gateway`` took under ``provider_id`` (what
        its own delivery reports name), None while no such code is stored."""

    @abstractmethod
    def discard_code(self, code_id: int) -> None:
        """Delete a pending code (the gateway refused it), freeing its client_ref."""

    @abstractmethod
    def find_code(self, token_id: str, client_ref: str) -> CodeRecord | None:
        """The code stored for (token, client_ref), in any state."""

    @abstractmethod
    def look_up_validation(
        self, digest: str, client_ref: str | None, now: float,
        requests: Window | None = None, failures: Window | None = None,
    ) -> Validation:
        """In one read, what a validation judges by: the token with this digest, its code
        of ``client_ref`` (none looked for when None), and how long until the token's
        ``requests`` limit (key :func:`~tfa_engine.store.requests_key`) and the code's
        phone's ``failures`` limit (:func:`~tfa_engine.store.failures_key`) admit one more
        at ``now`` (a hint, as :meth:`LimitStore.peek`: the writes judge again)."""

    @abstractmethod
    def consume_code(
        self, code_id: int, now: float, max_attempts: int, request: Allowance | None = None
    ) -> bool:
        """Atomically mark a live or pending code used, if unexpired and under the attempt
        limit. True for exactly one caller, however many race. With ``request``, the
        request is counted against it in the same atomic step first (whatever the code's
        state); :class:`~tfa_engine.store.RequestLimited`, with nothing written, when that
        limit is used up."""

    @abstractmethod
    def count_failure(
        self, code_id: int, now: float, max_attempts: int, failures: Allowance | None = None,
        request: Allowance | None = None,
    ) -> int | None:
        """Atomically record a wrong attempt on a live or pending code and return the
        attempts recorded so far; the attempt that reaches ``max_attempts`` locks it. None
        (nothing recorded) when the code was no longer open, so parallel guesses never
        record more than the limit. An attempt recorded is counted against ``failures``
        (the phone's failed validations) in the same atomic step, even past its count:
        no crash can leave a recorded attempt uncounted. ``request`` as for
        :meth:`consume_code`."""


class OutboxStore(ABC):
    """Callbacks waiting to be delivered (queued by :class:`CodeStore`)."""

    @abstractmethod
    def claim_callbacks(
        self, now: float, limit: int, lease: float, claim: str = ""
    ) -> list[CallbackJob]:
        """Up to ``limit`` pending callbacks due by ``now``, oldest queued first, hidden
        from every other claimer for ``lease`` seconds (a dispatcher that dies
        mid-delivery is thus retried) and marked with ``claim`` (each claimer's own)."""

    @abstractmethod
    def renew_callback(self, job: CallbackJob, until: float) -> bool:
        """Extend the claim on ``job`` to ``until`` before posting it; False (nothing
        changed) when the claim is no longer its holder's — its lease ran out and another
        claimer took it, or it was settled: the holder must not post it then."""

    @abstractmethod
    def callback_delivered(self, job_id: int, claim: str | None = None) -> None:
        """The receiver acknowledged the callback (recorded only while ``claim``, if given,
        still holds it)."""

    @abstractmethod
    def callback_failed(
        self, job_id: int, error: str, retry_at: float | None, claim: str | None = None
    ) -> None:
        """A delivery failed: count it and try again at ``retry_at``, or give up (None);
        recorded only while ``claim``, if given, still holds it."""

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
    """The number ranges the fraud guard holds (it judges inside
    :meth:`CodeStore.admit_code`)."""

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


class Store(TokenStore, CodeStore, OutboxStore, LimitStore, FraudStore, AdminEventStore):
    """Persistent state of the engine: tokens, codes, callbacks, rate-limit counters, the
    fraud guard's holds and administrative events."""

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
