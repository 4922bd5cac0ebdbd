"""A store that cannot serve: -78 with Retry-After, /health/ready, and one log line."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fake_clock import FakeClock
from outage import CAUSE, OutageStore

from tfa_engine import StoreUnavailable
from tfa_engine.adapters.falcon.outages import RETRY_AFTER, OutageLog

UNAVAILABLE = {"status_code": -78, "description": "Service unavailable. Retry later."}

CALLS = [
    pytest.param(lambda api: api.request(), id="request-code"),
    pytest.param(lambda api: api.validate("ref-1", "123456"), id="validate"),
    pytest.param(lambda api: api.client.simulate_get("/health/ready"), id="ready"),
]


@pytest.mark.parametrize("call", CALLS)
def test_store_down_is_78_with_retry_after(api: Any, store: OutageStore, call: Any) -> None:
    """While the store cannot serve, requests get -78, HTTP 503, Retry-After: 5."""
    store.down = True
    result = call(api)
    assert result.status_code == 503
    assert result.json["result_info"] == UNAVAILABLE
    assert result.headers["retry-after"] == str(RETRY_AFTER) == "5"
    assert result.json["api_job_id"]


def test_service_answers_again_once_the_store_recovers(api: Any, store: OutageStore) -> None:
    """-78 lasts only as long as the outage: the same request succeeds afterwards."""
    store.down = True
    assert api.request().status_code == 503
    store.down = False
    assert api.request().status_code == 201


def test_ready_is_200_when_the_store_takes_writes(api: Any) -> None:
    """/health/ready answers 200 {"status": "ready"} without a token."""
    result = api.client.simulate_get("/health/ready")
    assert (result.status_code, result.json) == (200, {"status": "ready"})
    assert result.headers["cache-control"] == "no-store"


def test_health_stays_ok_while_the_store_is_down(api: Any, store: OutageStore) -> None:
    """/health is liveness: the process is up, so 200 even while the store is down."""
    store.down = True
    result = api.client.simulate_get("/health")
    assert (result.status_code, result.json) == (200, {"status": "ok"})


def test_outage_is_logged_once_without_traceback(
    api: Any, store: OutageStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Ten failing requests give one warning line naming the cause, and no traceback."""
    store.down = True
    with caplog.at_level(logging.WARNING, logger="tfa.http"):
        for _ in range(10):
            assert api.request().status_code == 503
    records = [r for r in caplog.records if r.name == "tfa.http"]
    assert len(records) == 1
    assert CAUSE in records[0].getMessage() and "-78" in records[0].getMessage()
    assert records[0].exc_info is None
    assert "Traceback" not in caplog.text


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the OutageLog under test wrote."""
    return [r.getMessage() for r in caplog.records if r.name == "tfa.test.outages"]


def test_outage_log_counts_at_most_once_per_interval(
    caplog: pytest.LogCaptureFixture, clock: FakeClock
) -> None:
    """One line at the first failure, then one count per interval, however many failures."""
    caplog.set_level(logging.WARNING, logger="tfa.test.outages")
    outages = OutageLog(logging.getLogger("tfa.test.outages"), interval=60, clock=clock)
    error = StoreUnavailable(CAUSE)
    for _ in range(100):  # 100 failures, 0.5 s apart: 50 s, within one interval
        outages.failed(error)
        clock.advance(0.5)
    assert len(messages(caplog)) == 1
    clock.advance(10)  # 60 s after the first line
    outages.failed(error)
    assert len(messages(caplog)) == 2
    assert "100 more requests answered -78" in messages(caplog)[1]


def test_outage_log_starts_again_after_a_quiet_interval(
    caplog: pytest.LogCaptureFixture, clock: FakeClock
) -> None:
    """A failure after an interval without any is a new outage: its cause is logged again,
    after the count of the one before."""
    caplog.set_level(logging.WARNING, logger="tfa.test.outages")
    outages = OutageLog(logging.getLogger("tfa.test.outages"), interval=60, clock=clock)
    outages.failed(StoreUnavailable("disk full"))
    outages.failed(StoreUnavailable("disk full"))
    clock.advance(61)
    outages.failed(StoreUnavailable("database is locked"))
    assert len(messages(caplog)) == 3
    assert "disk full" in messages(caplog)[0]
    assert "1 more requests answered -78" in messages(caplog)[1]
    assert "database is locked" in messages(caplog)[2]


def test_recovery_is_logged_once_with_how_long_the_outage_lasted(
    caplog: pytest.LogCaptureFixture, clock: FakeClock
) -> None:
    """The first request served after an outage writes one line: how long it lasted and
    how many requests it refused since the last line; later ones write nothing."""
    caplog.set_level(logging.WARNING, logger="tfa.test.outages")
    outages = OutageLog(logging.getLogger("tfa.test.outages"), interval=60, clock=clock)
    for _ in range(4):
        outages.failed(StoreUnavailable(CAUSE))
        clock.advance(3)
    outages.recovered()
    outages.recovered()
    assert messages(caplog)[1:] == [
        "store available again after 12.0 s (3 more requests answered -78)"]


def test_a_request_under_way_when_the_outage_began_does_not_end_it(
    caplog: pytest.LogCaptureFixture, clock: FakeClock
) -> None:
    """A request that arrived before the first failure and was served proves nothing: the
    outage goes on, and its next failure writes no new line."""
    caplog.set_level(logging.WARNING, logger="tfa.test.outages")
    outages = OutageLog(logging.getLogger("tfa.test.outages"), interval=60, clock=clock)
    arrived = outages.now()
    clock.advance(0.1)
    outages.failed(StoreUnavailable(CAUSE))
    outages.recovered(arrived)
    outages.failed(StoreUnavailable(CAUSE))
    assert len(messages(caplog)) == 1 and outages.ongoing


def test_a_code_stored_after_an_outage_logs_the_return(
    api: Any, store: OutageStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Through the app: -78 while the store is down, then a 201 writes one line saying the
    store is available again."""
    with caplog.at_level(logging.WARNING, logger="tfa.http"):
        store.down = True
        assert api.request("ref-1").status_code == 503
        store.down = False
        assert api.request("ref-2").status_code == 201
        assert api.request("ref-3").status_code == 201
    lines = [r.getMessage() for r in caplog.records if r.name == "tfa.http"]
    assert len(lines) == 2
    assert lines[1].startswith("store available again after ")
