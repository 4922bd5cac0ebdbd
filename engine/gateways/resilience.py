"""Gateways that stay out of the way when the real one is in trouble.

* :class:`CircuitBreaker`: after ``failures`` sends in a row failed for the gateway's own
  reasons (no answer, 5xx, refused connections), sends fail at once for ``pause``
  seconds instead of each holding a server thread for the whole deadline; then one send
  tries again, and its success closes the circuit.
* :class:`Failover`: sends through a second gateway (another account or URL) when the
  first certainly did not take the message. A send the first may have taken (it got no
  answer) is not repeated elsewhere: each code is sent at most once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from .base import Gateway, GatewayError, SmsMessage

log = logging.getLogger("tfa.gateway")


def counts_against_gateway(error: GatewayError) -> bool:
    """True unless the gateway refused this message itself (HTTP 400): a rejected message
    says nothing about the gateway's health."""
    return getattr(error, "status", None) != 400


class CircuitBreaker(Gateway):
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
        self.gateway = gateway
        self.failures = failures
        self.pause = pause
        self.name = name
        self.deadline = gateway.deadline
        self._clock = clock
        self._lock = threading.Lock()
        self._failed = 0  # sends failed in a row
        self._open_until: float | None = None
        self._trial = False  # a send is trying the gateway while the circuit is half-open

    @property
    def label(self) -> str:
        return self.gateway.label

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

    def send(self, message: SmsMessage) -> None:
        self._admit()
        try:
            self.gateway.send(message)
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

    def check(self) -> None:
        self.gateway.check()

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

    def close(self) -> None:
        self.gateway.close()


class Failover(Gateway):
    """Sends through ``primary``, and through ``fallback`` when the primary certainly did
    not take the message."""

    def __init__(self, primary: Gateway, fallback: Gateway) -> None:
        self.primary = primary
        self.fallback = fallback
        self.deadline = primary.deadline + fallback.deadline

    @property
    def label(self) -> str:
        return self.primary.label

    def send(self, message: SmsMessage) -> None:
        try:
            self.primary.send(message)
            return
        except GatewayError as exc:
            if exc.maybe_sent:
                raise  # it may be on its way: a second send could deliver it twice
            log.warning("primary gateway failed (%s): sending message_id=%s by the fallback",
                        exc.reason, message.message_id)
        self.fallback.send(message)

    def check(self) -> None:
        self.primary.check()
        self.fallback.check()

    def close(self) -> None:
        self.primary.close()
        self.fallback.close()
