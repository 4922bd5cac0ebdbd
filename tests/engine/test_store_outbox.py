"""The callback outbox and delivery reports, against every store backend."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

from tfa_engine.store import NewCode, SQLiteStore, Store
from tfa_engine.store._sqlite_schema import MIGRATIONS

NOW = 1_700_000_000.0
URL = "https://client.example/cb"


def _code(
    message_id: str = "10000000000000000001", client_ref: str = "ref-1", url: str | None = URL
) -> NewCode:
    return NewCode(
        message_id=message_id,
        token_id="tok_a",
        client_ref=client_ref,
        phone="+447911123456",
        code_hash="$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA",
        code_length=6,
        case_sensitive=False,
        sender="TFA",
        callback_url=url,
        created_at=NOW,
        expires_at=NOW + 300,
        api_job_id="job-1",
    )


def _events(store: Store, now: float = NOW) -> list[tuple[str, str, float]]:
    return [(j.kind, j.status, j.at) for j in store.claim_callbacks(now, 10, 30)]


def test_activation_queues_the_internal_callback(store: Store) -> None:
    """Activating a code with a callback URL queues INTERNAL/ACCEPTD, with what the body
    tells of the code."""
    store.activate_code(store.insert_code(_code()), NOW + 1)
    (job,) = store.claim_callbacks(NOW + 1, 10, 30)
    assert (job.message_id, job.url, job.kind, job.status, job.at, job.attempts) == (
        "10000000000000000001", URL, "INTERNAL", "ACCEPTD", NOW + 1, 0
    )
    assert (job.api_job_id, job.phone, job.sender, job.client_ref) == (
        "job-1", "+447911123456", "TFA", "ref-1"
    )


def test_activation_without_a_url_queues_nothing(store: Store) -> None:
    """A code sent without callback_url has no callbacks."""
    store.activate_code(store.insert_code(_code(url=None)), NOW)
    assert store.claim_callbacks(NOW, 10, 30) == []
    assert store.pending_callbacks() == 0


def test_repeated_activation_queues_nothing_more(store: Store) -> None:
    """A second activation of the same code neither changes nor queues anything."""
    code_id = store.insert_code(_code())
    assert store.activate_code(code_id, NOW).state == "live"
    assert store.activate_code(code_id, NOW + 1).state == "live"
    assert store.pending_callbacks() == 1


def test_claimed_callback_is_hidden_for_the_lease(store: Store) -> None:
    """A claimed callback is not handed out again until its lease ends."""
    store.activate_code(store.insert_code(_code()), NOW)
    assert len(store.claim_callbacks(NOW, 10, 30)) == 1
    assert store.claim_callbacks(NOW + 29, 10, 30) == []
    assert len(store.claim_callbacks(NOW + 30, 10, 30)) == 1


def test_delivered_callback_is_never_claimed_again(store: Store) -> None:
    """An acknowledged callback leaves the queue."""
    store.activate_code(store.insert_code(_code()), NOW)
    (job,) = store.claim_callbacks(NOW, 10, 30)
    store.callback_delivered(job.id)
    assert store.claim_callbacks(NOW + 3600, 10, 30) == []
    assert store.callback_states(job.message_id) == [("delivered", 0)]
    assert store.pending_callbacks() == 0


def test_failed_callback_is_retried_at_the_given_time(store: Store) -> None:
    """A failure counts an attempt and schedules the next one."""
    store.activate_code(store.insert_code(_code()), NOW)
    (job,) = store.claim_callbacks(NOW, 10, 30)
    store.callback_failed(job.id, "HTTP 500", NOW + 5)
    assert store.claim_callbacks(NOW + 4, 10, 1) == []
    (again,) = store.claim_callbacks(NOW + 5, 10, 1)
    assert again.attempts == 1


def test_callback_given_up_stays_failed(store: Store) -> None:
    """A failure with no retry time ends the callback."""
    store.activate_code(store.insert_code(_code()), NOW)
    (job,) = store.claim_callbacks(NOW, 10, 30)
    store.callback_failed(job.id, "refused", None)
    assert store.claim_callbacks(NOW + 3600, 10, 30) == []
    assert store.callback_states(job.message_id) == [("failed", 1)]


def test_claim_respects_the_limit_oldest_first(store: Store) -> None:
    """No more than ``limit`` callbacks are claimed at once, the oldest queued first."""
    for n in range(3):
        message_id = f"1000000000000000000{n}"
        store.activate_code(store.insert_code(_code(message_id, f"ref-{n}")), NOW)
    claimed = store.claim_callbacks(NOW, 2, 30)
    assert [j.message_id for j in claimed] == ["10000000000000000000", "10000000000000000001"]
    assert store.pending_callbacks() == 3


def test_delivery_report_updates_the_code_and_queues(store: Store) -> None:
    """A report stores the status and queues the SMS callback after INTERNAL."""
    store.activate_code(store.insert_code(_code()), NOW)
    assert store.record_delivery("10000000000000000001", "DELIVRD", NOW + 1)
    record = store.find_code("tok_a", "ref-1")
    assert record is not None and record.delivery_status == "DELIVRD"
    assert record.delivered_at == NOW + 1
    assert _events(store, NOW + 1) == [("INTERNAL", "ACCEPTD", NOW), ("SMS", "DELIVRD", NOW + 1)]


def test_delivery_report_without_a_url_is_stored_not_queued(store: Store) -> None:
    """A code with no callback URL keeps its report and queues nothing."""
    store.activate_code(store.insert_code(_code(url=None)), NOW)
    assert store.record_delivery("10000000000000000001", "UNDELIV", NOW)
    record = store.find_code("tok_a", "ref-1")
    assert record is not None and record.delivery_status == "UNDELIV"
    assert store.pending_callbacks() == 0


def test_duplicate_delivery_report_queues_nothing(store: Store) -> None:
    """A report repeating the stored status is ignored."""
    store.activate_code(store.insert_code(_code()), NOW)
    assert store.record_delivery("10000000000000000001", "DELIVRD", NOW)
    assert not store.record_delivery("10000000000000000001", "DELIVRD", NOW + 1)
    assert store.pending_callbacks() == 2


def test_delivery_report_for_unknown_message_is_ignored(store: Store) -> None:
    """A report naming no stored message changes nothing."""
    assert not store.record_delivery("99999999999999999999", "DELIVRD", NOW)


def test_report_on_pending_code_is_queued_at_activation_after_its_callback(
    store: Store,
) -> None:
    """A report that overtakes the gateway's answer is kept and queued after INTERNAL."""
    code_id = store.insert_code(_code())
    assert store.record_delivery("10000000000000000001", "DELIVRD", NOW)
    assert store.claim_callbacks(NOW, 10, 30) == []
    store.activate_code(code_id, NOW + 2)
    assert _events(store, NOW + 2) == [("INTERNAL", "ACCEPTD", NOW + 2), ("SMS", "DELIVRD", NOW)]


