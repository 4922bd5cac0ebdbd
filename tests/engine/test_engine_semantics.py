"""What a code does over its life, on an engine backed by a real SQLite file."""

from __future__ import annotations

import io
import re
import string
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from tfa_engine import (
    ConfigError,
    ConsoleGateway,
    Engine,
    EngineConfig,
    IssuedToken,
    MemoryGateway,
    SQLiteStore,
    catalogue,
)
from tfa_engine._hashing import CodeHasher
from tfa_engine._lookups import RESOLVE_TIMEOUT
from tfa_engine.gateways import GatewayError, SmsMessage

UK = "+447911123456"
DE = "+4915123456789"
FR = "+33612345678"
IP = "127.0.0.1"
TTL = 300

SendCode = Callable[..., tuple[str, str]]


def other_code(code: str) -> str:
    """A numeric code of the same length that differs from ``code`` in every position."""
    return "".join("1" if ch == "0" else "0" for ch in code)


class CrashingGateway(MemoryGateway):
    """A gateway that can be told to fail in a way the engine does not expect."""

    def __init__(self) -> None:
        super().__init__()
        self.crash: BaseException | None = None

    def send(self, message: SmsMessage) -> None:
        if self.crash is not None:
            raise self.crash
        super().send(message)


class CountingHasher(CodeHasher):
    """The cheap hasher, counting verifications."""

    def __init__(self) -> None:
        super().__init__("test")
        self.verifications = 0

    def verify(self, phc: str, code: str) -> bool:
        self.verifications += 1
        return super().verify(phc, code)


# -- single use and attempts ------------------------------------------------------------
def test_valid_code_is_single_use(engine: Engine, token: str, send_code: SendCode) -> None:
    """After "Valid", the same code is "Invalid"."""
    _, code = send_code(engine, token, "login")
    assert engine.validate_code(token, IP, "login", code).status is catalogue.VALID
    assert engine.validate_code(token, IP, "login", code).status is catalogue.INVALID


def test_fifth_wrong_try_is_declined_then_right_code_is_invalid(
    engine: Engine, token: str, send_code: SendCode
) -> None:
    """Five wrong tries are each "Declined"; the right code afterwards is "Invalid"."""
    _, code = send_code(engine, token, "login")
    answers = [engine.validate_code(token, IP, "login", other_code(code)) for _ in range(5)]
    assert [a.status for a in answers] == [catalogue.DECLINED] * 5
    assert engine.validate_code(token, IP, "login", code).status is catalogue.INVALID


@pytest.mark.parametrize("right", [True, False], ids=["right-code", "wrong-code"])
def test_locked_code_answers_invalid_whatever_is_submitted(
    engine: Engine, issued: IssuedToken, send_code: SendCode, right: bool
) -> None:
    """A locked code is "Invalid" for any value, and no further attempt is recorded."""
    _, code = send_code(engine, issued.token, "login")
    for _ in range(5):
        engine.validate_code(issued.token, IP, "login", other_code(code))
    submitted = code if right else other_code(code)
    outcome = engine.validate_code(issued.token, IP, "login", submitted)
    assert outcome.status is catalogue.INVALID
    record = engine.store.find_code(issued.record.id, "login")
    assert record is not None
    assert (record.state, record.attempts) == ("locked", 5)


@pytest.mark.parametrize("state", ["locked", "used", "expired"])
def test_dead_code_costs_no_hashing(
    sqlite_store: SQLiteStore,
    gateway: MemoryGateway,
    send_code: SendCode,
    clock: Any,
    state: str,
) -> None:
    """A dead code is answered "Invalid" without verifying the submitted value."""
    hasher = CountingHasher()
    engine = Engine(
        sqlite_store,
        gateway,
        EngineConfig(argon2_profile="test"),
        clock=clock,
        hasher=hasher,
        resolver=None,
    )
    token = engine.create_token("app").token
    _, code = send_code(engine, token, "login")
    if state == "locked":
        for _ in range(5):
            engine.validate_code(token, IP, "login", other_code(code))
    elif state == "used":
        engine.validate_code(token, IP, "login", code)
    else:
        clock.advance(TTL)
    before = hasher.verifications
    assert engine.validate_code(token, IP, "login", code).status is catalogue.INVALID
    assert hasher.verifications == before


