"""Claims on callbacks, on every backend: only the holder of a claim posts or settles a
callback, and a claim whose lease ran out and was taken over is no longer its holder's."""

from __future__ import annotations

from dataclasses import replace

from store_records import NOW, new_code

from tfa_engine.store import Store

URL = "https://client.example/hook"


def queued(store: Store, client_ref: str = "ref-1") -> None:
    """A code with a callback URL, sent: its INTERNAL callback waits in the outbox."""
    store.activate_code(store.insert_code(replace(new_code(client_ref), callback_url=URL)), NOW)


def test_a_claim_renewed_in_time_keeps_the_callback(store: Store) -> None:
    """Renewing before the lease ends keeps other claimers off the callback."""
    queued(store)
    (job,) = store.claim_callbacks(NOW, 10, 5.0)
    assert job.claim
    assert store.renew_callback(job, NOW + 4 + 5.0)
    assert store.claim_callbacks(NOW + 6, 10, 5.0) == []


def test_a_claim_taken_over_cannot_be_renewed_or_settled_by_its_old_holder(
    store: Store,
) -> None:
    """After the lease ran out and another claimer took the callback, the first holder's
    renewal fails (it must not post) and its marks change nothing."""
    queued(store)
    (first,) = store.claim_callbacks(NOW, 10, 5.0)
    (second,) = store.claim_callbacks(NOW + 6, 10, 5.0)
    assert second.id == first.id and second.claim != first.claim
    assert not store.renew_callback(first, NOW + 7 + 5.0)
    store.callback_delivered(first.id, first.claim)
    store.callback_failed(first.id, "HTTP 500", NOW + 100, first.claim)
    assert store.callback_states(first.message_id) == [("pending", 0)]
    assert store.renew_callback(second, NOW + 7 + 5.0)
    store.callback_delivered(second.id, second.claim)
    assert store.callback_states(second.message_id) == [("delivered", 0)]


def test_a_settled_callback_cannot_be_renewed(store: Store) -> None:
    """A callback delivered already is not posted again by a late renewal."""
    queued(store)
    (job,) = store.claim_callbacks(NOW, 10, 5.0)
    store.callback_delivered(job.id, job.claim)
    assert not store.renew_callback(job, NOW + 5.0)


def test_each_claim_call_marks_its_callbacks_alike(store: Store) -> None:
    """The callbacks of one claim share its mark; the next claim's differ."""
    for number in range(3):
        queued(store, f"ref-{number}")
    jobs = store.claim_callbacks(NOW, 2, 5.0)
    later = store.claim_callbacks(NOW, 2, 5.0)
    assert len(jobs) == 2 and len({job.claim for job in jobs}) == 1
    assert len(later) == 1 and later[0].claim != jobs[0].claim
