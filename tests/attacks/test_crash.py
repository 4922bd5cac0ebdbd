"""Fault: ``tfa serve`` is killed (SIGKILL) in the middle of 1,000 request-code calls
made 16 at a time through ``tfa gateway-sim`` (TFA_GATEWAY=mediariver), then restarted
on the same port and file.

What must hold:
* in the file left by the crash: ``PRAGMA integrity_check`` is ok, and every SMS the
  simulator took belongs to a stored code (the code is stored before it is sent);
* every call answered 201 has exactly one SMS, whose code validates once (then -53);
* every call left unanswered by the crash can be retried with its client_ref and gets
  201 at the latest TFA_MEDIARIVER_DEADLINE + 5 s after the crash. The one exception
  the API allows: a call the dead process had completed (its code live, its SMS out)
  but not answered yet is -52 on retry, as a duplicate client_ref must be; its SMS's
  code then validates once like any other;
* an SMS whose code is no longer stored after the retries is one the crash left
  pending, and that a retry of its own client_ref replaced.

The moment of the kill is drawn from a seeded generator: after between 150 and 600
answered calls, while 16 are in flight.
"""

from __future__ import annotations

import http.client
import random
import signal
import sqlite3
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from attack_kit import (
    Reply,
    code_in,
    create_token_cli,
    request_code,
    service_env,
    sim_messages,
    start_service,
    start_simulator,
    validate,
)
from loopback import free_port

from tfa_engine._engine import PENDING_MARGIN

CALLS = 1000
CONCURRENCY = 16
SEED = 20261124
DEADLINE = 1  # TFA_MEDIARIVER_DEADLINE
STALE_AFTER = DEADLINE + PENDING_MARGIN  # a dead sender's client_ref comes free then
GATEWAY = ("crash", "crash-gateway-pass")
WAIT = 60.0  # bound of every wait below


def phone(number: int) -> str:
    """A phone of each call's own: no limit, no superseded code in the way."""
    return f"+4474006{number:05d}"


@dataclass
class Run:
    """The calls, what they got, and the moment of the kill."""

    url: str
    token: str
    kill_after: int
    answered: dict[str, Reply] = field(default_factory=dict)
    unanswered: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    enough: threading.Event = field(default_factory=threading.Event)
    restarted: threading.Event = field(default_factory=threading.Event)

    def call(self, number: int) -> None:
        """One request-code call; an exchange the crash broke is noted, and the worker
        waits for the restart before its next call."""
        ref = f"crash-{number}"
        try:
            reply = request_code(self.url, self.token, ref, phone(number))
        except (OSError, http.client.HTTPException):
            with self.lock:
                self.unanswered.add(ref)
            assert self.restarted.wait(WAIT), "the service was not restarted"
            return
        with self.lock:
            self.answered[ref] = reply
            if len(self.answered) >= self.kill_after:
                self.enough.set()


def stored_codes(database: Path) -> dict[str, tuple[str, str]]:
    """message_id -> (client_ref, state) of every code in the file."""
    with sqlite3.connect(database, timeout=10) as db:
        rows = db.execute("SELECT message_id, client_ref, state FROM codes").fetchall()
    db.close()
    return {row[0]: (row[1], row[2]) for row in rows}


def integrity(database: Path) -> str:
    """What ``PRAGMA integrity_check`` says of the file."""
    with sqlite3.connect(database, timeout=10) as db:
        (result,) = db.execute("PRAGMA integrity_check").fetchone()
    db.close()
    return str(result)