def test_right_code_after_some_wrong_tries_is_valid(
    engine: Engine, token: str, send_code: SendCode
) -> None:
    """Wrong tries below the limit do not stop the right code."""
    _, code = send_code(engine, token, "login")
    for _ in range(4):
        engine.validate_code(token, IP, "login", other_code(code))
    assert engine.validate_code(token, IP, "login", code).status is catalogue.VALID


def test_token_max_attempts_override(engine: Engine, send_code: SendCode) -> None:
    """A token's max_attempts replaces the engine's: the 2nd wrong try locks the code."""
    token = engine.create_token("strict", max_attempts=2).token
    _, code = send_code(engine, token, "login")
    assert engine.validate_code(token, IP, "login", other_code(code)).status is catalogue.DECLINED
    assert engine.validate_code(token, IP, "login", other_code(code)).status is catalogue.DECLINED
    assert engine.validate_code(token, IP, "login", code).status is catalogue.INVALID


def test_code_of_another_token_is_not_found(
    engine: Engine, token: str, send_code: SendCode
) -> None:
    """A client_ref is looked up under the caller's token only."""
    _, code = send_code(engine, token, "login")
    other = engine.create_token("other").token
    assert engine.validate_code(other, IP, "login", code).status is catalogue.CODE_NOT_FOUND


def test_client_ref_that_is_not_unicode_text_is_not_found(engine: Engine, token: str) -> None:
    """Validating a client_ref holding a lone surrogate answers -55 instead of crashing."""
    outcome = engine.validate_code(token, IP, "login-\udcff", "123456")
    assert outcome.status is catalogue.CODE_NOT_FOUND


# -- supersede ----------------------------------------------------------------------------
def test_new_request_supersedes_older_code_for_the_same_phone(
    engine: Engine, token: str, send_code: SendCode
) -> None:
    """A second code for the same phone makes the first "Invalid"; the second is "Valid"."""
    _, first = send_code(engine, token, "first")
    _, second = send_code(engine, token, "second")
    assert engine.validate_code(token, IP, "first", first).status is catalogue.INVALID
    assert engine.validate_code(token, IP, "second", second).status is catalogue.VALID


def test_code_for_another_phone_does_not_supersede(
    engine: Engine, token: str, send_code: SendCode
) -> None:
    """Codes for two phones under one token both stay live."""
    _, first = send_code(engine, token, "first", phone=UK)
    _, second = send_code(engine, token, "second", phone=DE)
    assert engine.validate_code(token, IP, "first", first).status is catalogue.VALID
    assert engine.validate_code(token, IP, "second", second).status is catalogue.VALID


def test_code_under_another_token_does_not_supersede(
    engine: Engine, token: str, send_code: SendCode
) -> None:
    """Codes for one phone under two tokens both stay live."""
    other = engine.create_token("other").token
    _, first = send_code(engine, token, "login", phone=UK)
    _, second = send_code(engine, other, "login", phone=UK)
    assert engine.validate_code(token, IP, "login", first).status is catalogue.VALID
    assert engine.validate_code(other, IP, "login", second).status is catalogue.VALID


# -- expiry -------------------------------------------------------------------------------
def status_after(
    age: int, engine: Engine, token: str, send_code: SendCode, clock: Any
) -> catalogue.Status:
    """What the code sent for ``login`` gets when validated ``age`` seconds later."""
    _, code = send_code(engine, token, "login")
    clock.advance(age)
    return engine.validate_code(token, IP, "login", code).status


@pytest.mark.parametrize(
    ("age", "name"),
    [
        pytest.param(TTL - 1, "VALID", id="ttl-minus-1"),
        pytest.param(TTL, "INVALID", id="ttl"),
        pytest.param(TTL + 1, "INVALID", id="ttl-plus-1"),
    ],
)
def test_code_expires_after_default_ttl(
    engine: Engine, token: str, send_code: SendCode, clock: Any, age: int, name: str
) -> None:
    """A code is valid for 300 s after it was sent, and "Invalid" from then on."""
    assert status_after(age, engine, token, send_code, clock) is getattr(catalogue, name)


