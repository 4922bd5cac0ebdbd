"""Beyond one process on one SQLite file: PostgreSQL beside SQLite, the cost of durable
SQLite commits, and throughput at 1, 2 and 4 server processes (``tfa serve --workers``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import postgres
from .stats import Figure, Target

if TYPE_CHECKING:
    from .runner import Bench

PROFILES = ("owasp", "test")
WORKER_COUNTS = (1, 2, 4)
STORES = ("sqlite", "pg")


def run_stores(bench: Bench) -> None:
    """PostgreSQL figures for both profiles, and SQLite synchronous=NORMAL at ``test``."""
    try:
        with postgres.database() as url:
            for profile in PROFILES:
                schema = f"bench_{profile}"
                postgres.create_schema(url, schema)
                bench._http_profile(profile, prefix="pg", suffix=", PostgreSQL",
                                    database=postgres.in_schema(url, schema))
    except postgres.Unavailable as exc:
        names = [f"pg.{p}.{op}" for p in PROFILES for op in ("request_code", "validate_code")]
        bench.skip([bench.figure(n, n, "req/s", "rps") for n in names if n not in bench.figures],
                   str(exc))
    bench._http_profile("test", prefix="sqlite_normal", suffix=", SQLite synchronous=NORMAL",
                        TFA_SQLITE_SYNCHRONOUS="normal")


def run_workers(bench: Bench) -> None:
    """At the test profile: the echo, request-code and validate-code on each store, with
    1, 2 and 4 processes; then the best of each, as figures ``workers.best.*``."""
    for count in WORKER_COUNTS:
        bench._echo(f"workers.{count}.echo", f"bare Falcon echo, {count} processes",
                    bench.options.threads, workers=count)
        bench._http_profile("test", prefix=f"workers.{count}.sqlite",
                            suffix=f", SQLite, {count} workers", workers=count)
    try:
        with postgres.database() as url:
            for count in WORKER_COUNTS:
                schema = f"bench_workers_{count}"
                postgres.create_schema(url, schema)
                bench._http_profile("test", prefix=f"workers.{count}.pg",
                                    suffix=f", PostgreSQL, {count} workers", workers=count,
                                    database=postgres.in_schema(url, schema))
    except postgres.Unavailable as exc:
        names = [f"workers.{count}.pg.test.{op}" for count in WORKER_COUNTS
                 for op in ("request_code", "validate_code")]
        bench.skip([bench.figure(n, n, "req/s", "rps") for n in names if n not in bench.figures],
                   str(exc))
    for kind in ("echo", "sqlite.test.request_code", "sqlite.test.validate_code",
                 "pg.test.request_code", "pg.test.validate_code"):
        _best(bench, kind)


def _best(bench: Bench, kind: str) -> None:
    """``workers.best.KIND``: the worker count whose median was highest, with its runs."""
    candidates = [bench.figures.get(f"workers.{count}.{kind}") for count in WORKER_COUNTS]
    measured = [f for f in candidates if f is not None and f.runs and f.value is not None]
    if not measured:
        return
    best = max(measured, key=lambda figure: figure.value or 0.0)
    figure = Figure(f"workers.best.{kind}", f"{best.label} (best worker count)", best.unit,
                    best.value_key)
    figure.runs = list(best.runs)
    figure.notes.append(f"best of {', '.join(f.name for f in measured)}: {best.name}")
    bench.figures[figure.name] = figure


def diagnostics() -> list[Target]:
    """Ratios read off these groups (not targets of the benchmark issue's list)."""
    ratios = [
        Target("request-code (test) / echo, each at its best worker count, SQLite",
               "workers.best.sqlite.test.request_code", "workers.best.echo", 0.40, True),
        Target("validate-code (test) / echo, each at its best worker count, SQLite",
               "workers.best.sqlite.test.validate_code", "workers.best.echo", 0.50, True),
        Target("request-code (test) / echo, each at its best worker count, PostgreSQL",
               "workers.best.pg.test.request_code", "workers.best.echo", 0.40, True),
        Target("validate-code (test) / echo, each at its best worker count, PostgreSQL",
               "workers.best.pg.test.validate_code", "workers.best.echo", 0.50, True),
        Target("request-code (test), SQLite synchronous=FULL (default) / NORMAL",
               "http.test.request_code", "sqlite_normal.test.request_code", 0.0, True),
        Target("validate-code (test), SQLite synchronous=FULL (default) / NORMAL",
               "http.test.validate_code", "sqlite_normal.test.validate_code", 0.0, True),
    ]
    for profile in PROFILES:
        for op in ("request_code", "validate_code"):
            ratios.append(Target(
                f"{op.replace('_', '-')} ({profile}), PostgreSQL / SQLite",
                f"pg.{profile}.{op}", f"http.{profile}.{op}", 0.0, True))
    return ratios
