"""What ``tfa serve`` logs while its PostgreSQL is down: the callback dispatcher says once
that the store is unavailable (no traceback per round), and once that it is back.

The test stops a throwaway cluster of its own (dev/postgres.py), never the
shared test server.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fleet import fleet_environ, processes, serve_command
from postgres_db import database_url

from dev.postgres import Cluster, throwaway_cluster

pytestmark = [pytest.mark.network, pytest.mark.slow]  # a database outage

# A dispatcher round during the outage waits out the pool's 5 s for a connection, then
# pauses 1 s: 14 s down is at least two failed rounds.
DOWN_FOR = 14.0
LOG_TIMEOUT = 30.0  # seconds for an expected log line (a round takes about 6 s)
STARTED = r"No API token yet in "
DOWN = re.compile(r"tfa-callbacks: the store is unavailable")
BACK = re.compile(r"tfa-callbacks: the store is back after \d+ s \((\d+) failed rounds\)")


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """A PostgreSQL cluster this test may stop."""
    database_url()  # fails like every PostgreSQL case where there can be none
    with throwaway_cluster() as started:
        yield started


def test_a_database_outage_is_one_warning_then_one_line_when_it_is_back(
    cluster: Cluster, tmp_path: Path
) -> None:
    """PostgreSQL stopped for 14 s under `tfa serve`: the dispatcher logs one warning line,
    no traceback, then one info line once the database is back, counting the failed
    rounds (at least 2)."""
    with processes([serve_command()], tmp_path, fleet_environ(cluster.url)) as (server,):
        server.wait_for(STARTED)  # its last read at start; the dispatcher starts then
        mark = server.mark()
        cluster.stop("fast")
        server.wait_for(DOWN.pattern, LOG_TIMEOUT, since=mark)
        time.sleep(DOWN_FOR)  # the outage itself: real time for the real pool to fail in
        cluster.start()
        back = server.wait_for(BACK.pattern, LOG_TIMEOUT, since=mark)
        during = server.lines[mark:]
    assert sum(bool(DOWN.search(line)) for line in during) == 1
    assert not any("Traceback" in line for line in during), "\n".join(during)
    assert int(back[1]) >= 2
