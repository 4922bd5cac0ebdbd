"""Several processes on one database keep every invariant of a single one.

Each check runs on three deployments (tests/support/fleet.py), with real processes on
127.0.0.1 and requests released together by a barrier:

    two-servers-pg   two ``tfa serve --threads 16`` on one PostgreSQL schema, requests
                     alternating between them
    workers-sqlite   ``tfa serve --workers 2 --threads 16`` on one SQLite file
    workers-pg       the same on a PostgreSQL schema

The requests of a check take turns between the deployment's processes, and every check
asserts that each process answered its share: for workers sharing one port, each request
goes over a connection opened beforehand and accepted by the worker whose turn it is (the
owner of its socket, read from /proc), and the reply is traced back to that worker.

The figures:
    1. 50 parallel correct submissions of one code: one 0 (Valid), 49 x -53.
    2. 200 parallel wrong guesses: 5 x -54 (max_attempts), 195 x -53; then the right code
       is -53 too, and the stored row says attempts 5, state 'locked'.
    3. 30 parallel request-codes with one client_ref: one 201, 29 x -52.
    4. 40 parallel sends to one phone (limit 5/600): 5 x 201, 35 x 429 (-70).
    5. 20 parallel sends to one phone (limit raised to 1000/600): 20 x 201, no 5xx, and one
       code of the 20 stored 'live', the other 19 'superseded'.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from fleet import KINDS, Fleet, new_phone, new_ref, start_fleet
from parallel_http import Reply, in_parallel

from tfa_engine import catalogue

pytestmark = pytest.mark.network

MAX_ATTEMPTS = 5  # TFA_MAX_ATTEMPTS's default, which every deployment keeps
PHONE_SENDS = 5  # TFA_LIMIT_PHONE_SENDS's default count (5/600)
TOKENS = ("valid", "guesses", "client-ref", "phone-limit")


@pytest.fixture(scope="module", params=KINDS)
def fleet(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fleet]:
    """A deployment with the default limits and one token per check (so that no check
    counts against another's per-token limit)."""
    workdir = tmp_path_factory.mktemp(request.param)
    with start_fleet(request.param, workdir, TOKENS) as started:
        yield started


def outcomes(replies: list[Reply]) -> Counter[tuple[int, int]]:
    """How many replies had each (HTTP status, status_code)."""
    return Counter(reply.outcome for reply in replies)


def assert_every_process_served(fleet: Fleet, replies: list[Reply]) -> None:
    """The deployment's processes took turns answering ``replies``: each answered its
    share (for workers, the reply names the worker that held the connection)."""
    served = Counter(fleet.server_of(reply, number) for number, reply in enumerate(replies))
    if fleet.worker_pids:
        assert set(served) == {f"pid {pid}" for pid in fleet.worker_pids}, served
    share = len(replies) / len(fleet.worker_pids or fleet.processes)
    assert all(abs(count - share) < 1 for count in served.values()), served


def send_code(fleet: Fleet, token: str) -> tuple[str, str]:
    """Request a code for a new phone: (client_ref, the code from the SMS)."""
    client_ref, phone = new_ref("code"), new_phone()
    reply = fleet.request_code(0, token, client_ref, phone)
    assert reply.outcome == (catalogue.SUCCESS.http, catalogue.SUCCESS.code), reply.body
    return client_ref, fleet.sms_code(phone)


def stored_codes(fleet: Fleet, column: str, value: str) -> list[tuple[str, int]]:
    """(state, attempts) of every stored code whose ``column`` is ``value``."""
    return [
        (str(state), int(attempts))
        for state, attempts in fleet.database.rows(
            f"SELECT state, attempts FROM codes WHERE {column} = ?", value  # noqa: S608
        )
    ]


def wrong(code: str, number: int) -> str:
    """A code of the same length that is not ``code``."""
    return f"{(int(code) + 1 + number) % 10 ** len(code):0{len(code)}d}"


# -- 1. single use ----------------------------------------------------------------------------
def test_parallel_correct_submissions_give_one_valid(fleet: Fleet) -> None:
    """50 parallel submissions of the right code: exactly one Valid, 49 Invalid (-53)."""
    client_ref, code = send_code(fleet, "valid")
    with fleet.alternating(50):
        replies = in_parallel(50, lambda n: fleet.validate(n, "valid", client_ref, code))
    assert outcomes(replies) == {
        (catalogue.VALID.http, catalogue.VALID.code): 1,
        (catalogue.INVALID.http, catalogue.INVALID.code): 49,
    }
    assert_every_process_served(fleet, replies)
    assert stored_codes(fleet, "client_ref", client_ref) == [("used", 0)]


# -- 2. attempt counting ----------------------------------------------------------------------
def test_parallel_wrong_guesses_record_exactly_the_limit(fleet: Fleet) -> None:
    """200 parallel wrong guesses: max_attempts x -54, the rest -53; the code is dead."""
    client_ref, code = send_code(fleet, "guesses")
    with fleet.alternating(200):
        replies = in_parallel(
            200, lambda n: fleet.validate(n, "guesses", client_ref, wrong(code, n))
        )
    assert outcomes(replies) == {
        (catalogue.DECLINED.http, catalogue.DECLINED.code): MAX_ATTEMPTS,
        (catalogue.INVALID.http, catalogue.INVALID.code): 200 - MAX_ATTEMPTS,
    }
    assert_every_process_served(fleet, replies)
    right = fleet.validate(1, "guesses", client_ref, code)
    assert right.outcome == (catalogue.INVALID.http, catalogue.INVALID.code)
    assert stored_codes(fleet, "client_ref", client_ref) == [("locked", MAX_ATTEMPTS)]


# -- 3. client_ref uniqueness -----------------------------------------------------------------
def test_parallel_requests_with_one_client_ref_send_once(fleet: Fleet) -> None:
    """30 parallel request-codes with one client_ref (each to its own phone, so that no
    per-phone limit interferes): one 201, 29 x -52, one stored code."""
    client_ref = new_ref("shared")
    phones = [new_phone() for _ in range(30)]
    with fleet.alternating(30):
        replies = in_parallel(
            30, lambda n: fleet.request_code(n, "client-ref", client_ref, phones[n])
        )
    assert outcomes(replies) == {
        (catalogue.SUCCESS.http, catalogue.SUCCESS.code): 1,
        (catalogue.CLIENT_REF_EXISTS.http, catalogue.CLIENT_REF_EXISTS.code): 29,
    }
    assert_every_process_served(fleet, replies)
    assert stored_codes(fleet, "client_ref", client_ref) == [("live", 0)]


# -- 4. the per-phone send limit --------------------------------------------------------------
def test_parallel_sends_to_one_phone_stop_at_the_limit(fleet: Fleet) -> None:
    """40 parallel sends to one phone, distinct client_refs: 5 x 201, 35 x 429 (-70)."""
    phone = new_phone()
    with fleet.alternating(40):
        replies = in_parallel(
            40, lambda n: fleet.request_code(n, "phone-limit", new_ref("limit"), phone)
        )
    assert outcomes(replies) == {
        (catalogue.SUCCESS.http, catalogue.SUCCESS.code): PHONE_SENDS,
        (catalogue.RATE_LIMITED.http, catalogue.RATE_LIMITED.code): 40 - PHONE_SENDS,
    }
    assert all(int(r.headers["retry-after"]) > 0 for r in replies if r.http == 429)
    assert_every_process_served(fleet, replies)
    assert len(stored_codes(fleet, "phone", phone)) == PHONE_SENDS


# -- 5. one live code per phone ---------------------------------------------------------------
def test_parallel_sends_to_one_phone_leave_one_live_code(
    fleet: Fleet, tmp_path: Path
) -> None:
    """With the per-phone limit raised, 20 parallel sends to one phone: all 201, and of
    the 20 stored codes exactly one is live (the others superseded)."""
    with start_fleet(
        fleet.kind, tmp_path, ["raised"], TFA_LIMIT_PHONE_SENDS="1000/600"
    ) as raised:
        phone = new_phone()
        with raised.alternating(20):
            replies = in_parallel(
                20, lambda n: raised.request_code(n, "raised", new_ref("live"), phone)
            )
        assert outcomes(replies) == {(catalogue.SUCCESS.http, catalogue.SUCCESS.code): 20}
        assert_every_process_served(raised, replies)
        states = Counter(state for state, _ in stored_codes(raised, "phone", phone))
        assert states == {"live": 1, "superseded": 19}