def sms_by_message_id(sim_url: str) -> dict[str, list[dict[str, Any]]]:
    """The simulator's messages, by our message_id (its customer_uuid)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for entry in sim_messages(sim_url):
        found.setdefault(entry["customer_uuid"], []).append(entry)
    return found


@pytest.mark.slow
def test_kill_9_during_1000_sends_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    started = time.monotonic()
    with ExitStack() as stack:
        sim = start_simulator(tmp_path, *GATEWAY)
        stack.callback(sim.stop)
        port = free_port()
        env = service_env(
            tmp_path, TFA_GATEWAY="mediariver", TFA_MEDIARIVER_URL=sim.base_url,
            TFA_MEDIARIVER_USERNAME=GATEWAY[0], TFA_MEDIARIVER_PASSWORD=GATEWAY[1],
            TFA_MEDIARIVER_DEADLINE=str(DEADLINE), TFA_RATE_LIMITS="off",
        )
        database = Path(env["TFA_DATABASE"])
        token = create_token_cli(tmp_path, env, "crash")["token"]
        run = Run(f"http://127.0.0.1:{port}", token, random.Random(SEED).randrange(150, 600))
        first = start_service(tmp_path, env, port)
        stack.callback(first.stop, signal.SIGKILL)
        pool = stack.enter_context(ThreadPoolExecutor(max_workers=CONCURRENCY))
        stack.callback(run.restarted.set)  # no worker waits past a failure here
        calls = [pool.submit(run.call, number) for number in range(CALLS)]
        assert run.enough.wait(WAIT), "the calls did not get going"
        assert first.stop(signal.SIGKILL) == -signal.SIGKILL
        killed_at = time.time()

        # The file as the crash left it.
        assert integrity(database) == "ok"
        crashed = stored_codes(database)
        sent_then = sms_by_message_id(sim.base_url)
        assert set(sent_then) <= set(crashed), "SMS out for a code that is not stored"
        pending = {m: ref for m, (ref, state) in crashed.items() if state == "pending"}

        second = start_service(tmp_path, env, port)
        stack.callback(second.stop)
        run.restarted.set()
        for future in calls:
            future.result(timeout=WAIT)
        assert run.unanswered, "the kill left no call unanswered: it came too late"
        assert len(run.answered) + len(run.unanswered) == CALLS
        # Answered calls: 201, except -65 if the simulator's own rate limit refused.
        statuses = Counter((r.status, r.code) for r in run.answered.values())
        assert set(statuses) <= {(201, 0), (400, -65)}, statuses

        # Retry every call the crash left unanswered (and any -65), once the crashed
        # sender's client_refs are free.
        retry = sorted(run.unanswered | {ref for ref, r in run.answered.items()
                                         if r.code == -65})
        time.sleep(max(0.0, killed_at + STALE_AFTER + 0.25 - time.time()))
        retried = dict(zip(retry, pool.map(
            lambda ref: request_code(run.url, token, ref, phone(int(ref[6:]))), retry),
            strict=True))
        completed_unanswered = set()
        for ref, reply in retried.items():
            if (reply.status, reply.code) == (422, -52):
                completed_unanswered.add(ref)
            else:
                assert (reply.status, reply.code) == (201, 0), (ref, reply.body)

        sms = sms_by_message_id(sim.base_url)
        stored = stored_codes(database)
        by_ref = {ref: m for m, (ref, _) in stored.items()}
        # A -52 retry: the crashed process had sent the code and made it live.
        for ref in completed_unanswered:
            assert stored[by_ref[ref]][1] == "live" and ref in run.unanswered, ref
        # Every 201, and every completed call, has exactly one SMS: validate its code.
        to_check = [r.body["result"]["message_id"] for r in run.answered.values()
                    if r.code == 0]
        to_check += [r.body["result"]["message_id"] for r in retried.values() if r.code == 0]
        to_check += [by_ref[ref] for ref in completed_unanswered]
        assert len(to_check) == CALLS
        assert all(len(sms.get(m, [])) == 1 for m in to_check)

        def twice(message_id: str) -> tuple[tuple[int, int], tuple[int, int]]:
            ref = stored[message_id][0]
            code = code_in(sms[message_id][0]["message"])
            once = validate(run.url, token, ref, code)
            again = validate(run.url, token, ref, code)
            return (once.status, once.code), (again.status, again.code)

        outcomes = Counter(pool.map(twice, to_check))
        assert outcomes == {((200, 0), (200, -53)): CALLS}

        # SMS of codes no longer stored: left pending by the crash, replaced by a
        # successful retry of their client_ref.
        for message_id in set(sms) - set(stored):
            ref = pending.get(message_id)
            assert ref is not None and retried[ref].code == 0, message_id
        second.stop()
        assert integrity(database) == "ok"
    assert time.monotonic() - started < 120
