"""Fixtures of the attack suite: every attack test feeds the collector that the scan
(test_zz_no_secrets_left.py, marked ``attack_scan``) checks after them.

The collector lives in one process: under xdist the whole suite runs on one worker
(tests/conftest.py's scheduler), and the scan runs after every other attack test of the
session: the order is set here, whatever the files' names or the command line's order.

    collected       the session's :class:`attack_collector.Collector` (codes, tokens and
                    phones issued; SQLite files written; log records and process output).
    (autouse)       each attack test runs with the ``tfa`` loggers at DEBUG, every record
                    they emit in this process kept by the collector.
    backend         each store in turn: MemoryStore, SQLiteStore on a real file (reported
                    to the collector), PostgresStore on a fresh schema of the test
                    database (see tests/support/postgres_db.py).
    served          (module) ``tfa serve`` on ``tfa gateway-sim``, real processes on
                    127.0.0.1 with default limits and JSON logs: a :class:`Served`.
    clock           (tests/conftest.py) a settable fake clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from attack_collector import COLLECTED, Collector, keeping_logs
from attack_kit import Served, service_env, start_service, start_simulator, stopping
from postgres_db import postgres_store

from tfa_engine import MemoryStore, SQLiteStore
from tfa_engine.store import Store

HERE = Path(__file__).resolve().parent
SCAN = "attack_scan"


def pytest_configure(config: pytest.Config) -> None:
    """Register the scan's marker."""
    config.addinivalue_line("markers", f"{SCAN}: checks what the whole attack suite left")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The scan right after the last other attack test of the session."""
    suite = [item for item in items if item.path.is_relative_to(HERE)]
    scans = {id(item): item for item in suite if item.get_closest_marker(SCAN)}
    rest = [item for item in items if id(item) not in scans]
    attacks_left = [i for i, item in enumerate(rest) if item.path.is_relative_to(HERE)]
    at = attacks_left[-1] + 1 if attacks_left else len(rest)
    items[:] = [*rest[:at], *scans.values(), *rest[at:]]


@pytest.fixture(scope="session")
def collected() -> Collector:
    """What the attack tests issued, wrote and logged so far."""
    return COLLECTED


@pytest.fixture(autouse=True)
def keep_logs() -> Iterator[None]:
    """The ``tfa`` loggers at DEBUG during the test, their records collected."""
    with keeping_logs():
        yield


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Each storage backend in turn."""
    if request.param == "postgres":
        with postgres_store() as store:
            yield store
        return
    if request.param == "memory":
        yield MemoryStore()
        return
    sqlite = SQLiteStore(tmp_path / "attack.db")
    COLLECTED.database(sqlite.path)
    try:
        yield sqlite
    finally:
        sqlite.close()


GATEWAY_USER, GATEWAY_PASSWORD = "attack", "attack-gateway-pass"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``tfa serve`` (default limits, JSON logs) on the mediariver simulator, both real
    processes on 127.0.0.1, shared by the module's tests (each uses tokens of its own)."""
    workdir = tmp_path_factory.mktemp("served")
    sim = start_simulator(workdir, GATEWAY_USER, GATEWAY_PASSWORD)
    with stopping(sim):
        env = service_env(
            workdir, TFA_GATEWAY="mediariver", TFA_MEDIARIVER_URL=sim.base_url,
            TFA_MEDIARIVER_USERNAME=GATEWAY_USER, TFA_MEDIARIVER_PASSWORD=GATEWAY_PASSWORD,
        )
        service = start_service(workdir, env)
        with stopping(service):
            yield Served(service.base_url, sim.base_url, workdir, env, service)
