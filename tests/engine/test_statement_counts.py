"""What one request-code and one validate-code cost the database, with every default control
on (the token's request limit, the phone's send limit, the token's SMS budget, the fraud
guard, the phone's failure limit): the statements and write transactions counted as the
database sees them (tests/support/sql_counter.py). A request from a token in use, to a phone
that had a code; a validation of that token's latest code, with the code the phone got."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from postgres_db import postgres_store
from sql_counter import Tally, counting

from tfa_engine import Engine, SQLiteStore, catalogue
from tfa_engine.store import Store

UK_MOBILE = "+447911123456"
OTHER_UK_MOBILE = "+447911123457"


@pytest.fixture(params=["sqlite", "postgres"])
def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Each SQL backend in turn."""
    if request.param == "postgres":
        with postgres_store() as backend:
            yield backend
        return
    backend = SQLiteStore(tmp_path / "counted.db")
    try:
        yield backend
    finally:
        backend.close()


Warm = tuple[Engine, str, str]


@pytest.fixture
def warm(
    make_engine: Callable[..., Engine], sql_store: Store, send_code: Callable[..., Any]
) -> Warm:
    """An engine with the defaults whose token has sent a code to both phones already,
    the token and the code of client_ref ``warm-2``."""
    engine = make_engine(sql_store)
    assert engine.config.rate_limits and engine.config.fraud_guard
    token = engine.create_token("counted").token
    send_code(engine, token, "warm-1", phone=UK_MOBILE)
    _, code = send_code(engine, token, "warm-2", phone=OTHER_UK_MOBILE)
    return engine, token, code


def _request(warm: Warm) -> Tally:
    engine, token, _ = warm
    with counting(engine.store) as tally:
        outcome = engine.request_code(token, "127.0.0.1", {
            "client_ref": "counted", "phone_number": UK_MOBILE})
    assert outcome.status == catalogue.SUCCESS, outcome.status
    return tally


def test_request_code_takes_at_most_eight_statements(warm: Warm) -> None:
    """A request-code issues at most 8 SQL statements."""
    tally = _request(warm)
    assert len(tally.statements) <= 8, str(tally)


def test_request_code_commits_at_most_two_transactions(warm: Warm) -> None:
    """A request-code writes in at most 2 transactions: its admission, its activation."""
    tally = _request(warm)
    assert tally.transactions <= 2, str(tally)


def _validate(warm: Warm) -> Tally:
    engine, token, code = warm
    with counting(engine.store) as tally:
        outcome = engine.validate_code(token, "127.0.0.1", "warm-2", code)
    assert outcome.status == catalogue.VALID, outcome.status
    return tally


def test_validate_code_takes_at_most_four_statements(warm: Warm) -> None:
    """A validate-code issues at most 4 SQL statements."""
    tally = _validate(warm)
    assert len(tally.statements) <= 4, str(tally)


def test_validate_code_commits_one_transaction(warm: Warm) -> None:
    """A validate-code writes in one transaction: its request counted, its code used."""
    tally = _validate(warm)
    assert tally.transactions == 1, str(tally)