@pytest.mark.parametrize(
    ("age", "name"),
    [pytest.param(59, "VALID", id="59s"), pytest.param(60, "INVALID", id="60s")],
)
def test_token_code_ttl_override(
    engine: Engine, send_code: SendCode, clock: Any, age: int, name: str
) -> None:
    """A token's code_ttl replaces the engine's."""
    token = engine.create_token("short", code_ttl=60).token
    assert status_after(age, engine, token, send_code, clock) is getattr(catalogue, name)


@pytest.mark.parametrize(
    ("age", "name"),
    [pytest.param(599, "VALID", id="599s"), pytest.param(600, "INVALID", id="600s")],
)
def test_engine_code_ttl_at_the_cap(
    make_engine: Callable[..., Engine],
    send_code: SendCode,
    clock: Any,
    age: int,
    name: str,
) -> None:
    """An engine code_ttl of 600 s (the cap) is honoured."""
    engine = make_engine(code_ttl=600)
    token = engine.create_token("long").token
    assert status_after(age, engine, token, send_code, clock) is getattr(catalogue, name)


def test_engine_code_ttl_above_the_cap_is_a_config_error() -> None:
    """EngineConfig refuses a code_ttl above 600 s."""
    with pytest.raises(ConfigError):
        EngineConfig(code_ttl=601)


def test_token_code_ttl_above_the_cap_is_refused(engine: Engine) -> None:
    """A token cannot be issued with a code_ttl above 600 s."""
    with pytest.raises(ValueError, match="code_ttl"):
        engine.create_token("too-long", code_ttl=601)


# -- client_ref ---------------------------------------------------------------------------
def test_duplicate_client_ref_under_one_token(
    engine: Engine, token: str, send_code: SendCode
) -> None:
    """A client_ref used once under a token is refused with -52, even for another phone."""
    send_code(engine, token, "login")
    body = {"client_ref": "login", "phone_number": DE}
    assert engine.request_code(token, IP, body).status is catalogue.CLIENT_REF_EXISTS


def test_same_client_ref_under_another_token(
    engine: Engine, token: str, send_code: SendCode
) -> None:
    """The same client_ref is free under another token."""
    send_code(engine, token, "login")
    other = engine.create_token("other").token
    body = {"client_ref": "login", "phone_number": DE}
    assert engine.request_code(other, IP, body).status is catalogue.SUCCESS


def test_repeated_phone_number_key_is_64_and_sends_nothing(
    engine: Engine, token: str, gateway: MemoryGateway
) -> None:
    """A body naming phone_number twice is -64: no SMS goes to either number."""
    body = f'{{"client_ref": "login", "phone_number": "{UK}", "phone_number": "{DE}"}}'
    outcome = engine.request_code(token, IP, body.encode(), content_type="application/json")
    assert outcome.status is catalogue.MALFORMED
    assert gateway.messages == []


def test_callback_host_whose_lookup_stalls_is_61_within_the_bound(
    sqlite_store: SQLiteStore, gateway: MemoryGateway
) -> None:
    """A callback_url whose host the resolver never answers for is -61, answered within
    the lookup timeout (plus 1 s), and no SMS is sent."""
    release = threading.Event()

    def stalled(host: str, port: int) -> list[str]:
        release.wait(30)
        return ["93.184.216.34"]

    engine = Engine(sqlite_store, gateway, EngineConfig(argon2_profile="test"), resolver=stalled)
    token = engine.create_token("shop").token
    body = {"client_ref": "login", "phone_number": UK, "callback_url": "https://cb.example.com/"}
    try:
        started = time.monotonic()
        outcome = engine.request_code(token, IP, body)
        elapsed = time.monotonic() - started
    finally:
        release.set()
        engine.close()
    assert outcome.status is catalogue.CALLBACK_INVALID
    assert elapsed < RESOLVE_TIMEOUT + 1.0
    assert gateway.messages == []


