"""The store contract where it fails or meets the leftovers of failures, on every backend:
error paths, codes a crashed sender left pending, exclusive sections, readiness."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest

from tfa_engine.store import (
    DuplicateClientRef,
    DuplicateMessageId,
    NewCode,
    Store,
    StoreError,
)

NOW = 1_700_000_000.0
TTL = 300.0
UK = "+447911123456"
STALE_BEFORE = NOW + 15  # "pending since before NOW + 15 means its sender died"


def code(client_ref: str = "ref-1", message_id: str = "10000000000000000001",
         created_at: float = NOW) -> NewCode:
    """A code ready to insert."""
    return NewCode(
        message_id=message_id, token_id="tok_a", client_ref=client_ref, phone=UK,
        code_hash="$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA", code_length=6,
        case_sensitive=False, sender="TFA", callback_url=None, created_at=created_at,
        expires_at=created_at + TTL, api_job_id="job",
    )


# -- error paths -----------------------------------------------------------------------------
def test_a_code_missing_a_required_value_is_a_store_error(store: Store) -> None:
    """A write breaking a rule other than uniqueness is a plain StoreError, never mistaken
    for a taken client_ref (which clients would see as -52)."""
    broken = replace(code(), phone=None)  # type: ignore[arg-type]
    with pytest.raises(StoreError) as raised:
        store.insert_code(broken)
    assert not isinstance(raised.value, (DuplicateClientRef, DuplicateMessageId))
    assert store.find_code("tok_a", "ref-1") is None


def test_activating_an_unknown_code_is_a_store_error(store: Store) -> None:
    """Activating a code that is not stored raises StoreError on every backend."""
    with pytest.raises(StoreError):
        store.activate_code(424_242, NOW)


def test_activating_a_live_code_again_says_live(store: Store) -> None:
    """A repeated activation reports the code's state: it stays live (not "superseded")."""
    code_id = store.insert_code(code())
    assert store.activate_code(code_id, NOW).state == "live"
    assert store.activate_code(code_id, NOW).state == "live"
    record = store.find_code("tok_a", "ref-1")
    assert record is not None and record.state == "live"


@pytest.mark.parametrize("call", ["delivered", "failed", "discard"])
def test_unknown_ids_are_ignored_alike(store: Store, call: str) -> None:
    """Settling an unknown callback or discarding an unknown code changes nothing, raises
    nothing, on every backend."""
    if call == "delivered":
        store.callback_delivered(99)
    elif call == "failed":
        store.callback_failed(99, "HTTP 500", None)
    else:
        store.discard_code(99)
    assert store.pending_callbacks() == 0


# -- codes left pending ------------------------------------------------------------------------
def test_a_stale_pending_code_frees_its_client_ref(store: Store) -> None:
    """A code pending since before ``stale_before`` does not hold its client_ref, and a new
    code with that client_ref replaces it."""
    store.insert_code(code(created_at=NOW))
    assert store.client_ref_taken("tok_a", "ref-1") is True
    assert store.client_ref_taken("tok_a", "ref-1", STALE_BEFORE) is False
    new_id = store.insert_code(code(message_id="10000000000000000002", created_at=NOW + 20),
                               STALE_BEFORE)
    record = store.find_code("tok_a", "ref-1")
    assert record is not None and (record.id, record.message_id) == (
        new_id, "10000000000000000002"
    )


def test_a_fresh_pending_code_keeps_its_client_ref(store: Store) -> None:
    """A code still being sent (pending since after ``stale_before``) is not replaced."""
    store.insert_code(code(created_at=STALE_BEFORE + 1))
    assert store.client_ref_taken("tok_a", "ref-1", STALE_BEFORE) is True
    with pytest.raises(DuplicateClientRef):
        store.insert_code(code(message_id="10000000000000000002"), STALE_BEFORE)


@pytest.mark.parametrize("state", ["live", "used"])
def test_a_sent_code_is_never_replaced(store: Store, state: str) -> None:
    """However old, a code that left ``pending`` keeps its client_ref."""
    code_id = store.insert_code(code())
    store.activate_code(code_id, NOW)
    if state == "used":
        store.consume_code(code_id, NOW, 5)
    assert store.client_ref_taken("tok_a", "ref-1", NOW + 10_000) is True
    with pytest.raises(DuplicateClientRef):
        store.insert_code(code(message_id="10000000000000000002"), NOW + 10_000)


def test_a_replaced_code_can_no_longer_be_activated(store: Store) -> None:
    """The process that sent the replaced code, had it survived, gets a StoreError."""
    old_id = store.insert_code(code())
    store.insert_code(code(message_id="10000000000000000002", created_at=NOW + 20),
                      STALE_BEFORE)
    with pytest.raises(StoreError):
        store.activate_code(old_id, NOW + 20)


# -- exclusive sections and readiness -----------------------------------------------------------
def test_exclusive_sections_of_one_name_never_overlap(store: Store) -> None:
    """Two threads in ``exclusive("declare")`` run one after the other."""
    inside: list[int] = []
    overlaps: list[bool] = []

    def work(n: int) -> None:
        with store.exclusive("declare"):
            overlaps.append(bool(inside))
            inside.append(n)
            time.sleep(0.05)
            inside.remove(n)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert overlaps == [False, False, False]


def test_work_inside_an_exclusive_section_can_use_the_store(store: Store) -> None:
    """An exclusive section does not lock the caller out of the store itself."""
    with store.exclusive("declare"):
        assert store.insert_code(code()) > 0
        assert store.client_ref_taken("tok_a", "ref-1") is True


def test_ping_passes_on_a_working_store(store: Store) -> None:
    """A store that can write answers the readiness round trip."""
    store.ping(NOW)
    store.ping(NOW + 1)
