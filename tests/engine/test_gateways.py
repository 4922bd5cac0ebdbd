"""The gateways every deployment and test can use: memory and console."""

from __future__ import annotations

import io

import pytest

from tfa_engine.gateways import ConsoleGateway, Gateway, GatewayError, MemoryGateway, SmsMessage

MESSAGE = SmsMessage("10000000000000000001", "+447911123456", "TFA", "Your code: 123456")


def message(n: int, recipient: str = "+447911123456") -> SmsMessage:
    """The n-th test message to ``recipient``."""
    return SmsMessage(f"{10**19 + n}", recipient, "TFA", f"Your code: {n:06d}")


def test_memory_gateway_keeps_messages_in_order() -> None:
    """Accepted messages are kept, oldest first."""
    gateway = MemoryGateway()
    gateway.send(message(1))
    gateway.send(message(2))
    assert gateway.messages == [message(1), message(2)]


def test_memory_gateway_messages_is_a_copy() -> None:
    """Changing the returned list does not change what the gateway holds."""
    gateway = MemoryGateway()
    gateway.send(MESSAGE)
    gateway.messages.clear()
    assert gateway.messages == [MESSAGE]


def test_memory_gateway_failure_raises_the_given_error() -> None:
    """With ``failure`` set, send raises exactly that GatewayError and keeps nothing."""
    gateway = MemoryGateway()
    failure = GatewayError("gateway down", retry_after=2.5)
    gateway.failure = failure
    with pytest.raises(GatewayError) as raised:
        gateway.send(MESSAGE)
    assert raised.value is failure
    assert gateway.messages == []


def test_memory_gateway_counts_attempts_including_failures() -> None:
    """``attempts`` counts every send, accepted or refused."""
    gateway = MemoryGateway()
    gateway.send(message(1))
    gateway.failure = GatewayError("down")
    with pytest.raises(GatewayError):
        gateway.send(message(2))
    gateway.failure = None
    gateway.send(message(3))
    assert gateway.attempts == 3
    assert gateway.messages == [message(1), message(3)]


def test_memory_gateway_last_to() -> None:
    """last_to gives the newest message for a recipient."""
    gateway = MemoryGateway()
    gateway.send(message(1, "+447911123456"))
    gateway.send(message(2, "+4915123456789"))
    gateway.send(message(3, "+447911123456"))
    assert gateway.last_to("+447911123456") == message(3, "+447911123456")
    assert gateway.last_to("+4915123456789") == message(2, "+4915123456789")


def test_memory_gateway_last_to_unknown_recipient() -> None:
    """last_to raises LookupError when nothing went to that recipient."""
    with pytest.raises(LookupError):
        MemoryGateway().last_to("+447911123456")


def test_console_gateway_line_format() -> None:
    """The console gateway writes "SMS to <recipient> from <sender>: <text>" and a newline."""
    stream = io.StringIO()
    ConsoleGateway(stream=stream).send(MESSAGE)
    assert stream.getvalue() == "SMS to +447911123456 from TFA: Your code: 123456\n"


def test_console_gateway_one_line_per_message() -> None:
    """Each message is one line, in order."""
    stream = io.StringIO()
    gateway = ConsoleGateway(stream=stream)
    gateway.send(message(1))
    gateway.send(message(2))
    assert stream.getvalue().splitlines() == [
        "SMS to +447911123456 from TFA: Your code: 000001",
        "SMS to +447911123456 from TFA: Your code: 000002",
    ]


def test_console_gateway_defaults_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a stream the console gateway prints to standard output."""
    ConsoleGateway().send(MESSAGE)
    assert capsys.readouterr().out == "SMS to +447911123456 from TFA: Your code: 123456\n"


def test_sms_repr_hides_the_text() -> None:
    """A message's repr does not show its text (it holds the code)."""
    sms = SmsMessage("10000000000000000001", "+447911123456", "TFA", "Your code: 908172")
    assert "908172" not in repr(sms)


def test_gateway_error_carries_reason_and_retry_after() -> None:
    """A GatewayError keeps its reason and optional retry_after."""
    error = GatewayError("rate limited", retry_after=1.5)
    assert (error.reason, error.retry_after, str(error)) == ("rate limited", 1.5, "rate limited")
    assert GatewayError("down").retry_after is None


def test_gateway_is_abstract() -> None:
    """A gateway without send cannot be built."""
    with pytest.raises(TypeError):
        Gateway()  # type: ignore[abstract]


@pytest.mark.parametrize("gateway", [MemoryGateway(), ConsoleGateway(io.StringIO())])
def test_close_is_harmless(gateway: Gateway) -> None:
    """Closing a gateway without connections does nothing and can be repeated."""
    gateway.close()
    gateway.close()