def test_gateway_refusal_leaves_no_code(engine: Engine, token: str, gateway: MemoryGateway) -> None:
    """After -65 there is no code under the client_ref."""
    gateway.failure = GatewayError("gateway down")
    body = {"client_ref": "login", "phone_number": UK}
    assert engine.request_code(token, IP, body).status is catalogue.SYSTEM_ERROR
    assert engine.validate_code(token, IP, "login", "123456").status is catalogue.CODE_NOT_FOUND


def test_gateway_refusal_frees_the_client_ref(
    engine: Engine, token: str, gateway: MemoryGateway, send_code: SendCode
) -> None:
    """After -65 the same client_ref succeeds once the gateway recovers."""
    gateway.failure = GatewayError("gateway down")
    body = {"client_ref": "login", "phone_number": UK}
    assert engine.request_code(token, IP, body).status is catalogue.SYSTEM_ERROR
    gateway.failure = None
    _, code = send_code(engine, token, "login")
    assert engine.validate_code(token, IP, "login", code).status is catalogue.VALID


def test_unexpected_gateway_exception_propagates_and_frees_the_client_ref(
    sqlite_store: SQLiteStore, clock: Any
) -> None:
    """A gateway bug surfaces as an exception, and the client_ref stays free."""
    crashing = CrashingGateway()
    engine = Engine(
        sqlite_store, crashing, EngineConfig(argon2_profile="test"), clock=clock, resolver=None
    )
    token = engine.create_token("app").token
    body = {"client_ref": "login", "phone_number": UK}
    crashing.crash = RuntimeError("driver bug")
    with pytest.raises(RuntimeError, match="driver bug"):
        engine.request_code(token, IP, body)
    crashing.crash = None
    assert engine.request_code(token, IP, body).status is catalogue.SUCCESS


def test_client_ref_stays_taken_within_retention(
    engine: Engine, token: str, send_code: SendCode, clock: Any
) -> None:
    """One second before retention ends, purge keeps the record and the client_ref is taken."""
    send_code(engine, token, "login")
    clock.advance(TTL + engine.config.retention - 1)
    assert engine.purge() == 0
    body = {"client_ref": "login", "phone_number": UK}
    assert engine.request_code(token, IP, body).status is catalogue.CLIENT_REF_EXISTS


def test_purge_after_retention_frees_the_client_ref(
    engine: Engine, token: str, send_code: SendCode, clock: Any
) -> None:
    """Once retention after expiry has passed, purge deletes the record and frees its ref."""
    send_code(engine, token, "login")
    clock.advance(TTL + engine.config.retention)
    assert engine.purge() == 1
    body = {"client_ref": "login", "phone_number": UK}
    assert engine.request_code(token, IP, body).status is catalogue.SUCCESS


# -- code types and comparison ------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "alphabet"),
    [
        pytest.param({}, string.digits, id="default-numeric"),
        pytest.param({"code_type": "numeric"}, string.digits, id="numeric"),
        pytest.param({"code_type": "alpha"}, string.ascii_uppercase, id="alpha"),
        pytest.param(
            {"code_type": "alphanumeric"},
            string.ascii_uppercase + string.digits,
            id="alphanumeric",
        ),
        pytest.param(
            {"code_type": "alpha", "case_sensitive": True},
            string.ascii_letters,
            id="alpha-case-sensitive",
        ),
        pytest.param({"code_type": "emoji"}, string.digits, id="unknown-falls-back-to-numeric"),
    ],
)
def test_code_type_alphabet(
    engine: Engine, token: str, send_code: SendCode, fields: dict[str, Any], alphabet: str
) -> None:
    """Each code type draws its code from its own alphabet."""
    _, code = send_code(engine, token, "login", code_length=20, **fields)
    assert len(code) == 20
    assert set(code) <= set(alphabet)


