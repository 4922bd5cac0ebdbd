"""The store's part of a validate-code, on every backend: the one read of the token, its
code and its limits (``look_up_validation``), and the request counted in the same atomic
step as the code used up or the wrong attempt recorded (``consume_code`` and
``count_failure`` with a ``request`` allowance)."""

from __future__ import annotations

import pytest
from races import race
from store_records import NOW, TOKEN_ID, UK, live_code, token_record

from tfa_engine.store import (
    Allowance,
    RequestLimited,
    Store,
    Window,
    failures_key,
    requests_key,
)

REQUESTS = Allowance(requests_key(TOKEN_ID), 2, 60)
FAILURES = Allowance(failures_key(TOKEN_ID, UK), 3, 60)
DIGEST = token_record().token_hash


def state_and_attempts(store: Store) -> tuple[str, int]:
    """The state and attempts of the code of ref-1."""
    record = store.find_code(TOKEN_ID, "ref-1")
    assert record is not None
    return record.state, record.attempts


def test_look_up_finds_the_token_and_its_code(store: Store) -> None:
    """The lookup reads the token of the digest and its code of the client_ref."""
    store.add_token(token_record())
    live_code(store)
    found = store.look_up_validation(DIGEST, "ref-1", NOW, Window(2, 60), Window(3, 60))
    assert found.token == store.token_by_digest(DIGEST)
    assert found.code == store.find_code(TOKEN_ID, "ref-1")
    assert (found.requests_wait, found.failures_wait) == (None, None)


def test_look_up_of_an_unknown_digest_finds_nothing(store: Store) -> None:
    """A digest no token has finds neither token nor code."""
    store.add_token(token_record())
    live_code(store)
    found = store.look_up_validation("no-such-digest", "ref-1", NOW, Window(2, 60), None)
    assert (found.token, found.code) == (None, None)


def test_look_up_without_a_client_ref_finds_no_code(store: Store) -> None:
    """No client_ref, no code looked for."""
    store.add_token(token_record())
    live_code(store)
    found = store.look_up_validation(DIGEST, None, NOW, None, None)
    assert found.token is not None and found.code is None


def test_look_up_tells_the_request_limits_wait(store: Store) -> None:
    """The request limit used up reads as the seconds until it admits one, as peek says."""
    store.add_token(token_record())
    live_code(store)
    for _ in range(2):
        assert store.take(REQUESTS.key, 2, 60, NOW) is None
    found = store.look_up_validation(DIGEST, "ref-1", NOW + 20, Window(2, 60), None)
    assert found.requests_wait == 40 == store.peek(REQUESTS.key, 2, 60, NOW + 20)


def test_look_up_tells_the_phone_failure_limits_wait(store: Store) -> None:
    """The code's phone's failure limit used up reads as the seconds until it admits one."""
    store.add_token(token_record())
    live_code(store)
    for _ in range(3):
        assert store.take(FAILURES.key, 3, 60, NOW) is None
    found = store.look_up_validation(DIGEST, "ref-1", NOW + 50, None, Window(3, 60))
    assert (found.requests_wait, found.failures_wait) == (None, 10)


def test_consume_counts_the_request(store: Store) -> None:
    """A code used up with its request counts the request against its limit."""
    code_id = live_code(store)
    assert store.consume_code(code_id, NOW, 5, REQUESTS) is True
    assert store.take(REQUESTS.key, 2, 60, NOW) is None
    assert store.take(REQUESTS.key, 2, 60, NOW) == 60


def test_consume_counts_the_request_of_a_code_no_longer_open(store: Store) -> None:
    """A validation of a used code still counts its request."""
    code_id = live_code(store)
    assert store.consume_code(code_id, NOW, 5) is True
    assert store.consume_code(code_id, NOW, 5, REQUESTS) is False
    assert store.peek(REQUESTS.key, 1, 60, NOW) == 60


def test_consume_over_the_request_limit_writes_nothing(store: Store) -> None:
    """Over the token's request limit, the code stays live and nothing more is counted."""
    code_id = live_code(store)
    for _ in range(2):
        assert store.take(REQUESTS.key, 2, 60, NOW) is None
    with pytest.raises(RequestLimited) as refused:
        store.consume_code(code_id, NOW + 45, 5, REQUESTS)
    assert refused.value.retry_after == 15
    assert state_and_attempts(store) == ("live", 0)
    assert store.take(REQUESTS.key, 2, 60, NOW + 60) is None


def test_count_failure_over_the_request_limit_writes_nothing(store: Store) -> None:
    """Over the token's request limit, no attempt is recorded nor counted for the phone."""
    code_id = live_code(store)
    for _ in range(2):
        assert store.take(REQUESTS.key, 2, 60, NOW) is None
    with pytest.raises(RequestLimited):
        store.count_failure(code_id, NOW + 1, 5, FAILURES, REQUESTS)
    assert state_and_attempts(store) == ("live", 0)
    assert store.peek(FAILURES.key, 1, 60, NOW + 1) is None


def test_count_failure_counts_the_request_and_the_phone(store: Store) -> None:
    """A wrong attempt counts its request and the phone's failure in one step."""
    code_id = live_code(store)
    assert store.count_failure(code_id, NOW, 5, FAILURES, REQUESTS) == 1
    assert store.peek(REQUESTS.key, 1, 60, NOW) == 60
    assert store.peek(FAILURES.key, 1, 60, NOW) == 60


def test_parallel_validations_count_no_more_than_the_request_limit(store: Store) -> None:
    """Racing validations of one token pass its request limit no more than it allows."""
    code_ids = [live_code(store, f"ref-{n}", phone=f"+4479111234{n:02d}") for n in range(8)]

    def validate(index: int) -> bool:
        try:
            store.count_failure(code_ids[index], NOW, 5, None, REQUESTS)
        except RequestLimited:
            return False
        return True

    assert sum(race(8, validate)) == 2
