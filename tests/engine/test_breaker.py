"""What opens a gateway's circuit breaker: failures that say the gateway is unwell (no
answer, 5xx, refused credentials, throttling), not a message the gateway answered and
refused (a 4xx about it, or a 2xx saying not taken)."""

from __future__ import annotations

import pytest

from tfa_engine.gateways import (
    CircuitBreaker,
    GatewayError,
    MediariverError,
    MemoryGateway,
    SmsMessage,
)

MESSAGE = SmsMessage("m", "+447911123456", "Shop", "Your code is 123456")


def breaker_after_failures(error: GatewayError) -> tuple[CircuitBreaker, MemoryGateway]:
    """A breaker (2 failures, 60 s) whose gateway failed twice with ``error``, then heals."""
    gateway = MemoryGateway("g")
    gateway.failure = error
    breaker = CircuitBreaker(gateway, failures=2, pause=60, name="g")
    for _ in range(2):
        with pytest.raises(GatewayError):
            breaker.send(MESSAGE)
    gateway.failure = None
    return breaker, gateway


@pytest.mark.parametrize("status", [None, 500, 503, 401, 403, 429])
def test_failures_of_the_gateway_open_the_circuit(status: int | None) -> None:
    """No answer, 5xx, refused credentials or throttling, twice: the next send fails fast
    without reaching the gateway."""
    breaker, gateway = breaker_after_failures(
        MediariverError("failed", status=status, attempts=1))
    with pytest.raises(GatewayError):
        breaker.send(MESSAGE)
    assert gateway.attempts == 2


@pytest.mark.parametrize("status", [400, 404, 422, 200])
def test_messages_the_gateway_refused_leave_the_circuit_closed(status: int) -> None:
    """A 4xx about the message, or a 2xx whose answer says not taken, twice: the gateway
    answered, so the next send reaches it."""
    breaker, gateway = breaker_after_failures(
        MediariverError("refused", status=status, attempts=1))
    breaker.send(MESSAGE)
    assert gateway.attempts == 3