def test_case_insensitive_code_accepts_lower_case(
    engine: Engine, token: str, send_code: SendCode
) -> None:
    """With case_sensitive false the code is upper case and a lower-case entry is "Valid"."""
    _, code = send_code(engine, token, "login", code_type="alpha", case_sensitive=False)
    assert code.isupper()
    assert engine.validate_code(token, IP, "login", code.lower()).status is catalogue.VALID


def test_case_sensitive_code_refuses_other_case(
    engine: Engine, token: str, send_code: SendCode
) -> None:
    """With case_sensitive true a case mismatch is "Declined"."""
    _, code = send_code(engine, token, "login", code_type="alpha", case_sensitive=True)
    outcome = engine.validate_code(token, IP, "login", code.swapcase())
    assert outcome.status is catalogue.DECLINED


@pytest.mark.parametrize(
    "zero",
    [pytest.param(0xFF10, id="fullwidth"), pytest.param(0x0660, id="arabic-indic")],
)
def test_non_ascii_digits_never_match(
    engine: Engine, token: str, send_code: SendCode, zero: int
) -> None:
    """The right code written in another script's digits is "Declined"."""
    _, code = send_code(engine, token, "login")
    foreign = "".join(chr(zero + int(ch)) for ch in code)
    assert engine.validate_code(token, IP, "login", foreign).status is catalogue.DECLINED


def test_code_length_4_when_minimum_is_4(
    make_engine: Callable[..., Engine], send_code: SendCode
) -> None:
    """With min_code_length 4, a 4-character code is sent and validates."""
    engine = make_engine(min_code_length=4)
    token = engine.create_token("short").token
    _, code = send_code(engine, token, "login", code_length=4)
    assert re.fullmatch(r"[0-9]{4}", code)
    assert engine.validate_code(token, IP, "login", code).status is catalogue.VALID


def test_code_length_20(engine: Engine, token: str, send_code: SendCode) -> None:
    """A 20-character code is sent and validates."""
    _, code = send_code(engine, token, "login", code_length=20)
    assert re.fullmatch(r"[0-9]{20}", code)
    assert engine.validate_code(token, IP, "login", code).status is catalogue.VALID


def test_shorter_submission_of_a_code_is_declined(
    engine: Engine, token: str, send_code: SendCode
) -> None:
    """A prefix of the right code is "Declined"."""
    _, code = send_code(engine, token, "login")
    assert engine.validate_code(token, IP, "login", code[:-1]).status is catalogue.DECLINED


# -- the SMS ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("token_sender", "request_sender", "expected"),
    [
        pytest.param(None, None, "Acme", id="config-default"),
        pytest.param("Shop", None, "Shop", id="token-over-config"),
        pytest.param("Shop", "Promo", "Promo", id="request-over-token"),
        pytest.param(None, "Promo", "Promo", id="request-over-config"),
    ],
)
def test_sender_precedence(
    make_engine: Callable[..., Engine],
    gateway: MemoryGateway,
    token_sender: str | None,
    request_sender: str | None,
    expected: str,
) -> None:
    """The SMS sender is the request's sender_id, else the token's, else the configured one."""
    engine = make_engine(default_sender_id="Acme")
    token = engine.create_token("shop", sender_id=token_sender).token
    body: dict[str, Any] = {"client_ref": "login", "phone_number": UK}
    if request_sender is not None:
        body["sender_id"] = request_sender
    assert engine.request_code(token, IP, body).ok
    assert gateway.last_to(UK).sender == expected


def test_default_sender_is_tfa(engine: Engine, token: str, gateway: MemoryGateway) -> None:
    """Without any sender setting, the SMS comes from "TFA"."""
    engine.request_code(token, IP, {"client_ref": "login", "phone_number": UK})
    assert gateway.last_to(UK).sender == "TFA"


def test_template_placeholders_are_all_replaced(
    engine: Engine, token: str, send_code: SendCode, gateway: MemoryGateway
) -> None:
    """Every {#TFA_CODE} in a template is replaced by the code."""
    template = "Code {#TFA_CODE}. Again: {#TFA_CODE}"
    _, code = send_code(engine, token, "login", message_template=template)
    assert gateway.last_to(UK).text == f"Code {code}. Again: {code}"


