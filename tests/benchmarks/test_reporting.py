"""What the benchmark report computes from its runs: medians, ratios, verdicts, and the
server's CPU and context switches per request."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from benchmarks.procs import database_server_seconds, process_counters
from benchmarks.report import table
from benchmarks.runner import diagnostics, per_request, targets
from benchmarks.stats import Figure, Target, median, percentile


def figure(name: str, values: list[float], key: str = "rps", **extra: float) -> Figure:
    made = Figure(name, name, "req/s", key)
    made.runs = [{key: value, **extra} for value in values]
    return made


def test_percentile_is_nearest_rank() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(values, 0.5) == 3.0
    assert percentile(values, 0.99) == 5.0
    assert percentile(values, 0.0) == 1.0
    assert percentile([], 0.5) is None


def test_median_skips_missing_values() -> None:
    assert median([3.0, None, 1.0, 2.0]) == 2.0
    assert median([None, None]) is None


def test_figure_value_is_the_median_of_its_key_and_none_when_skipped() -> None:
    measured = figure("a", [10.0, 30.0, 20.0])
    assert measured.value == 20.0
    measured.skipped = "no wrk"
    assert measured.value is None
    assert measured.to_json()["medians"] == {}


@pytest.mark.parametrize(
    ("top", "bottom", "bound", "at_least", "ratio", "met"),
    [
        (40.0, 100.0, 0.40, True, 0.40, True),
        (39.0, 100.0, 0.40, True, 0.39, False),
        (0.9, None, 1.0, False, 0.9, True),
        (1.1, None, 1.0, False, 1.1, False),
    ],
)
def test_target_ratio_and_verdict(
    top: float, bottom: float | None, bound: float, at_least: bool, ratio: float, met: bool
) -> None:
    figures = {"top": figure("top", [top])}
    if bottom is not None:
        figures["bottom"] = figure("bottom", [bottom])
    result = Target("t", "top", "bottom" if bottom is not None else None, bound,
                    at_least).evaluate(figures)
    assert result["ratio"] == pytest.approx(ratio)
    assert result["met"] is met
    assert result["why_unknown"] is None


def test_target_is_unknown_when_a_figure_was_skipped_or_not_run() -> None:
    skipped = figure("bottom", [1.0])
    skipped.skipped = "echo failed to start"
    result = Target("t", "top", "bottom", 0.5, True).evaluate({"bottom": skipped})
    assert result["met"] is None and result["ratio"] is None
    assert result["why_unknown"] == "top: not run; bottom: echo failed to start"


def test_per_request_divides_the_counters_by_the_requests() -> None:
    before = {"user_s": 1.0, "sys_s": 0.5, "switches": 100.0}
    after = {"user_s": 1.6, "sys_s": 0.9, "switches": 1100.0}
    assert per_request(before, after, 1000) == pytest.approx(
        {"server_cpu_ms_per_req": 1.0, "server_sys_ms_per_req": 0.4,
         "server_switches_per_req": 1.0}
    )
    assert per_request(None, after, 1000) == {}
    assert per_request(before, after, 0) == {}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_process_counters_read_a_live_process_and_none_for_a_dead_one() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import time\nfor _ in range(50): time.sleep(0.01)\n"
         "x = sum(i * i for i in range(2_000_000))\ninput()"],
        stdin=subprocess.PIPE,
    )
    try:
        first = process_counters(child.pid)
        time.sleep(0.8)  # the child sleeps 50 times (switches), then computes (CPU)
        second = process_counters(child.pid)
        assert first is not None and second is not None
        assert second["switches"] - first["switches"] >= 20
        assert second["user_s"] + second["sys_s"] > first["user_s"] + first["sys_s"]
    finally:
        child.communicate(b"\n", timeout=30)
    assert process_counters(child.pid) is None
    assert process_counters(os.getpid()) is not None


def test_table_shows_server_cost_and_diagnostics_only_when_measured() -> None:
    echo = figure("single.echo", [3000.0], server_cpu_ms_per_req=0.38,
                  server_sys_ms_per_req=0.13, server_switches_per_req=7.2)
    validate = figure("single.test.validate_code", [1500.0])
    figures = {"single.echo": echo, "single.test.validate_code": validate}
    diagnosed = [target.evaluate(figures) for target in diagnostics()]
    results = [target.evaluate(figures) for target in targets(32)]

    text = table(figures, results, ["header"], diagnosed)

    assert "server per request: 0.380 ms CPU (0.130 in the kernel), 7.2 context switches" in text
    assert "diagnostic (not a target)" in text
    line = next(row for row in text.splitlines() if row.startswith("validate-code (test) / echo"))
    assert line.split()[-4:] == ["0.500", ">=", "0.50", "met"]
    assert "request-code (test) / echo, both with 1 server thread" not in text  # not measured
    assert "diagnostic" not in table(figures, results, ["header"], [])


def test_table_shows_the_database_servers_cost_where_it_was_measured() -> None:
    on_postgres = figure("pg.test.request_code", [240.0], server_cpu_ms_per_req=2.3,
                         server_sys_ms_per_req=0.5, server_switches_per_req=50.0,
                         database_cpu_ms_per_req=2.45)
    on_sqlite = figure("http.test.request_code", [570.0], server_cpu_ms_per_req=1.7,
                       server_sys_ms_per_req=0.4, server_switches_per_req=25.0)
    text = table({"pg.test.request_code": on_postgres, "http.test.request_code": on_sqlite},
                 [], ["header"], [])
    assert text.count("database server per request") == 1
    assert "database server per request: 2.450 ms CPU" in text


def test_database_server_seconds_count_a_busy_postgresql_backend() -> None:
    """The CPU of this machine's PostgreSQL processes grows while a backend computes."""
    import psycopg
    from postgres_db import database_url

    with psycopg.connect(database_url(), autocommit=True) as conn:
        before = database_server_seconds()
        assert before is not None
        conn.execute("SELECT count(*) FROM generate_series(1, 3000000) AS n WHERE n % 7 = 0")
        after = database_server_seconds()
    assert after is not None and after - before >= 0.05
