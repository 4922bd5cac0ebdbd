"""Chaos: parallel duplicates of one request across the processes of a deployment.

A client that retries a request-code (a timeout, a double click, a proxy's retry) sends
the same client_ref several times at once, possibly to different nodes. Exactly one is
sent; the others are -52, and none of them uses up anything: the phone's send limit and
the token's SMS budget are as one send left them. Run on the three deployments of
tests/support/fleet.py (two servers on PostgreSQL, two workers on SQLite and on
PostgreSQL), each token with a budget of 3 SMS a day (TFA_LIMIT_TOKEN_SMS=3/86400).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from fleet import KINDS, SMS_LINE, Fleet, new_phone, new_ref, start_fleet
from parallel_http import in_parallel

from tfa_engine import catalogue

pytestmark = [pytest.mark.network, pytest.mark.slow]

BUDGET = 3
SENT = (catalogue.SUCCESS.http, catalogue.SUCCESS.code)
DUPLICATE = (catalogue.CLIENT_REF_EXISTS.http, catalogue.CLIENT_REF_EXISTS.code)
SPENT = (catalogue.BUDGET_EXHAUSTED.http, catalogue.BUDGET_EXHAUSTED.code)


@pytest.fixture(scope="module", params=KINDS)
def fleet(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fleet]:
    """A deployment whose tokens may send 3 SMS a day."""
    workdir = tmp_path_factory.mktemp(request.param)
    with start_fleet(request.param, workdir, ("retries",),
                     TFA_LIMIT_TOKEN_SMS=f"{BUDGET}/86400") as started:
        yield started


def sms_to(fleet: Fleet, phones: set[str]) -> int:
    """How many SMS the deployment's processes printed for ``phones``."""
    return sum(
        1 for process in fleet.processes for line in process.output().splitlines()
        if (m := SMS_LINE.search(line)) and m[1] in phones
    )


def test_parallel_duplicates_send_once_and_use_up_nothing_more(fleet: Fleet) -> None:
    """Ten parallel requests with one client_ref and phone: one 201 and nine -52, one
    SMS; then a new client_ref to that phone is 201 (the phone's limit was not spent by
    the duplicates), and the budget of 3 admits exactly two more sends."""
    phone, client_ref = new_phone(), new_ref("retried")
    with fleet.alternating(10):
        replies = in_parallel(
            10, lambda n: fleet.request_code(n, "retries", client_ref, phone)
        )
    assert Counter(reply.outcome for reply in replies) == {SENT: 1, DUPLICATE: 9}
    again = fleet.request_code(0, "retries", new_ref("again"), phone)
    assert again.outcome == SENT, again.body
    other = new_phone()
    third = fleet.request_code(1, "retries", new_ref("third"), other)
    assert third.outcome == SENT, third.body
    fourth = fleet.request_code(0, "retries", new_ref("fourth"), new_phone())
    assert fourth.outcome == SPENT, fourth.body
    fleet.sms_code(other)  # the last SMS is out: count them all now
    assert sms_to(fleet, {phone, other}) == BUDGET