def test_default_template_text(engine: Engine, token: str, gateway: MemoryGateway) -> None:
    """The default SMS reads "Your authentication code is: " and the code."""
    engine.request_code(token, IP, {"client_ref": "login", "phone_number": UK})
    assert re.fullmatch(r"Your authentication code is: [0-9]{6}", gateway.last_to(UK).text)


@pytest.mark.parametrize(
    "raw", ["+447911123456", "00447911123456", "447911123456"], ids=["plus", "00", "bare"]
)
def test_sms_goes_to_the_e164_number(
    engine: Engine, token: str, gateway: MemoryGateway, raw: str
) -> None:
    """Whatever international spelling was sent, the SMS goes to the E.164 number."""
    assert engine.request_code(token, IP, {"client_ref": "login", "phone_number": raw}).ok
    assert gateway.messages[-1].recipient == UK


def test_console_gateway_prints_one_line_per_sms(sqlite_store: SQLiteStore, clock: Any) -> None:
    """The console gateway prints one line with recipient, sender and full text."""
    stream = io.StringIO()
    engine = Engine(
        sqlite_store,
        ConsoleGateway(stream=stream),
        EngineConfig(argon2_profile="test"),
        clock=clock,
        resolver=None,
    )
    token = engine.create_token("dev").token
    assert engine.request_code(token, IP, {"client_ref": "login", "phone_number": UK}).ok
    match = re.fullmatch(
        r"SMS to \+447911123456 from TFA: Your authentication code is: ([0-9]{6})\n",
        stream.getvalue(),
    )
    assert match is not None
    assert engine.validate_code(token, IP, "login", match.group(1)).status is catalogue.VALID


# -- tokens -------------------------------------------------------------------------------
def test_revoked_token_is_refused_at_once(engine: Engine, send_code: SendCode) -> None:
    """After revocation both calls answer -50, even for a code sent before."""
    issued = engine.create_token("app")
    _, code = send_code(engine, issued.token, "login")
    assert engine.revoke_token(issued.record.id)
    body = {"client_ref": "next", "phone_number": DE}
    assert engine.request_code(issued.token, IP, body).status is catalogue.TOKEN_INVALID
    outcome = engine.validate_code(issued.token, IP, "login", code)
    assert outcome.status is catalogue.TOKEN_INVALID


def test_revoking_twice_reports_false(engine: Engine) -> None:
    """Revoking an already revoked token reports False."""
    issued = engine.create_token("app")
    assert engine.revoke_token(issued.record.id)
    assert not engine.revoke_token(issued.record.id)


@pytest.mark.parametrize(
    ("allowed", "client_ip", "name"),
    [
        pytest.param(["192.0.2.7"], "192.0.2.7", "SUCCESS", id="ipv4-exact"),
        pytest.param(["192.0.2.7"], "192.0.2.8", "IP_NOT_ALLOWED", id="ipv4-other"),
        pytest.param(["10.0.0.0/8"], "10.20.30.40", "SUCCESS", id="cidr-inside"),
        pytest.param(["10.0.0.0/8"], "11.0.0.1", "IP_NOT_ALLOWED", id="cidr-outside"),
        pytest.param(["2001:db8::/32"], "2001:db8:5::1", "SUCCESS", id="ipv6-cidr-inside"),
        pytest.param(["2001:db8::1"], "2001:db8::2", "IP_NOT_ALLOWED", id="ipv6-other"),
        pytest.param(["10.0.0.0/8"], "::ffff:10.0.0.5", "SUCCESS", id="ipv4-mapped-client"),
        pytest.param(["10.0.0.0/8", "2001:db8::/32"], "2001:db8::9", "SUCCESS", id="second"),
        pytest.param([], "203.0.113.9", "SUCCESS", id="empty-allows-any"),
        pytest.param([], None, "SUCCESS", id="empty-allows-unknown-ip"),
        pytest.param(["10.0.0.0/8"], None, "IP_NOT_ALLOWED", id="unknown-ip"),
        pytest.param(["10.0.0.0/8"], "not-an-ip", "IP_NOT_ALLOWED", id="garbage-ip"),
    ],
)
def test_token_ip_allowlist(
    engine: Engine, allowed: list[str], client_ip: str | None, name: str
) -> None:
    """A token with an allowlist is usable only from the addresses on it."""
    token = engine.create_token("office", allowed_ips=allowed).token
    body = {"client_ref": "login", "phone_number": UK}
    assert engine.request_code(token, client_ip, body).status is getattr(catalogue, name)


