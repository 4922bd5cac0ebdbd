"""Attack: guessing codes. Brute force across fresh codes for one phone, and races of
many parallel submissions against one code, through a real ``tfa serve`` process.

* The per-phone count of failed validations (``TFA_LIMIT_PHONE_FAILURES``, 100/3600) is
  the phone's: asking for new codes never resets it.
* 200 parallel wrong guesses record at most ``TFA_MAX_ATTEMPTS`` (5) failures, on the
  code and on the phone; 50 parallel right submissions give exactly one Valid.
"""

from __future__ import annotations

import sqlite3
from collections import Counter

from attack_kit import (
    IP,
    Served,
    code_in,
    create_token_cli,
    gateway_of,
    issue,
    make_engine,
    request_code,
    send,
    sim_messages,
    validate,
)
from fake_clock import FakeClock
from races import race

from tfa_engine import RateLimit, catalogue
from tfa_engine.store import Store

PHONE = "+447400300001"


def wrong(code: str) -> str:
    """A code of the same length and alphabet that is not ``code``."""
    return ("B" if code[0] == "A" else "A") + code[1:]


def test_new_codes_never_reset_the_phones_failed_validations(
    backend: Store, clock: FakeClock
) -> None:
    """Default limits: 20 fresh codes (5/600 s allows one every 2 min), 5 wrong guesses
    each: 100 failures in 38 min. Then the right answer to yet another fresh code is
    -70 (HTTP 429) until the first failure is an hour old, and Valid after."""
    engine = make_engine(backend, clock=clock)
    assert engine.config.limit_phone_failures == RateLimit(100, 3600)
    assert engine.config.max_attempts == 5
    token = issue(engine, "guesser").token
    start = clock()
    for number in range(20):
        clock.set(start + 120 * number)
        outcome = send(engine, token, f"g-{number}", PHONE)
        assert outcome.ok, (number, outcome.status)
        guess = wrong(gateway_of(engine).code_of(outcome.result["message_id"]))
        for attempt in range(5):
            checked = engine.validate_code(token, IP, f"g-{number}", guess)
            assert checked.status == catalogue.DECLINED, (number, attempt, checked.status)
    clock.set(start + 120 * 20)
    fresh = send(engine, token, "g-fresh", PHONE)
    assert fresh.ok
    right = gateway_of(engine).code_of(fresh.result["message_id"])
    refused = engine.validate_code(token, IP, "g-fresh", right)
    assert (refused.status.code, refused.status.http) == (-70, 429)
    assert refused.retry_after == 3600 - 120 * 20

    clock.set(start + 3600 - 1)
    assert engine.validate_code(token, IP, "g-fresh", right).status == catalogue.RATE_LIMITED
    clock.set(start + 3600)  # the first five failures (at `start`) leave the window
    late = send(engine, token, "g-late", PHONE)
    assert late.ok
    code = gateway_of(engine).code_of(late.result["message_id"])
    assert engine.validate_code(token, IP, "g-late", code).status == catalogue.VALID


def _issue_code(served: Served, name: str, phone: str) -> tuple[str, str, str]:
    """A token of its own and a code sent to ``phone`` through the service:
    ``(token, message_id, code)``, the code read at the simulator."""
    token = create_token_cli(served.workdir, served.env, name)["token"]
    reply = request_code(served.url, token, name, phone)
    assert (reply.status, reply.code) == (201, 0), reply.body
    message_id = reply.body["result"]["message_id"]
    (entry,) = [m for m in sim_messages(served.sim_url) if m["customer_uuid"] == message_id]
    return token, message_id, code_in(entry["message"])


def _stored(served: Served, sql: str, *args: str) -> tuple[object, ...]:
    """One row read from the service's database (read-only, beside the service)."""
    with sqlite3.connect(f"file:{served.database}?mode=ro", uri=True, timeout=10) as db:
        row = db.execute(sql, args).fetchone()
    db.close()
    assert row is not None
    return tuple(row)


def test_200_parallel_wrong_guesses_record_at_most_5(served: Served) -> None:
    """200 wrong guesses at once over HTTP: 5 Declined (422 -54), the rest Invalid
    (200 -53); the code is locked with 5 attempts, the phone has 5 failures counted,
    and the right code is Invalid afterwards."""
    phone = "+447400300002"
    token, message_id, code = _issue_code(served, "parallel-wrong", phone)
    guess = wrong(code)
    answers = race(200, lambda _: validate(served.url, token, "parallel-wrong", guess))
    counted = Counter((reply.status, reply.code) for reply in answers)
    assert counted[(422, -54)] <= 5
    assert counted == {(422, -54): counted[(422, -54)], (200, -53): 200 - counted[(422, -54)]}
    assert _stored(served, "SELECT attempts, state FROM codes WHERE message_id = ?",
                   message_id) == (5, "locked")
    assert _stored(served, "SELECT taken FROM rate_heads WHERE key LIKE ?",
                   f"phone-failures:%:{phone}") == (5,)
    after = validate(served.url, token, "parallel-wrong", code)
    assert (after.status, after.code) == (200, -53)


def test_50_parallel_right_submissions_give_one_valid(served: Served) -> None:
    """50 submissions of the right code at once over HTTP: one Valid (200, 0), 49
    Invalid (200, -53); the code is used."""
    token, message_id, code = _issue_code(served, "parallel-right", "+447400300003")
    answers = race(50, lambda _: validate(served.url, token, "parallel-right", code))
    assert Counter((reply.status, reply.code) for reply in answers) == {
        (200, 0): 1, (200, -53): 49,
    }
    assert _stored(served, "SELECT state FROM codes WHERE message_id = ?",
                   message_id) == ("used",)


def test_sixth_send_to_a_phone_through_the_service(served: Served) -> None:
    """Six codes for one phone within a minute through the service: five reach the
    simulator, the sixth is 429 -70 with Retry-After and never does."""
    phone = "+447400300004"
    token = create_token_cli(served.workdir, served.env, "bomber")["token"]
    sent = []
    for number in range(5):
        reply = request_code(served.url, token, f"bomb-{number}", phone)
        assert (reply.status, reply.code) == (201, 0), reply.body
        sent.append(reply.body["result"]["message_id"])
    sixth = request_code(served.url, token, "bomb-5", phone)
    assert (sixth.status, sixth.code) == (429, -70)
    assert 590 <= int(sixth.headers["retry-after"]) <= 600
    at_gateway = [m["customer_uuid"] for m in sim_messages(served.sim_url)
                  if m["recipient"] == phone]
    assert at_gateway == sent
