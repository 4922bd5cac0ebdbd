"""The diagnostics beside ``python -m benchmarks`` run and report every case they name: the
HTTP path's parts (``benchmarks.http_path``) and request-code against the range's traffic
(``benchmarks.range_traffic``). Their figures are measured elsewhere; here, that each case
ran, every request succeeded and the table has a row per endpoint."""

from __future__ import annotations

import sys

import pytest

from benchmarks import http_path, range_traffic


def test_http_path_measures_every_variant_and_the_engine_alone() -> None:
    """One small round: a figure per variant and endpoint, each a positive CPU time."""
    stderr = sys.stderr
    figures = http_path.measure("test", rounds=1, batch=5)
    assert sys.stderr is stderr  # the records went to the run's own file, and it is back
    assert set(figures) == {*http_path.VARIANTS, http_path.ENGINE}
    for runs in figures.values():
        assert set(runs) == {"request-code", "validate-code"}
        assert all(ms > 0 for ms in runs.values()), runs
    rows = http_path.table(figures).splitlines()
    assert [row.split(" | ")[0] for row in rows[2:]] == ["| request-code", "| validate-code"]


def test_http_path_refuses_more_requests_than_it_has_phones_for() -> None:
    """Rounds x batch beyond the request-codes' phones is a usage error."""
    with pytest.raises(SystemExit):
        http_path.main(["--rounds", "2", "--batch", str(http_path.REQUEST_PHONES)])


def test_range_traffic_reports_each_step_against_the_codes_before_it() -> None:
    """Two steps of 10 request-codes: rows at 0 and 10 codes in the window."""
    rows = range_traffic.measure("test", step=10, steps=2)
    assert [before for before, _ in rows] == [0, 10]
    assert all(ms > 0 for _, ms in rows)