def test_allowlist_also_guards_validation(engine: Engine, send_code: SendCode) -> None:
    """Validating from outside the allowlist is -67."""
    token = engine.create_token("office", allowed_ips=["127.0.0.0/8"]).token
    _, code = send_code(engine, token, "login")
    outcome = engine.validate_code(token, "192.0.2.1", "login", code)
    assert outcome.status is catalogue.IP_NOT_ALLOWED


def test_create_token_refuses_a_malformed_allowlist(engine: Engine) -> None:
    """Issuing a token with an entry that is not an IP or CIDR raises ValueError."""
    with pytest.raises(ValueError, match="not an IP"):
        engine.create_token("office", allowed_ips=["10.0.0.0/33"])


def test_declared_token_with_bad_allowlist_answers_66(engine: Engine) -> None:
    """A config-file token keeps its malformed allowlist; its requests get -66."""
    engine.declare_token("from-config", "declared-secret", allowed_ips=["10.0.0.1", "nope"])
    body = {"client_ref": "login", "phone_number": UK}
    outcome = engine.request_code("declared-secret", "10.0.0.1", body)
    assert outcome.status is catalogue.ALLOWLIST_INVALID


def test_declaring_again_replaces_the_token(engine: Engine) -> None:
    """Declaring a name again replaces its token: the old one stops working."""
    engine.declare_token("from-config", "first-secret")
    engine.declare_token("from-config", "second-secret")
    body = {"client_ref": "login", "phone_number": UK}
    assert engine.request_code("first-secret", IP, body).status is catalogue.TOKEN_INVALID
    assert engine.request_code("second-secret", IP, body).status is catalogue.SUCCESS


def test_listed_tokens_hold_no_clear_token(engine: Engine) -> None:
    """list_tokens shows the issued token by id and name, never its clear value."""
    issued = engine.create_token("app")
    [record] = [t for t in engine.list_tokens() if t.id == issued.record.id]
    assert record.name == "app"
    assert issued.token not in repr(record)
    assert record.token_hash != issued.token


def test_started_engine_purges_past_retention_by_itself(
    make_engine: Any, clock: Any, send_code: SendCode
) -> None:
    """With background work started, an old client_ref comes free without a manual purge."""
    import time

    engine = make_engine(retention=60)
    issued = engine.create_token("purging")
    send_code(engine, issued.token, "old-ref")
    clock.advance(300 + 60)  # expired, and retention has passed
    engine.start(purge_every=0.02)
    try:
        deadline = time.monotonic() + 5
        while engine.store.client_ref_taken(issued.record.id, "old-ref"):
            assert time.monotonic() < deadline, "the background purge never ran"
            time.sleep(0.02)
    finally:
        engine.close()


def test_the_first_purge_comes_soon_after_the_start_not_after_a_whole_interval(
    make_engine: Any, clock: Any, send_code: SendCode
) -> None:
    """A node restarted more often than the purge interval still purges: the first purge
    runs within ``first_purge_within`` of the start, then every ``purge_every``."""
    import time

    engine = make_engine(retention=60)
    issued = engine.create_token("restarted-often")
    send_code(engine, issued.token, "old-ref")
    clock.advance(300 + 60)
    engine.start(purge_every=3600, first_purge_within=0.5)
    try:
        deadline = time.monotonic() + 5
        while engine.store.client_ref_taken(issued.record.id, "old-ref"):
            assert time.monotonic() < deadline, "no purge soon after the start"
            time.sleep(0.02)
    finally:
        engine.close()