def test_callback_of_a_purged_code_tells_nothing_of_it(store: Store) -> None:
    """Once its code is gone, a claimed callback has no api_job_id to build a body from."""
    store.activate_code(store.insert_code(_code()), NOW)
    store.purge(NOW + 300 + 10, 10)
    (job,) = store.claim_callbacks(NOW, 10, 30)
    assert job.api_job_id is None


def test_purge_drops_settled_callbacks_but_keeps_pending(store: Store) -> None:
    """Settled callbacks go with retention; pending ones are never purged."""
    for n, settle in enumerate(("delivered", "pending")):
        message_id = f"1000000000000000000{n}"
        store.activate_code(store.insert_code(_code(message_id, f"ref-{n}")), NOW)
        if settle == "delivered":
            (job,) = store.claim_callbacks(NOW, 1, 30)
            store.callback_delivered(job.id)
    store.purge(NOW + 10_000, 100)
    assert store.callback_states("10000000000000000000") == []
    assert store.callback_states("10000000000000000001") == [("pending", 0)]


def test_version_1_file_is_upgraded_with_its_data(tmp_path: Path) -> None:
    """A file written by the first schema is migrated in place, its codes kept."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    MIGRATIONS[0](conn)
    conn.execute("PRAGMA user_version=1")
    conn.execute(
        "INSERT INTO codes (message_id, token_id, client_ref, phone, code_hash, code_length,"
        " case_sensitive, sender, created_at, expires_at, state, attempts)"
        " VALUES ('1', 'tok_a', 'old-ref', '+447911123456', 'h', 6, 0, 'TFA', 0, 300,"
        " 'live', 0)"
    )
    conn.commit()
    conn.close()
    store = SQLiteStore(path)
    try:
        assert store.schema_version() == len(MIGRATIONS)
        record = store.find_code("tok_a", "old-ref")
        assert record is not None
        assert (record.state, record.api_job_id, record.delivery_status) == ("live", "", None)
    finally:
        store.close()


def test_version_2_callbacks_keep_their_text(tmp_path: Path) -> None:
    """A callback queued with its body by the second schema is delivered with that body."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for migration in MIGRATIONS[:2]:
        migration(conn)
    conn.execute("PRAGMA user_version=2")
    sqlite_utils.Database(conn).table("outbox").insert({
        "token_id": "tok_a", "message_id": "1", "url": URL, "body": '{"old": true}',
        "state": "pending", "attempts": 0, "next_attempt_at": NOW, "created_at": NOW,
    })
    conn.commit()
    conn.close()
    store = SQLiteStore(path)
    try:
        (job,) = store.claim_callbacks(NOW, 10, 30)
        assert job.body == '{"old": true}'
    finally:
        store.close()
