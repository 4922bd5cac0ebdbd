"""Codes between the gateway's acceptance and the service recording it, and codes whose
sender died there: they validate, and their client_refs come free."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fake_clock import FakeClock

from tfa_engine import Engine, EngineConfig, MemoryGateway, catalogue
from tfa_engine._engine import PENDING_MARGIN
from tfa_engine.gateways import SmsMessage
from tfa_engine.store import NewCode, Store

IP = "127.0.0.1"
UK = "+447911123456"
PREFIX = "Your authentication code is: "


class FastUser(MemoryGateway):
    """A gateway whose recipient types the code in before the gateway's answer is back."""

    def __init__(self) -> None:
        super().__init__()
        self.typed: Callable[[str], Any] = lambda code: None
        self.verdicts: list[int] = []

    def send(self, message: SmsMessage) -> None:
        super().send(message)
        self.verdicts.append(self.typed(message.text.removeprefix(PREFIX)))


def engine_on(store: Store, gateway: MemoryGateway, clock: FakeClock) -> Engine:
    """An engine with cheap hashing and no DNS."""
    return Engine(store, gateway, EngineConfig(argon2_profile="test"), clock=clock,
                  resolver=None)


def test_a_code_typed_before_the_gateway_answered_is_valid(
    store: Store, clock: FakeClock
) -> None:
    """The SMS arrives and the user types the code while the service still waits for the
    gateway's answer: Valid, and the code is then used up."""
    gateway = FastUser()
    engine = engine_on(store, gateway, clock)
    token = engine.create_token("shop").token
    gateway.typed = lambda code: engine.validate_code(token, IP, "login", code).status.code
    sent = engine.request_code(token, IP, {"client_ref": "login", "phone_number": UK})
    assert sent.status == catalogue.SUCCESS
    assert gateway.verdicts == [catalogue.VALID.code]
    code = gateway.messages[0].text.removeprefix(PREFIX)
    assert engine.validate_code(token, IP, "login", code).status == catalogue.INVALID


def test_wrong_guesses_during_the_send_are_counted(store: Store, clock: FakeClock) -> None:
    """Guesses against a code not yet recorded as sent count towards its attempt limit."""
    gateway = FastUser()
    engine = engine_on(store, gateway, clock)
    issued = engine.create_token("shop")

    def guess_wrong(code: str) -> list[int]:
        wrong = str((int(code) + 1) % 10**6).zfill(6)
        return [engine.validate_code(issued.token, IP, "login", wrong).status.code
                for _ in range(5)]

    gateway.typed = guess_wrong
    engine.request_code(issued.token, IP, {"client_ref": "login", "phone_number": UK})
    assert gateway.verdicts == [[catalogue.DECLINED.code] * 5]
    code = gateway.messages[0].text.removeprefix(PREFIX)
    assert engine.validate_code(issued.token, IP, "login", code).status == catalogue.INVALID


def orphan(engine: Engine, token_id: str, client_ref: str, code: str, at: float) -> None:
    """What a process killed while sending leaves: a pending code, its SMS maybe out."""
    engine.store.insert_code(NewCode(
        "10000000000000000001", token_id, client_ref, UK, engine.hasher.hash(code), 6, False,
        "TFA", None, at, at + engine.config.code_ttl, "job",
    ))


def test_a_client_ref_left_pending_by_a_dead_sender_comes_free(
    store: Store, clock: FakeClock
) -> None:
    """-52 while the sender might still be at work; once the gateway's deadline (and the
    margin) has passed, the same client_ref sends a new code."""
    gateway = MemoryGateway()
    engine = engine_on(store, gateway, clock)
    issued = engine.create_token("shop")
    orphan(engine, issued.record.id, "login", "123456", clock())
    body = {"client_ref": "login", "phone_number": UK}
    assert engine.request_code(issued.token, IP, body).status == catalogue.CLIENT_REF_EXISTS
    clock.advance(gateway.deadline + PENDING_MARGIN)
    assert engine.request_code(issued.token, IP, body).status == catalogue.SUCCESS
    new_code = gateway.last_to(UK).text.removeprefix(PREFIX)
    assert engine.validate_code(issued.token, IP, "login", new_code).status == catalogue.VALID


def test_a_code_left_pending_by_a_dead_sender_validates(store: Store, clock: FakeClock) -> None:
    """The SMS went out before the sender died: its code still validates, once."""
    engine = engine_on(store, MemoryGateway(), clock)
    issued = engine.create_token("shop")
    orphan(engine, issued.record.id, "login", "123456", clock())
    clock.advance(30)
    assert engine.validate_code(issued.token, IP, "login", "123456").status == catalogue.VALID
    assert engine.validate_code(issued.token, IP, "login", "123456").status == catalogue.INVALID


def test_codes_left_pending_are_purged_once_expired(store: Store, clock: FakeClock) -> None:
    """Pending leftovers never pile up: purge removes them once they expire."""
    engine = engine_on(store, MemoryGateway(), clock)
    issued = engine.create_token("shop")
    orphan(engine, issued.record.id, "login", "123456", clock())
    clock.advance(engine.config.code_ttl)
    assert engine.purge() == 1
    assert engine.store.find_code(issued.record.id, "login") is None
