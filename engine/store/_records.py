"""The records the storage contract (:mod:`._base`) passes: a code to store and a code as
read back, what a send must pass (:class:`SendPolicy`), a look at what its admission would
decide and what it did, what activating a code or storing a delivery report did, and a
callback claimed for delivery; with :func:`retry_after`, the wait a sliding window sets.
Every backend builds and reads them alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

CodeState = Literal["pending", "live", "used", "locked", "superseded"]
NEVER = float("-inf")  # a ``stale_before`` no pending code is older than


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
    """A stored code, as read back. ``sent_at`` is when the gateway accepted its SMS (None
    while it never did: still being sent, or left by a sender that died)."""

    id: int = 0
    state: CodeState = "pending"
    attempts: int = 0
    delivery_status: str | None = None
    delivered_at: float | None = None
    sent_at: float | None = None
    gateway: str | None = None  # the gateway that took its SMS
    provider_id: str | None = None  # that gateway's id of the SMS, which its reports name

    def is_live(self, now: float) -> bool:
        """Can still be validated: unexpired, and live or pending. A pending code's SMS
        may be out already (the gateway answered, or the process sending it died): who
        holds the code got it from that SMS."""
        return self.state in ("live", "pending") and now < self.expires_at


@dataclass(frozen=True)
class Allowance:
    """A sliding-window limit a send uses up: at most ``count`` sends per ``seconds`` under
    ``key`` (``phone-sends:+44...``, ``sms-token:tok_...``, ``sms-service``)."""

    key: str
    count: int
    seconds: int


@dataclass(frozen=True)
class FraudRule:
    """The fraud guard's rule for one send: the token's traffic to the number range
    ``prefix`` is held for ``window`` seconds once at least ``min_sends`` codes went there
    within the window (or since the range's last release) and fewer than ``min_conversion``
    percent of them were validated."""

    prefix: str
    window: int
    min_sends: int
    min_conversion: int


@dataclass(frozen=True)
class SendPolicy:
    """What a send must pass, checked and taken in the one transaction storing its code:
    the phone's send limit, the allowances in order, then the fraud guard.

    ``phone_sends`` is counted from the phone's codes themselves (every token's), leaving
    out those whose delivery report said the user never got them (UNDELIV, REJECTD,
    EXPIRED): a user who asks again for a code they never received is not refused for it.
    ``reroute`` (seconds) looks that far back for the gateways that failed to deliver to
    the phone, which the send should try last (:attr:`Admission.avoid`).
    """

    allowances: tuple[Allowance, ...] = ()
    fraud: FraudRule | None = None
    phone: str | None = None  # the recipient (E.164), for phone_sends and reroute
    phone_sends: Allowance | None = None
    reroute: int | None = None
    # The request itself (the token's request limit): judged first, and counted whatever
    # the answer but its own refusal, a duplicate client_ref included.
    requests: Allowance | None = None


FRAUD = "fraud"  # Refusal.by of a send the fraud guard holds


@dataclass(frozen=True)
class Refusal:
    """Why a send may not go now: ``by`` names the allowance's key, or :data:`FRAUD`;
    ``retry_after`` is the whole seconds until it may."""

    by: str
    retry_after: int


@dataclass(frozen=True)
class Admission:
    """What :meth:`CodeStore.admit_code` did: the stored code's id, or the refusal (nothing
    stored, no allowance used). ``fraud_held`` is (codes sent, codes validated) when this
    call started a hold; ``fraud_released`` when it ended one whose time was up."""

    code_id: int | None = None
    refusal: Refusal | None = None
    fraud_held: tuple[int, int] | None = None
    fraud_released: bool = False
    avoid: tuple[str, ...] = ()  # gateways that recently failed to deliver to the phone


@dataclass(frozen=True)
class Recorded:
    """A delivery report stored: ``gateway`` names the gateway that took the code's SMS
    (None while the code is still being sent: its activation then tells the report)."""

    gateway: str | None = None


@dataclass(frozen=True)
class Activation:
    """What activating a code did: its ``state`` after, and the status of a delivery
    report that came before the activation (None when none did, or when the code was
    activated already)."""

    state: CodeState
    reported: str | None = None


@dataclass(frozen=True)
class SendPreview:
    """A look, writing nothing, at what :meth:`CodeStore.admit_code` would decide now, so
    that a request it would refuse costs no hashing: whether the client_ref is taken, and
    the first refusal among the allowances and a hold in force."""

    client_ref_taken: bool = False
    refusal: Refusal | None = None


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
    claim: str = ""  # the claim that holds it: only its holder may renew or settle it


def retry_after(admitted_at: float, seconds: int, now: float) -> int:
    """Whole seconds (at least 1) until an event admitted at ``admitted_at`` leaves a
    window of ``seconds``."""
    return max(1, math.ceil(admitted_at + seconds - now))
