"""A validation in memory (see :mod:`._memory`): the one read of the token, its code and
the two limits a validation judges by, and the steps that use up the code or record a
wrong attempt, each counting the request against the token's limit first."""

from __future__ import annotations

from dataclasses import replace

from ._base import CodeStore, LimitStore, TokenStore
from ._memory import MemoryState
from ._records import Allowance, CodeRecord
from ._validation import (
    RequestLimited,
    Validation,
    Window,
    failures_key,
    requests_key,
)


class MemoryValidation(MemoryState, TokenStore, CodeStore, LimitStore):
    """A validation's steps (of :class:`CodeStore`) in memory. The token, the code and the
    limits are read through the store's own methods, which other concerns provide."""

    def _open(self, code_id: int, now: float, max_attempts: int) -> CodeRecord | None:
        record = self._codes.get(code_id)
        if record is None or not record.is_live(now) or record.attempts >= max_attempts:
            return None
        return record

    def look_up_validation(
        self, digest: str, client_ref: str | None, now: float,
        requests: Window | None = None, failures: Window | None = None,
    ) -> Validation:
        with self._lock:
            token = self.token_by_digest(digest)
            if token is None:
                return Validation()
            code = None if client_ref is None else self.find_code(token.id, client_ref)
            return Validation(
                token=token, code=code,
                requests_wait=self._wait(requests_key(token.id), requests, now),
                failures_wait=None if code is None else self._wait(
                    failures_key(token.id, code.phone), failures, now),
            )

    def _wait(self, key: str, window: Window | None, now: float) -> int | None:
        return None if window is None else self.peek(key, window.count, window.seconds, now)

    def _take_request(self, request: Allowance | None, now: float) -> None:
        if request is not None:
            wait = self.take(request.key, request.count, request.seconds, now)
            if wait is not None:
                raise RequestLimited(wait)

    def consume_code(
        self, code_id: int, now: float, max_attempts: int, request: Allowance | None = None
    ) -> bool:
        with self._lock:
            self._take_request(request, now)
            record = self._open(code_id, now, max_attempts)
            if record is None:
                return False
            self._codes[code_id] = replace(record, state="used")
            return True

    def count_failure(
        self, code_id: int, now: float, max_attempts: int, failures: Allowance | None = None,
        request: Allowance | None = None,
    ) -> int | None:
        with self._lock:
            self._take_request(request, now)
            record = self._open(code_id, now, max_attempts)
            if record is None:
                return None
            attempts = record.attempts + 1
            state = "locked" if attempts >= max_attempts else record.state
            self._codes[code_id] = replace(record, attempts=attempts, state=state)
            if failures is not None:
                self._count(failures, now)
            return attempts
