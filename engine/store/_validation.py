"""What a validate-code reads and writes in one step each: the limits it judges by, the
lookup of its token, code and limits together, and the refusal of a request over its
token's limit found as the validation is written."""

from __future__ import annotations

from dataclasses import dataclass

from .._access import TokenRecord
from ._base import CodeRecord

# The keys of the limits a validation counts against; SQL builds the same from the rows.
REQUESTS_PREFIX = "token:"
FAILURES_PREFIX = "phone-failures:"


def requests_key(token_id: str) -> str:
    """The key of a token's request limit (every authenticated request counts)."""
    return REQUESTS_PREFIX + token_id


def failures_key(token_id: str, phone: str) -> str:
    """The key of a phone's failed validations under a token: one tenant's guesses never
    lock another tenant's users out."""
    return f"{FAILURES_PREFIX}{token_id}:{phone}"


@dataclass(frozen=True)
class Window:
    """A sliding-window limit whose key the store finds itself: ``count`` events per
    ``seconds``."""

    count: int
    seconds: int


@dataclass(frozen=True)
class Validation:
    """What :meth:`~tfa_engine.store.Store.look_up_validation` read: the token with the
    digest (revoked or not; None when there is none), its code of the client_ref (None when
    there is none), and the whole seconds until the token's request limit and the code's
    phone's failure limit each admit one more (None: they do now)."""

    token: TokenRecord | None = None
    code: CodeRecord | None = None
    requests_wait: int | None = None
    failures_wait: int | None = None


class RequestLimited(Exception):
    """The token's request limit was used up when a validation came to be written: nothing
    was written. ``retry_after``: whole seconds until it admits one more."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"request limit used up; retry after {retry_after} s")
        self.retry_after = retry_after
