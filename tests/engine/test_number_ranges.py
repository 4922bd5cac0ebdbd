"""Each code is filed under the fraud guard's number range: the range read from the
number alone is the country code and three digits of the national number as libphonenumber
reads them, codes stored before migration 10 are filed by the
same rule, and the guard's count reads only the window's codes of the range (the query
plans, SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import phonenumbers
from postgres_db import postgres_store
from store_records import NOW, TOKEN_ID, UK, new_code

from tfa_engine import SQLiteStore
from tfa_engine.store import FRAUD, FraudRule, Refusal, SendPolicy
from tfa_engine.store._ranges import RANGE_OF_PHONE, phone_range
from tfa_engine.store._sql_admission import TRAFFIC
from tfa_engine.store._sqlite_schema import MIGRATIONS

GUARD = SendPolicy(fraud=FraudRule("+44791", 3600, 3, 10))  # held after 3 unvalidated codes
TRAFFIC_PARAMS = {"t": TOKEN_ID, "p": "+44791", "since": NOW - 3600}


def _example_numbers() -> list[str]:
    """An E.164 mobile number of every country code libphonenumber knows."""
    numbers = []
    for code in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE):
        for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[code]:
            example = (phonenumbers.example_number_for_non_geo_entity(code)
                       if region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY
                       else phonenumbers.example_number_for_type(
                           region, phonenumbers.PhoneNumberType.MOBILE))
            if example is not None:
                numbers.append(phonenumbers.format_number(
                    example, phonenumbers.PhoneNumberFormat.E164))
                break
    return numbers


def number_range(e164: str) -> str:
    """The range as libphonenumber reads it: the country code and the national number's
    first three digits."""
    number = phonenumbers.parse(e164, None)
    national = phonenumbers.national_significant_number(number)
    return f"+{number.country_code}{national[:3]}"


def test_a_numbers_range_is_its_country_code_and_three_digits() -> None:
    """For a number of every country code, the range read from the digits alone is the
    country code and three national digits libphonenumber finds in it."""
    numbers = _example_numbers()
    assert len(numbers) > 200
    assert [phone_range(number) for number in numbers] == [
        number_range(number) for number in numbers]


def test_the_migration_files_every_number_under_the_engines_range() -> None:
    """The SQL the migration files stored codes with gives the engine's range of each."""
    numbers = _example_numbers()
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("CREATE TABLE codes (phone TEXT)")
        conn.executemany("INSERT INTO codes VALUES (?)", [(n,) for n in numbers])
        filed = conn.execute(f"SELECT {RANGE_OF_PHONE} FROM codes ORDER BY rowid").fetchall()  # noqa: S608
    finally:
        conn.close()
    assert [row[0] for row in filed] == [number_range(number) for number in numbers]


def test_codes_stored_before_the_migration_still_count(tmp_path: Path) -> None:
    """Three unvalidated codes stored at schema 9 trip the guard once the file is migrated."""
    path = tmp_path / "v9.db"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for migration in MIGRATIONS[:9]:
            migration(conn)
        conn.execute("PRAGMA user_version = 9")
        for number in range(3):
            conn.execute(
                "INSERT INTO codes (message_id, token_id, client_ref, phone, code_hash,"
                " code_length, case_sensitive, sender, created_at, expires_at, state,"
                " attempts, sent_at) VALUES (?, ?, ?, ?, 'h', 6, 0, 'Shop', ?, ?, 'live', 0, ?)",
                (f"{number:020d}", TOKEN_ID, f"old-{number}", f"+4479111234{number:02d}",
                 NOW + number, NOW + 300, NOW + number),
            )
    finally:
        conn.close()
    store = SQLiteStore(path)
    try:
        code = replace(new_code("new", phone=UK), created_at=NOW + 10, expires_at=NOW + 310)
        assert store.admit_code(code, GUARD).refusal == Refusal(FRAUD, 3600)
    finally:
        store.close()


def test_sqlite_counts_a_ranges_traffic_by_the_index_bounded_in_time(
    sqlite_store: SQLiteStore,
) -> None:
    """SQLite counts the range's codes of the window, and those validated, from the index on
    (token, range, time, state) alone: no row of the table is read."""
    statements: list[str] = []
    conn = sqlite_store._connection()  # this thread's, which admit_code runs on
    conn.set_trace_callback(statements.append)  # each statement with its values in place
    try:
        sqlite_store.admit_code(new_code("traced"), GUARD)
    finally:
        conn.set_trace_callback(None)
    admission = next(sql for sql in statements if "'traffic'" in sql)
    plan = " | ".join(row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + admission))
    assert ("USING COVERING INDEX codes_token_range_created"
            " (token_id=? AND number_range=? AND created_at>?)") in plan, plan


def test_postgres_counts_a_ranges_traffic_by_the_index_bounded_in_time() -> None:
    """PostgreSQL, with statistics of 20,000 codes, reads the range's codes of the window
    by the index on (token, range, time), both bounds in its condition."""
    with postgres_store() as store, store._read() as conn:
        # 20,000 codes of 10 tokens to 50 numbers (10 ranges) over 30 days.
        conn.execute(
            "INSERT INTO codes (message_id, token_id, client_ref, phone, code_hash,"
            " code_length, case_sensitive, sender, created_at, expires_at, state, attempts,"
            " number_range)"
            " SELECT lpad(n::text, 20, '0'), 'tok_' || (n % 10), 'ref-' || n,"
            " '+4479' || (n % 10) || '12345' || lpad((n % 50)::text, 2, '0'), 'h', 6, false,"
            " 'Shop', :now - (n * 130), :now - (n * 130) + 300, 'used', 0,"
            " '+4479' || (n % 10) FROM generate_series(1, 20000) AS n",
            {"now": NOW},
        )
        conn.execute("ANALYZE codes")
        plan = "\n".join(row[0] for row in conn.execute(
            "EXPLAIN " + TRAFFIC, TRAFFIC_PARAMS).fetchall())
    assert "codes_token_range_created" in plan, plan
    condition = next(line for line in plan.splitlines() if "Index Cond" in line)
    assert "number_range =" in condition and "created_at >" in condition, plan
