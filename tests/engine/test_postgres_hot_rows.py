"""On PostgreSQL, the rows every request updates (each limit's head and slots, the fraud
guard's totals) are updated in place in their pages (heap-only tuples): their indexes do not
grow with the updates, so finding the rows does not cost more with each request between two
vacuums."""

from __future__ import annotations

import time
from typing import Any

from postgres_db import postgres_store
from store_records import NOW, TTL, new_code

from tfa_engine.store import Allowance, FraudRule, SendPolicy

UPDATES = 2000


def test_counting_one_limit_many_times_leaves_its_indexes_as_small_as_one_row_does() -> None:
    with postgres_store() as store:
        # 10 events a second, one every 0.2 s: each of the ring's 10 slots is reused.
        for number in range(UPDATES):
            assert store.take("token:tok_a", 10, 1, NOW + number / 5) is None
        with store._read() as conn:
            sizes = dict(conn.execute(
                "SELECT indexrelid::regclass::text, pg_relation_size(indexrelid)"
                " FROM pg_index WHERE indrelid IN ('rate_heads'::regclass,"
                " 'rate_slots'::regclass)").fetchall())
    # A B-tree's metapage and one leaf; an entry per update would take a dozen leaves.
    assert sizes and all(size <= 2 * 8192 for size in sizes.values()), sizes


def test_many_codes_to_one_range_leave_the_totals_index_as_small_as_one_row_does() -> None:
    policy = SendPolicy(
        (Allowance("sms-token:tok_a", 1_000_000, 86400),),
        FraudRule("+44791", 3600, 1_000_000, 10), phone="+447911123456")
    with postgres_store() as store:
        for number in range(UPDATES // 4):  # within one 16-second slice
            code = new_code(f"hot-{number}", expires_at=NOW + TTL + number / 1000)
            assert store.admit_code(code, policy).code_id is not None
        with store._read() as conn:
            size = conn.execute(
                "SELECT pg_relation_size('range_traffic_pkey')").fetchone()[0]
    assert size <= 2 * 8192, size


def test_plans_made_while_the_tables_were_small_do_not_read_whole_tables_later() -> None:
    """Statements run often enough to be prepared while the codes table is nearly empty
    (a new database) are still planned for the table as it grows: sending codes to one
    phone after 5,000 others were stored reads the phone's codes by index, not the whole
    table.

    (Counts rows given out, not time: a timed test would say little on a shared machine.)"""
    policy = SendPolicy(phone="+447911123456")
    with postgres_store(min_size=1, max_size=1) as store:
        # Each statement prepared, and run past the five custom plans after which PostgreSQL
        # may keep a generic one, on the store's one connection, on a nearly empty table.
        for number in range(30):
            code = new_code(f"early-{number}", expires_at=NOW + TTL + number)
            store.activate_code(store.admit_code(code, policy).code_id, NOW + number)
        with store._read() as conn:
            conn.execute(
                "INSERT INTO codes (message_id, token_id, client_ref, phone, code_hash,"
                " code_length, case_sensitive, sender, created_at, expires_at, state,"
                " attempts, number_range) SELECT 'bulk-' || n, 'tok_a', 'bulk-' || n,"
                " '+4479112' || lpad(n::text, 5, '0'), 'h', 6, false, 'TFA', :now,"
                " :now + 300, 'live', 0, '+44791' FROM generate_series(1, 5000) AS n",
                {"now": NOW + 20})
        before = _rows_read_from(store, "codes")
        for number in range(12):
            code = new_code(f"late-{number}", expires_at=NOW + TTL + 30 + number)
            store.activate_code(store.admit_code(code, policy).code_id, NOW + 30 + number)
        after = _rows_read_from(store, "codes")
    # The phone's codes (42 at most) a few times per send, not the token's 5,000 codes
    # each time (which came to 120,000 rows when a plan of the empty table was kept).
    assert after - before < 12 * 250, (before, after)


def _rows_read_from(store: Any, table: str) -> int:
    """Rows ``table`` and its indexes gave out so far (by sequential scans, and
    index entries), the store's one connection having reported its own (a backend sends
    its counts at the end of a transaction at least a second after it last did)."""
    time.sleep(1.1)
    with store._read() as conn:
        conn.execute("SELECT 1")
        return int(conn.execute(
            "SELECT seq_tup_read + coalesce((SELECT sum(idx_tup_read)"
            " FROM pg_stat_user_indexes i WHERE i.relid = t.relid), 0)"
            " FROM pg_stat_user_tables t WHERE relname = :table", {"table": table}
        ).fetchone()[0])


def test_a_limits_ring_is_read_by_its_slot_not_slot_by_slot() -> None:
    """A limit far above the load keeps one slot per event counted; each send reads the
    one slot it judges by, however many the ring holds."""
    budget = Allowance("sms-token:tok_a", 1_000_000, 86400)
    with postgres_store(min_size=1, max_size=1) as store:
        for number in range(3000):
            assert store.take(budget.key, budget.count, budget.seconds, NOW + number) is None
        before = _rows_read_from(store, "rate_slots")
        for number in range(10):
            code = new_code(f"ring-{number}", expires_at=NOW + TTL + 3000 + number)
            admitted = store.admit_code(code, SendPolicy((budget,), phone="+447911123456"))
            assert admitted.code_id is not None
        after = _rows_read_from(store, "rate_slots")
    # One slot per send (3,000 each if the ring were read by its key alone).
    assert after - before <= 10 * 2, (before, after)


def test_only_transactions_that_need_not_wait_for_the_disk_commit_without_waiting() -> None:
    """A transaction marked not durable (a send's admission, a counted event: the code's
    activation waits for the disk before any 201) commits without waiting, told so with its
    first lock or before its first statement; every other waits (synchronous_commit on)."""
    with postgres_store(min_size=1, max_size=1) as store:
        with store._read() as conn:  # as a durable server is (the test servers are not)
            conn.execute("SET synchronous_commit TO on")
        with store._transaction(durable=False) as conn:
            store._lock(conn, "limit:a", "limit:b")
            assert conn.execute("SHOW synchronous_commit").fetchone()[0] == "off"
        with store._transaction(durable=False) as conn:
            store._lock(conn, "limit:a")
            assert conn.execute("SHOW synchronous_commit").fetchone()[0] == "off"
        with store._transaction(durable=False) as conn:
            assert conn.execute("SHOW synchronous_commit").fetchone()[0] == "off"
        with store._transaction() as conn:
            store._lock(conn, "limit:a")
            assert conn.execute("SHOW synchronous_commit").fetchone()[0] == "on"
        with store._write() as conn:
            assert conn.execute("SHOW synchronous_commit").fetchone()[0] == "on"
