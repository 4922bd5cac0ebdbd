"""Each code is filed under the fraud guard's number range: the range read from the
number alone is the country code and three digits of the national number as libphonenumber
reads them, codes stored before migration 10 are filed by the same rule and counted in the
running totals of migration 11, and the guard's count reads only the totals and the codes of
one slice of the window (the query plans, SQLite and PostgreSQL)."""

from __future__ import annotations

import math
import re
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import phonenumbers
from postgres_db import database_url, drop_schema, fresh_schema, postgres_store
from range_totals import counted
from store_records import NOW, TOKEN_ID, UK, new_code

from tfa_engine import SQLiteStore
from tfa_engine.store import FRAUD, FraudRule, Refusal, SendPolicy
from tfa_engine.store._ranges import RANGE_OF_PHONE, SLICE, phone_range
from tfa_engine.store._sql_admission import TRAFFIC
from tfa_engine.store._sql_traffic import COUNT, count_params
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
    """SQLite reads the totals of the window's whole slices by their key, and the codes of
    the slice before them by the index on (token, range, time), bounded on both sides."""
    statements: list[str] = []
    conn = sqlite_store._connection()  # this thread's, which admit_code runs on
    conn.set_trace_callback(statements.append)  # each statement with its values in place
    try:
        sqlite_store.admit_code(new_code("traced"), GUARD)
    finally:
        conn.set_trace_callback(None)
    admission = next(sql for sql in statements if "'traffic'" in sql)
    plan = " | ".join(row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + admission))
    # The codes of the one slice the window begins in, bounded on both sides; the totals
    # of the slices after it.
    assert ("USING INDEX codes_token_range_created"
            " (token_id=? AND number_range=? AND created_at>? AND created_at<?)") in plan, plan
    assert ("SEARCH range_traffic USING PRIMARY KEY (token_id=? AND prefix=? AND slice>?)"
            in plan), plan


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
        # A token and range with codes (the planner knows that one has none).
        window = {"t": "tok_1", "p": "+44791", **count_params(NOW - 3600)}
        count = "\n".join(row[0] for row in conn.execute(
            "EXPLAIN " + " UNION ALL ".join(COUNT), window).fetchall())
    assert "codes_token_range_created" in plan, plan
    condition = next(line for line in plan.splitlines() if "Index Cond" in line)
    assert "number_range =" in condition and "created_at >" in condition, plan
    # The guard's count: the totals by their key, the codes of one slice by the index.
    assert "range_traffic_pkey" in count, count
    edge = next(line for line in count.splitlines()
                if "Index Cond" in line and "number_range" in line)
    assert "created_at >" in edge and "created_at <" in edge, count


# Codes of two tokens and two ranges at times on, just before and between slice edges, some
# used; one range released between two edges, one released on an edge, one held.
_STORED = [
    (token, f"+4479{digit}12345{number:02d}", NOW + offset, state)
    for token in ("tok_a", "tok_b")
    for digit in (1, 2)
    for number, (offset, state) in enumerate([
        (0.0, "live"), (15.999, "used"), (16.0, "live"), (16.0, "used"), (40.5, "used"),
        (-0.25, "superseded"), (-3600.0, "live"), (200.0, "used"),
    ])
]
_RANGES = [("tok_a", "+44791", None, NOW + 20.5), ("tok_a", "+44792", None, NOW + 32.0),
           ("tok_b", "+44791", NOW + 900, None)]


def _stored_before_the_totals(execute: Any) -> None:
    for number, (token, phone, at, state) in enumerate(_STORED):
        execute(
            "INSERT INTO codes (message_id, token_id, client_ref, phone, code_hash, code_length,"
            " case_sensitive, sender, created_at, expires_at, state, attempts, number_range)"
            " VALUES (:m, :t, :r, :ph, 'h', 6, :cs, 'Shop', :at, :ends, :state, 0, :range)",
            {"m": f"{number:020d}", "t": token, "r": f"old-{number}", "ph": phone, "at": at,
             "ends": at + 300, "state": state, "range": phone[:6], "cs": False},
        )
    for token, prefix, held, released in _RANGES:
        execute("INSERT INTO fraud_ranges (token_id, prefix, held_until, released_at)"
                " VALUES (:t, :p, :h, :r)", {"t": token, "p": prefix, "h": held, "r": released})


def _expected_totals() -> list[tuple[Any, ...]]:
    found = counted((token, phone[:6], at, state) for token, phone, at, state in _STORED)
    return sorted((*key, sent, used) for key, (sent, used) in found.items())


# Released between two edges: the next slice; on an edge: the slice beginning there.
_RELEASED = [("tok_a", "+44791", math.floor((NOW + 20.5) / SLICE) + 1),
             ("tok_a", "+44792", int((NOW + 32.0) // SLICE)), ("tok_b", "+44791", None)]


def test_the_sqlite_migration_totals_the_codes_stored(tmp_path: Path) -> None:
    """A file at schema 10 gets the totals of the codes it holds per (token, range, slice),
    and each released range the first slice after its release."""
    path = tmp_path / "v10.db"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for migration in MIGRATIONS[:10]:
            migration(conn)
        conn.execute("PRAGMA user_version = 10")  # the totals come with migration 11
        _stored_before_the_totals(conn.execute)
    finally:
        conn.close()
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)
    try:
        totals = conn.execute("SELECT * FROM range_traffic ORDER BY 1, 2, 3").fetchall()
        released = conn.execute(
            "SELECT token_id, prefix, released_slice FROM fraud_ranges ORDER BY 1, 2").fetchall()
    finally:
        conn.close()
    assert totals == _expected_totals()
    assert released == _RELEASED


def test_the_postgresql_migration_totals_the_codes_stored() -> None:
    """A database at schema 8 (PostgreSQL's migration before the totals) gets the totals
    of its codes and each released range the first slice after its release."""
    import psycopg

    from tfa_engine.store._postgres_schema import MIGRATIONS as PG_MIGRATIONS
    from tfa_engine.store._sql_traffic import POSTGRESQL as POSTGRESQL_TOTALS
    from tfa_engine.store.postgres import PostgresStore

    url, schema = database_url(), fresh_schema()
    before = PG_MIGRATIONS.index(POSTGRESQL_TOTALS)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
            conn.execute(f'SET search_path TO "{schema}"')
            for migration in PG_MIGRATIONS[:before]:
                for statement in migration:
                    conn.execute(statement)
            conn.execute("CREATE TABLE tfa_schema (version integer NOT NULL)")
            conn.execute("INSERT INTO tfa_schema VALUES (%s)", (before,))
            with conn.cursor() as cursor:
                _stored_before_the_totals(
                    lambda sql, params: cursor.execute(
                        re.sub(r":(\w+)", r"%(\1)s", sql), params))
        store = PostgresStore(url, schema=schema)
        try:
            with store._read() as conn:
                totals = conn.execute("SELECT * FROM range_traffic ORDER BY 1, 2, 3").fetchall()
                released = conn.execute("SELECT token_id, prefix, released_slice"
                                        " FROM fraud_ranges ORDER BY 1, 2").fetchall()
        finally:
            store.close()
    finally:
        drop_schema(url, schema)
    assert [tuple(row) for row in totals] == _expected_totals()
    assert [tuple(row) for row in released] == _RELEASED
