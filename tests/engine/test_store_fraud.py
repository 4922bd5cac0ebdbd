"""The fraud guard's holds on every backend: ``Store.hold_range``, ``Store.release_range``
(by hand, and only once expired with ``expired_by``) and ``Store.held_ranges``."""

from __future__ import annotations

from dataclasses import replace

from races import race
from store_records import NOW, TOKEN_ID, new_code

from tfa_engine.store import FRAUD, FraudRule, NewCode, Refusal, SendPolicy, Store

RANGE = "+44791"
HOUR = 3600.0
OTHER_TOKEN = "tok_b"
GUARD = SendPolicy(fraud=FraudRule(RANGE, 3600, 3, 10))  # held after 3 unvalidated codes


def sent_at(seconds: float, client_ref: str) -> NewCode:
    """A code to the range made ``seconds`` after NOW."""
    code = new_code(client_ref, expires_at=NOW + seconds + 300)
    return replace(code, created_at=NOW + seconds)


def test_a_hold_is_listed_until_it_ends(store: Store) -> None:
    """A range held until T is listed with T before T, and no longer at T."""
    assert store.hold_range(TOKEN_ID, RANGE, NOW + HOUR)
    assert store.held_ranges(NOW) == [(TOKEN_ID, RANGE, NOW + HOUR)]
    assert store.held_ranges(NOW + HOUR) == []


def test_holding_a_held_range_again_is_refused_and_keeps_the_first_end(store: Store) -> None:
    """A second hold of a range in force answers False and leaves the first end as it was."""
    assert store.hold_range(TOKEN_ID, RANGE, NOW + HOUR)
    assert not store.hold_range(TOKEN_ID, RANGE, NOW + 2 * HOUR)
    assert store.held_ranges(NOW) == [(TOKEN_ID, RANGE, NOW + HOUR)]


def test_one_of_many_racing_holds_wins(store: Store) -> None:
    """Of eight callers holding the same range at once, exactly one gets True."""
    won = race(8, lambda number: store.hold_range(TOKEN_ID, RANGE, NOW + HOUR + number))
    assert won.count(True) == 1
    assert store.held_ranges(NOW) == [(TOKEN_ID, RANGE, NOW + HOUR + won.index(True))]


def test_holds_are_listed_soonest_end_first(store: Store) -> None:
    """Holds of several tokens and ranges come soonest end first, then by token and range."""
    store.hold_range(OTHER_TOKEN, RANGE, NOW + 2 * HOUR)
    store.hold_range(TOKEN_ID, "+33612", NOW + 2 * HOUR)
    store.hold_range(TOKEN_ID, RANGE, NOW + HOUR)
    assert store.held_ranges(NOW) == [
        (TOKEN_ID, RANGE, NOW + HOUR),
        (TOKEN_ID, "+33612", NOW + 2 * HOUR),
        (OTHER_TOKEN, RANGE, NOW + 2 * HOUR),
    ]


def test_release_ends_a_hold_once(store: Store) -> None:
    """Releasing a held range answers True and unlists it; releasing it again answers False."""
    store.hold_range(TOKEN_ID, RANGE, NOW + HOUR)
    assert store.release_range(TOKEN_ID, RANGE, NOW)
    assert store.held_ranges(NOW) == []
    assert not store.release_range(TOKEN_ID, RANGE, NOW + 1)


def test_releasing_a_range_never_held_answers_false(store: Store) -> None:
    """A range that was never held has nothing to release."""
    assert not store.release_range(TOKEN_ID, RANGE, NOW)


def test_release_ends_only_that_tokens_hold(store: Store) -> None:
    """Releasing one token's range leaves another token's hold of the same range in force."""
    store.hold_range(TOKEN_ID, RANGE, NOW + HOUR)
    store.hold_range(OTHER_TOKEN, RANGE, NOW + HOUR)
    assert store.release_range(TOKEN_ID, RANGE, NOW)
    assert store.held_ranges(NOW) == [(OTHER_TOKEN, RANGE, NOW + HOUR)]


def test_a_released_range_can_be_held_again(store: Store) -> None:
    """After a release a new hold of the range is taken and listed with its own end."""
    store.hold_range(TOKEN_ID, RANGE, NOW + HOUR)
    store.release_range(TOKEN_ID, RANGE, NOW)
    assert store.hold_range(TOKEN_ID, RANGE, NOW + 2 * HOUR)
    assert store.held_ranges(NOW) == [(TOKEN_ID, RANGE, NOW + 2 * HOUR)]


def test_release_expired_by_leaves_a_hold_that_ends_later(store: Store) -> None:
    """With ``expired_by`` before the hold's end nothing is released."""
    store.hold_range(TOKEN_ID, RANGE, NOW + HOUR)
    assert not store.release_range(TOKEN_ID, RANGE, NOW + 60, expired_by=NOW + HOUR - 1)
    assert store.held_ranges(NOW + 60) == [(TOKEN_ID, RANGE, NOW + HOUR)]


def test_release_expired_by_ends_a_hold_that_ended_by_then(store: Store) -> None:
    """With ``expired_by`` at or after the hold's end the hold is released: the range may
    be held anew."""
    store.hold_range(TOKEN_ID, RANGE, NOW + HOUR)
    assert store.release_range(TOKEN_ID, RANGE, NOW + HOUR, expired_by=NOW + HOUR)
    assert store.hold_range(TOKEN_ID, RANGE, NOW + 2 * HOUR)


def test_traffic_before_a_release_no_longer_counts(store: Store) -> None:
    """After a hold is released by hand, the next send to the range is admitted."""
    for number in range(4):  # three unvalidated codes, then the hold
        store.admit_code(sent_at(number, f"ref-{number}"), GUARD)
    assert store.admit_code(sent_at(4, "ref-4"), GUARD).refusal == Refusal(FRAUD, 3599)
    assert store.release_range(TOKEN_ID, RANGE, NOW + 5)
    assert store.admit_code(sent_at(6, "ref-6"), GUARD).code_id is not None


def test_the_fraud_count_leaves_out_codes_older_than_the_window(store: Store) -> None:
    """Three unvalidated codes a window old no longer count: the next send is admitted."""
    for number in range(3):
        store.admit_code(sent_at(number, f"ref-{number}"), GUARD)
    # The window is 3600 s: at 3602 the codes of 0, 1 and 2 s have all left it.
    assert store.admit_code(sent_at(3602, "ref-late"), GUARD).code_id is not None


def test_the_fraud_count_leaves_out_codes_of_other_ranges(store: Store) -> None:
    """Unvalidated codes to the neighbouring ranges do not count towards the watched one."""
    for number, phone in enumerate(("+447921123456", "+447901123456", "+33791123456")):
        code = replace(sent_at(number, f"ref-{number}"), phone=phone)
        store.admit_code(code, SendPolicy(fraud=FraudRule(phone[:6], 3600, 3, 10)))
    assert store.admit_code(sent_at(3, "ref-3"), GUARD).code_id is not None
