"""Gateways that stay out of the way when the real one is in trouble.

* :class:`CircuitBreaker`: after ``failures`` sends in a row failed for the gateway's own
  reasons (no answer, 5xx, refused connections), sends fail at once for ``pause``
  seconds instead of each holding a server thread for the whole deadline; then one send
  tries again, and its success closes the circuit.
* :class:`Bulkhead`: at most ``slots`` sends wait on the gateway at once; a send that
  finds none free within ``wait`` seconds fails without reaching it, so a slow or stalled
  gateway cannot hold every server thread and starve validations.

They compose as ``Bulkhead(RoutedGateway({a: CircuitBreaker(a), b: CircuitBreaker(b)}))``: the
bulkhead outermost, so a send it refuses never reaches a breaker (a full bulkhead says
nothing about the gateway's health), while the sends it lets through still time out
inside their breaker and open it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ._base import Accepted, Gateway, GatewayError, SmsMessage, WrappingGateway

log = logging.getLogger("tfa.gateway")

# How long a send waits for a free slot. At a healthy gateway that is merely busy, a slot
# frees every latency/slots seconds (6 to 20 ms for answers in 100 to 300 ms with 16
# slots), so a send arriving just after the last one was taken still gets through. While
# the gateway hangs, every send beyond the slots holds a server thread this long before
# its -65: a burst of N of them on the threads the slots leave delays the requests queued
# behind it by about N / spare threads times this (64 sends at 32 threads, 60 ms).
SLOT_WAIT = 0.02


# Client errors that are about the account or the pace, not about one message: the gateway
# is not usable as it is, and the breaker should hear of it.
_ACCOUNT_STATUSES = frozenset({401, 403, 408, 429})


def counts_against_gateway(error: GatewayError) -> bool:
    """True unless the gateway answered and refused this message itself (a 4xx about the
    message, or a 2xx whose answer says not taken, as Vonage's does): a rejected message
    says nothing about the gateway's health."""
    status = getattr(error, "status", None)
    if not isinstance(status, int):
        return True  # no answer, or a gateway with no HTTP status: its health is in doubt
    refused = 200 <= status < 300 or (400 <= status < 500 and status not in _ACCOUNT_STATUSES)
    return not refused


class CircuitBreaker(WrappingGateway):
    """Fails fast while ``gateway`` keeps failing."""

    def __init__(
        self,
        gateway: Gateway,
        *,
        failures: int = 5,
        pause: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        name: str = "gateway",
    ) -> None:
        if failures < 1 or pause <= 0:
            raise ValueError("a circuit breaker needs failures >= 1 and pause > 0")
        super().__init__(gateway)
        self.failures = failures
        self.pause = pause
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()
        self._failed = 0  # sends failed in a row
        self._open_until: float | None = None
        self._trial = False  # a send is trying the gateway while the circuit is half-open

    @property
    def is_open(self) -> bool:
        """True while sends fail without reaching the gateway."""
        with self._lock:
            return self._open_until is not None and self._clock() < self._open_until

    def _admit(self) -> None:
        with self._lock:
            if self._open_until is None:
                return
            left = self._open_until - self._clock()
            if left <= 0 and not self._trial:
                self._trial = True  # half-open: this send tries the gateway
                return
        raise GatewayError(
            f"{self.name}: circuit open after {self.failures} failures in a row",
            retry_after=max(left, 1.0),
        )

    def send(self, message: SmsMessage) -> Accepted | None:
        self._admit()
        try:
            accepted = self.gateway.send(message)
        except GatewayError as exc:
            if counts_against_gateway(exc):
                self._failure()
            else:
                self._success()
            raise
        except BaseException:
            self._release_trial()
            raise
        self._success()
        return accepted

    def _failure(self) -> None:
        with self._lock:
            self._failed += 1
            self._trial = False
            if self._failed >= self.failures:
                if self._open_until is None:
                    log.warning("%s failed %d times in a row: failing fast for %gs",
                                self.name, self._failed, self.pause)
                self._open_until = self._clock() + self.pause

    def _success(self) -> None:
        with self._lock:
            if self._open_until is not None:
                log.info("%s answers again: circuit closed", self.name)
            self._failed = 0
            self._open_until = None
            self._trial = False

    def _release_trial(self) -> None:
        with self._lock:
            self._trial = False


class SlotsBusy(GatewayError):
    """Every slot of a :class:`Bulkhead` stayed taken: the message never left."""


class Bulkhead(WrappingGateway):
    """Lets at most ``slots`` sends wait on ``gateway`` at once.

    A send that finds no slot free within ``wait`` seconds raises :class:`SlotsBusy` (a
    :class:`GatewayError` with ``maybe_sent`` False): the engine answers -65 and frees
    the client_ref. A slot is released however the send ends.
    """

    def __init__(
        self, gateway: Gateway, slots: int, *, wait: float = SLOT_WAIT, name: str = "gateway"
    ) -> None:
        if slots < 1 or wait < 0:
            raise ValueError("a bulkhead needs slots >= 1 and wait >= 0")
        super().__init__(gateway)
        self.slots = slots
        self.wait = wait
        self.name = name
        # A send may wait for its slot before the gateway's own deadline starts.
        self.deadline = gateway.deadline + wait
        self._free = threading.BoundedSemaphore(slots)
        self._lock = threading.Lock()
        self._busy = 0
        self._waiting = 0

    @property
    def busy(self) -> int:
        """Sends holding a slot now."""
        with self._lock:
            return self._busy

    @property
    def waiting(self) -> int:
        """Sends waiting for a slot now."""
        with self._lock:
            return self._waiting

    def send(self, message: SmsMessage) -> Accepted | None:
        with self._lock:
            self._waiting += 1
        try:
            acquired = self._free.acquire(timeout=self.wait)
        finally:
            with self._lock:
                self._waiting -= 1
        if not acquired:
            raise SlotsBusy(
                f"{self.name}: no gateway slot free within {self.wait:g}s "
                f"({self.slots} sends already waiting on the gateway)"
            )
        with self._lock:
            self._busy += 1
        try:
            return self.gateway.send(message)
        finally:
            with self._lock:
                self._busy -= 1
            self._free.release()
