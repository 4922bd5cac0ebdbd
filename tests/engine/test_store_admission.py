"""A send's admission on every backend: the client_ref, the allowances and the fraud guard
judged and taken in the one step that stores the code (``Store.admit_code``), and the look
that writes nothing (``Store.preview_send``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest
from races import race
from store_records import NOW, TOKEN_ID, UK, new_code

from tfa_engine.store import (
    FRAUD,
    Allowance,
    DuplicateClientRef,
    FraudRule,
    Refusal,
    SendPolicy,
    Store,
)

PHONE_SENDS = Allowance(f"phone-sends:{UK}", 5, 600)
BUDGET = Allowance(f"sms-token:{TOKEN_ID}", 3, 86400)
POLICY = SendPolicy((PHONE_SENDS, BUDGET))
GUARD = FraudRule("+44791", 3600, 3, 10)  # held after 3 unvalidated codes to +44791...


def at(seconds: float, client_ref: str, phone: str = UK) -> object:
    """A code made ``seconds`` after NOW."""
    code = new_code(client_ref, phone=phone, expires_at=NOW + seconds + 300)
    return replace(code, created_at=NOW + seconds)


def test_admission_stores_the_code_and_uses_one_of_each_allowance(store: Store) -> None:
    """An admitted send is stored pending and counts once against every allowance."""
    admitted = store.admit_code(new_code("ref-1"), POLICY)
    assert admitted.code_id is not None and admitted.refusal is None
    record = store.find_code(TOKEN_ID, "ref-1")
    assert record is not None and record.state == "pending" and record.sent_at is None
    # The admission was the first of three: two more fit, the fourth does not.
    assert [store.take(BUDGET.key, 3, 86400, NOW) for _ in range(3)] == [None, None, 86400]


def test_a_used_up_allowance_refuses_and_stores_nothing(store: Store) -> None:
    """The send past a budget is refused with its key and wait, and nothing is stored."""
    for number in range(3):
        assert store.admit_code(new_code(f"ref-{number}", phone=f"+4479111234{number:02d}"),
                                SendPolicy((BUDGET,))).code_id is not None
    refused = store.admit_code(new_code("ref-9"), SendPolicy((BUDGET,)))
    assert refused.code_id is None
    assert refused.refusal == Refusal(BUDGET.key, 86400)
    assert store.find_code(TOKEN_ID, "ref-9") is None


def test_a_refused_send_uses_up_no_earlier_allowance(store: Store) -> None:
    """A send the budget refuses leaves the phone's limit as it found it."""
    for number in range(3):
        store.admit_code(new_code(f"ref-{number}"), POLICY)
    assert store.admit_code(new_code("ref-x"), POLICY).refusal == Refusal(BUDGET.key, 86400)
    phone = PHONE_SENDS.key
    assert [store.take(phone, 5, 600, NOW) for _ in range(3)] == [None, None, 600]


def test_a_taken_client_ref_is_refused_before_any_limit(store: Store) -> None:
    """A duplicate client_ref is DuplicateClientRef even when a limit is used up too."""
    store.admit_code(new_code("ref-1"), SendPolicy((Allowance("tight", 1, 60),)))
    with pytest.raises(DuplicateClientRef):
        store.admit_code(new_code("ref-1"), SendPolicy((Allowance("tight", 1, 60),)))


def test_parallel_duplicates_use_the_allowances_of_one_send(store: Store) -> None:
    """Ten racing sends with one client_ref: one stored, nine duplicates, one use of
    each allowance."""

    def admit(_: int) -> str:
        try:
            return "stored" if store.admit_code(new_code("ref-1"), POLICY).code_id else "refused"
        except DuplicateClientRef:
            return "duplicate"

    assert Counter(race(10, admit)) == {"stored": 1, "duplicate": 9}
    assert [store.take(BUDGET.key, 3, 86400, NOW) for _ in range(3)] == [None, None, 86400]


def test_parallel_sends_never_pass_an_allowance(store: Store) -> None:
    """Twenty racing sends of distinct client_refs under a budget of three: three stored."""

    def admit(number: int) -> bool:
        return store.admit_code(new_code(f"ref-{number}"), POLICY).code_id is not None

    assert sum(race(20, admit)) == 3


def test_preview_tells_what_the_admission_would_refuse_and_writes_nothing(
    store: Store,
) -> None:
    """The preview sees a taken client_ref and a used-up allowance, and counts nothing."""
    policy = SendPolicy((Allowance("once", 1, 60),))
    assert store.preview_send(TOKEN_ID, "ref-1", policy, NOW).refusal is None
    assert store.preview_send(TOKEN_ID, "ref-1", policy, NOW).refusal is None  # nothing taken
    store.admit_code(new_code("ref-1"), policy)
    preview = store.preview_send(TOKEN_ID, "ref-1", policy, NOW)
    assert preview.client_ref_taken
    assert preview.refusal == Refusal("once", 60)
    assert not store.preview_send(TOKEN_ID, "ref-2", SendPolicy(), NOW).client_ref_taken


def test_the_fraud_guard_holds_a_range_that_does_not_convert(store: Store) -> None:
    """After three unvalidated codes to a range the fourth is held, the hold starting
    then (with what it counted); the fifth finds the hold in force."""
    policy = SendPolicy(fraud=GUARD)
    for number in range(3):
        assert store.admit_code(at(number, f"ref-{number}"), policy).code_id is not None
    held = store.admit_code(at(3, "ref-3"), policy)
    assert held.refusal == Refusal(FRAUD, 3600) and held.fraud_held == (3, 0)
    again = store.admit_code(at(4, "ref-4"), policy)
    assert again.refusal == Refusal(FRAUD, 3599) and again.fraud_held is None
    assert store.preview_send(TOKEN_ID, "ref-5", policy, NOW + 5).refusal == Refusal(
        FRAUD, 3598)
    assert store.held_ranges(NOW + 5) == [(TOKEN_ID, "+44791", NOW + 3 + 3600)]


def test_a_hold_whose_time_is_up_is_released_by_the_next_send(store: Store) -> None:
    """The first send after a hold ends releases it, and the range counts afresh."""
    policy = SendPolicy(fraud=GUARD)
    for number in range(4):
        store.admit_code(at(number, f"ref-{number}"), policy)
    later = store.admit_code(at(3 + 3600, "ref-later"), policy)
    assert later.code_id is not None and later.fraud_released
    assert store.held_ranges(NOW + 3 + 3600) == []


def test_traffic_that_converts_is_never_held(store: Store) -> None:
    """Codes that were validated keep the range open."""
    policy = SendPolicy(fraud=GUARD)
    for number in range(10):
        admitted = store.admit_code(at(number, f"ref-{number}"), policy)
        assert admitted.code_id is not None, number
        store.activate_code(admitted.code_id, NOW + number)
        assert store.consume_code(admitted.code_id, NOW + number, 5)


def test_a_never_sent_code_of_a_dead_sender_gives_its_client_ref_back(store: Store) -> None:
    """A pending code made before ``stale_before`` is replaced by a new send of its ref."""
    first = store.admit_code(new_code("ref-1"), POLICY)
    second = store.admit_code(new_code("ref-1"), POLICY, stale_before=NOW)
    assert second.code_id is not None and second.code_id != first.code_id
    record = store.find_code(TOKEN_ID, "ref-1")
    assert record is not None and record.id == second.code_id
