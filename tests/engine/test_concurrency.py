"""Races through the engine and the store: single use, attempt limits, client_refs, rate
limits. Every test runs on one real SQLite file shared by all threads, and on MemoryStore."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TypeVar

from races import race

from tfa_engine import Engine, IssuedToken, catalogue
from tfa_engine.store import NewCode, Store

T = TypeVar("T")
MakeEngine = Callable[..., Engine]  # the ``make_engine`` fixture
SendCode = Callable[..., tuple[str, str]]  # the ``send_code`` fixture
IP = "127.0.0.1"


def wrong(code: str) -> str:
    """A code of the same length and alphabet that is not ``code``."""
    return str((int(code) + 1) % 10 ** len(code)).zfill(len(code))


def codes_of(results: list[T]) -> Counter[T]:
    """How often each answer came back."""
    return Counter(results)


def code_sent(
    store: Store, make_engine: MakeEngine, send_code: SendCode
) -> tuple[Engine, IssuedToken, str]:
    """An engine on ``store``, its token ``race`` and the code sent for ``login``."""
    engine = make_engine(store)
    issued = engine.create_token("race")
    _, code = send_code(engine, issued.token, "login")
    return engine, issued, code


def test_right_code_is_valid_exactly_once(
    store: Store, make_engine: MakeEngine, send_code: SendCode
) -> None:
    """50 parallel submissions of the right code: one Valid, every other one Invalid."""
    engine, issued, code = code_sent(store, make_engine, send_code)
    token = issued.token
    answers = race(50, lambda _: engine.validate_code(token, IP, "login", code).status.code)
    assert codes_of(answers) == {catalogue.VALID.code: 1, catalogue.INVALID.code: 49}


def test_parallel_wrong_guesses_record_at_most_the_limit(
    store: Store, make_engine: MakeEngine, send_code: SendCode
) -> None:
    """200 parallel wrong guesses: max_attempts are Declined and counted, the rest Invalid."""
    engine, issued, code = code_sent(store, make_engine, send_code)
    guess = wrong(code)
    answers = race(
        200, lambda _: engine.validate_code(issued.token, IP, "login", guess).status.code
    )
    limit = engine.config.max_attempts
    assert codes_of(answers) == {
        catalogue.DECLINED.code: limit,
        catalogue.INVALID.code: 200 - limit,
    }
    record = store.find_code(issued.record.id, "login")
    assert record is not None
    assert (record.attempts, record.state) == (limit, "locked")


def test_right_code_after_a_guessing_race_is_invalid(
    store: Store, make_engine: MakeEngine, send_code: SendCode
) -> None:
    """Once parallel wrong guesses locked the code, the right code is Invalid too."""
    engine, issued, code = code_sent(store, make_engine, send_code)
    token = issued.token
    race(200, lambda _: engine.validate_code(token, IP, "login", wrong(code)))
    assert engine.validate_code(token, IP, "login", code).status == catalogue.INVALID


def test_mixed_race_of_right_and_wrong_codes_never_exceeds_the_limit(
    store: Store, make_engine: MakeEngine, send_code: SendCode
) -> None:
    """Right and wrong codes racing: at most one Valid, at most max_attempts Declined."""
    engine, issued, code = code_sent(store, make_engine, send_code)
    guesses = [code if i % 10 == 0 else wrong(code) for i in range(100)]
    answers = codes_of(
        race(100, lambda i: engine.validate_code(issued.token, IP, "login", guesses[i]).status)
    )
    assert set(answers) <= {catalogue.VALID, catalogue.DECLINED, catalogue.INVALID}
    assert answers[catalogue.VALID] <= 1
    assert answers[catalogue.DECLINED] <= engine.config.max_attempts
    record = store.find_code(issued.record.id, "login")
    assert record is not None
    assert record.attempts == answers[catalogue.DECLINED]
    assert record.state == ("used" if answers[catalogue.VALID] else "locked")


def test_same_client_ref_in_parallel_is_sent_once(store: Store, make_engine: MakeEngine) -> None:
    """Parallel requests with one client_ref: exactly one 201, every other one -52."""
    engine = make_engine(store, rate_limits=False)
    token = engine.create_token("race").token
    body = {"client_ref": "same", "phone_number": "+447911123456"}
    answers = race(30, lambda _: engine.request_code(token, IP, body).status)
    assert codes_of(answers) == {catalogue.SUCCESS: 1, catalogue.CLIENT_REF_EXISTS: 29}
    assert len(engine.gateway.messages) == 1  # type: ignore[attr-defined]


def test_parallel_sends_to_one_phone_leave_one_live_code(
    store: Store, make_engine: MakeEngine
) -> None:
    """Parallel sends to one phone all succeed, and exactly one code stays live."""
    engine = make_engine(store, rate_limits=False)
    issued = engine.create_token("race")
    answers = race(
        20,
        lambda i: (
            engine.request_code(
                issued.token, IP, {"client_ref": f"ref-{i}", "phone_number": "+447911123456"}
            ).status
        ),
    )
    assert answers == [catalogue.SUCCESS] * 20
    states = Counter(
        record.state
        for i in range(20)
        if (record := store.find_code(issued.record.id, f"ref-{i}")) is not None
    )
    assert states == {"live": 1, "superseded": 19}


def test_parallel_take_admits_exactly_the_limit(store: Store) -> None:
    """100 parallel events against a limit of 7 admit exactly 7."""
    now = 60 * 28_333_333.0 + 1
    answers = race(100, lambda _: store.take("token:race", 7, 60, now))
    assert answers.count(None) == 7
    assert all(wait == 60 for wait in answers if wait is not None)


def test_parallel_phone_send_limit_through_the_engine(
    store: Store, make_engine: MakeEngine
) -> None:
    """Parallel sends to one phone are admitted up to the per-phone limit, the rest -70."""
    engine: Engine = make_engine(store)
    token = engine.create_token("race").token
    limit = engine.config.limit_phone_sends.count
    answers = race(
        40,
        lambda i: (
            engine.request_code(
                token, IP, {"client_ref": f"ref-{i}", "phone_number": "+447911123456"}
            ).status
        ),
    )
    assert codes_of(answers) == {catalogue.SUCCESS: limit, catalogue.RATE_LIMITED: 40 - limit}


def test_parallel_inserts_of_one_client_ref_store_one(store: Store) -> None:
    """The store itself admits one insert per (token, client_ref), however many race."""
    now = 1_700_000_000.0

    def insert(i: int) -> str:
        try:
            store.insert_code(
                NewCode(
                    message_id=str(10**19 + i),
                    token_id="tok_a",
                    client_ref="same",
                    phone="+447911123456",
                    code_hash="$argon2id$x",
                    code_length=6,
                    case_sensitive=False,
                    sender="TFA",
                    callback_url=None,
                    created_at=now,
                    expires_at=now + 300,
                )
            )
        except Exception as exc:  # the one expected failure is asserted below
            return type(exc).__name__
        return "inserted"

    assert codes_of(race(50, insert)) == {"inserted": 1, "DuplicateClientRef": 49}
