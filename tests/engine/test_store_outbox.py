"""The callback outbox and delivery reports, against every store backend."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

from tfa_engine.store import NewCallback, NewCode, SQLiteStore, Store
from tfa_engine.store.sqlite import MIGRATIONS

NOW = 1_700_000_000.0


def _code(message_id: str = "10000000000000000001", client_ref: str = "ref-1") -> NewCode:
    return NewCode(
        message_id=message_id,
        token_id="tok_a",
        client_ref=client_ref,
        phone="+447911123456",
        code_hash="$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA",
        code_length=6,
        case_sensitive=False,
        sender="TFA",
        callback_url="https://client.example/cb",
        created_at=NOW,
        expires_at=NOW + 300,
        api_job_id="job-1",
    )


def _callback(message_id: str = "10000000000000000001", body: str = "{}") -> NewCallback:
    return NewCallback("tok_a", message_id, "https://client.example/cb", body, NOW)


def test_activation_queues_its_callback(store: Store) -> None:
    """A callback given to activate_code is pending once the code is live."""
    code_id = store.insert_code(_code())
    store.activate_code(code_id, _callback(body='{"a": 1}'))
    jobs = store.claim_callbacks(NOW, 10, 30)
    assert [(j.message_id, j.body, j.attempts) for j in jobs] == [
        ("10000000000000000001", '{"a": 1}', 0)
    ]


def test_claimed_callback_is_hidden_for_the_lease(store: Store) -> None:
    """A claimed callback is not handed out again until its lease ends."""
    store.activate_code(store.insert_code(_code()), _callback())
    assert len(store.claim_callbacks(NOW, 10, 30)) == 1
    assert store.claim_callbacks(NOW + 29, 10, 30) == []
    assert len(store.claim_callbacks(NOW + 30, 10, 30)) == 1


def test_delivered_callback_is_never_claimed_again(store: Store) -> None:
    """An acknowledged callback leaves the queue."""
    store.activate_code(store.insert_code(_code()), _callback())
    (job,) = store.claim_callbacks(NOW, 10, 30)
    store.callback_delivered(job.id)
    assert store.claim_callbacks(NOW + 3600, 10, 30) == []
    assert store.callback_states(job.message_id) == [("delivered", 0)]


def test_failed_callback_is_retried_at_the_given_time(store: Store) -> None:
    """A failure counts an attempt and schedules the next one."""
    store.activate_code(store.insert_code(_code()), _callback())
    (job,) = store.claim_callbacks(NOW, 10, 30)
    store.callback_failed(job.id, "HTTP 500", NOW + 5)
    assert store.claim_callbacks(NOW + 4, 10, 1) == []
    (again,) = store.claim_callbacks(NOW + 5, 10, 1)
    assert again.attempts == 1


def test_callback_given_up_stays_failed(store: Store) -> None:
    """A failure with no retry time ends the callback."""
    store.activate_code(store.insert_code(_code()), _callback())
    (job,) = store.claim_callbacks(NOW, 10, 30)
    store.callback_failed(job.id, "refused", None)
    assert store.claim_callbacks(NOW + 3600, 10, 30) == []
    assert store.callback_states(job.message_id) == [("failed", 1)]


def test_claim_respects_the_limit(store: Store) -> None:
    """No more than ``limit`` callbacks are claimed at once."""
    for n in range(3):
        message_id = f"1000000000000000000{n}"
        code_id = store.insert_code(_code(message_id, f"ref-{n}"))
        store.activate_code(code_id, _callback(message_id))
    assert len(store.claim_callbacks(NOW, 2, 30)) == 2


def test_delivery_report_updates_the_code_and_queues(store: Store) -> None:
    """A report stores the status and queues what the factory builds from the record."""
    store.activate_code(store.insert_code(_code()))
    seen = []

    def factory(record):  # type: ignore[no-untyped-def]
        seen.append((record.delivery_status, record.api_job_id))
        return _callback(body='{"status": "DELIVRD"}')

    assert store.record_delivery("10000000000000000001", "DELIVRD", NOW + 1, factory)
    assert seen == [("DELIVRD", "job-1")]
    record = store.find_code("tok_a", "ref-1")
    assert record is not None and record.delivery_status == "DELIVRD"
    assert record.delivered_at == NOW + 1
    assert [j.body for j in store.claim_callbacks(NOW + 1, 10, 30)] == ['{"status": "DELIVRD"}']


def test_duplicate_delivery_report_queues_nothing(store: Store) -> None:
    """A report repeating the stored status is ignored."""
    store.activate_code(store.insert_code(_code()))
    assert store.record_delivery("10000000000000000001", "DELIVRD", NOW, lambda r: _callback())
    assert not store.record_delivery(
        "10000000000000000001", "DELIVRD", NOW + 1, lambda r: _callback()
    )
    assert len(store.claim_callbacks(NOW + 1, 10, 30)) == 1


def test_delivery_report_for_unknown_message_is_ignored(store: Store) -> None:
    """A report naming no stored message changes nothing."""
    assert not store.record_delivery("99999999999999999999", "DELIVRD", NOW, lambda r: None)


def test_report_on_pending_code_is_queued_at_activation_after_its_callback(
    store: Store,
) -> None:
    """A report that overtakes the gateway's answer is kept and queued after INTERNAL."""
    code_id = store.insert_code(_code())
    assert store.record_delivery(
        "10000000000000000001", "DELIVRD", NOW, lambda r: _callback(body="too early")
    )
    assert store.claim_callbacks(NOW, 10, 30) == []
    store.activate_code(
        code_id,
        _callback(body="internal"),
        lambda record: _callback(body=f"sms {record.delivery_status}"),
    )
    assert [j.body for j in store.claim_callbacks(NOW, 10, 30)] == ["internal", "sms DELIVRD"]


def test_activation_without_report_queues_no_sms_callback(store: Store) -> None:
    """With no early report, activation queues only its own callback."""
    code_id = store.insert_code(_code())
    store.activate_code(code_id, _callback(body="internal"), lambda r: _callback(body="sms"))
    assert [j.body for j in store.claim_callbacks(NOW, 10, 30)] == ["internal"]


def test_purge_drops_settled_callbacks_but_keeps_pending(store: Store) -> None:
    """Settled callbacks go with retention; pending ones are never purged."""
    for n, settle in enumerate(("delivered", "pending")):
        message_id = f"1000000000000000000{n}"
        code_id = store.insert_code(_code(message_id, f"ref-{n}"))
        store.activate_code(code_id, _callback(message_id))
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
    MIGRATIONS[0](sqlite_utils.Database(conn))
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
