"""Fault: the SMS gateway stalls (it takes requests and never answers in time), with
real processes on 127.0.0.1: ``tfa gateway-sim`` with its ``hang`` fault as the primary
gateway, a second simulator as the fallback, ``tfa serve`` with
TFA_MEDIARIVER_DEADLINE=1 and TFA_GATEWAY_BREAKER=3/30.

Three sends wait out the deadline and fail (-65); the circuit then opens. From then on
a send fails at once (-65, far under the deadline) while validations answer within
100 ms; with a fallback configured, sends succeed through it instead.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from attack_kit import (
    Reply,
    code_in,
    create_token_cli,
    request_code,
    service_env,
    set_faults,
    sim_messages,
    start_service,
    start_simulator,
    stopping,
    validate,
)
from tfa_processes import TfaProcess

DEADLINE = 1.0  # TFA_MEDIARIVER_DEADLINE
BREAKER_FAILURES = 3  # TFA_GATEWAY_BREAKER=3/30
HANG = 3.0  # seconds the stalled simulator holds each request
# A validation while the gateway stalls: the bound the bulkhead promises (p99 200 ms); one
# of them is 5-20 ms on a quiet machine, so this fails only when validations wait on sends.
VALIDATE_WITHIN = 0.2
FAIL_FAST_WITHIN = 0.25
PRIMARY = ("primary", "primary-pass")
FALLBACK = ("fallback", "fallback-pass")


@dataclass
class Service:
    """A ``tfa serve`` process and a token of it."""

    process: TfaProcess
    token: str
    numbers: Iterator[int]

    @property
    def url(self) -> str:
        return self.process.base_url

    def send(self, ref: str) -> Reply:
        """A code for a phone number of its own (no per-phone limit in the way)."""
        return request_code(self.url, self.token, ref, f"+4474005{next(self.numbers):05d}")


@dataclass
class Stage:
    """The two simulators and the two services on them."""

    primary_url: str
    fallback_url: str
    plain: Service  # primary gateway only
    with_fallback: Service  # primary, then the fallback


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    """Both simulators and both services, stopped at the end of the module."""
    root = tmp_path_factory.mktemp("stalled")
    primary = start_simulator(root, *PRIMARY)
    fallback = start_simulator(root, *FALLBACK)
    with stopping(primary, fallback):
        services = []
        for name, extra in (("plain", {}), ("with-fallback", {
            "TFA_MEDIARIVER_FALLBACK_URL": fallback.base_url,
            "TFA_MEDIARIVER_FALLBACK_USERNAME": FALLBACK[0],
            "TFA_MEDIARIVER_FALLBACK_PASSWORD": FALLBACK[1],
        })):
            workdir = root / name
            workdir.mkdir()
            env = service_env(
                workdir, TFA_GATEWAY="mediariver", TFA_MEDIARIVER_URL=primary.base_url,
                TFA_MEDIARIVER_USERNAME=PRIMARY[0], TFA_MEDIARIVER_PASSWORD=PRIMARY[1],
                TFA_MEDIARIVER_DEADLINE=str(int(DEADLINE)),
                TFA_GATEWAY_BREAKER=f"{BREAKER_FAILURES}/30", **extra,
            )
            token = create_token_cli(workdir, env, name)["token"]
            services.append((start_service(workdir, env), token))
        with stopping(*(process for process, _ in services)):
            (plain, plain_token), (both, both_token) = services
            yield Stage(primary.base_url, fallback.base_url,
                        Service(plain, plain_token, iter(range(0, 1000))),
                        Service(both, both_token, iter(range(1000, 2000))))


def issued_code(service: Service, sim_url: str, ref: str) -> tuple[Reply, str]:
    """Send a code through ``service`` (it must succeed) and read it at ``sim_url``:
    the reply and the code."""
    reply = service.send(ref)
    assert (reply.status, reply.code) == (201, 0), reply.body
    message_id = reply.body["result"]["message_id"]
    (entry,) = [m for m in sim_messages(sim_url) if m["customer_uuid"] == message_id]
    return reply, code_in(entry["message"])


def trip(service: Service, label: str) -> list[Reply]:
    """``BREAKER_FAILURES`` sends at once into the stalled gateway; their replies."""
    replies: list[Reply] = []
    lock = threading.Lock()

    def one(number: int) -> None:
        reply = service.send(f"{label}-{number}")
        with lock:
            replies.append(reply)

    threads = [threading.Thread(target=one, args=(n,), daemon=True)
               for n in range(BREAKER_FAILURES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=DEADLINE + 10)
    assert len(replies) == BREAKER_FAILURES
    return replies


def circuit_opened(service: Service, since: int) -> None:
    """Wait for the service's log line saying the circuit opened."""
    service.process.wait_for(r"failed 3 times in a row: failing fast", since=since)


def test_open_circuit_fails_sends_fast_and_validations_stay_fast(stage: Stage) -> None:
    """No fallback: the 3 stalled sends take the deadline and are -65; then sends are
    -65 within 0.25 s and validations (Valid, Declined) answer within 100 ms."""
    service = stage.plain
    set_faults(stage.primary_url, reset=True)
    codes = [issued_code(service, stage.primary_url, f"before-{n}")[1] for n in range(6)]
    set_faults(stage.primary_url, hang=HANG)
    try:
        mark = service.process.mark()
        stalled = trip(service, "stalled")
        assert [(r.status, r.code) for r in stalled] == [(400, -65)] * BREAKER_FAILURES
        assert all(DEADLINE - 0.05 <= r.seconds < DEADLINE + 1.0 for r in stalled), [
            r.seconds for r in stalled]
        circuit_opened(service, mark)

        fast = [service.send(f"fast-{n}") for n in range(5)]
        assert [(r.status, r.code) for r in fast] == [(400, -65)] * 5
        assert max(r.seconds for r in fast) < FAIL_FAST_WITHIN, [r.seconds for r in fast]

        checks = [validate(service.url, service.token, f"before-{n}", codes[n])
                  for n in range(3)]
        checks += [validate(service.url, service.token, f"before-{n}", "A" * 12)
                   for n in range(3, 6)]
        assert [(r.status, r.code) for r in checks] == [(200, 0)] * 3 + [(422, -54)] * 3
        assert max(r.seconds for r in checks) < VALIDATE_WITHIN, [r.seconds for r in checks]
    finally:
        set_faults(stage.primary_url, reset=True)


def test_open_circuit_sends_through_the_fallback(stage: Stage) -> None:
    """With a fallback: a send the stalled primary does not answer is cut at the
    primary's deadline and goes out through the fallback (201 after about that deadline);
    once the circuit is open, sends are 201 through the fallback at once, and their codes
    validate."""
    service = stage.with_fallback
    set_faults(stage.primary_url, hang=HANG)
    try:
        mark = service.process.mark()
        stalled = trip(service, "unanswered")
        assert [(r.status, r.code) for r in stalled] == [(201, 0)] * BREAKER_FAILURES
        assert all(DEADLINE - 0.05 <= r.seconds < DEADLINE + 1.0 for r in stalled), [
            r.seconds for r in stalled]
        circuit_opened(service, mark)

        at_primary = len(sim_messages(stage.primary_url))
        for number in range(5):
            ref = f"via-fallback-{number}"
            sent, code = issued_code(service, stage.fallback_url, ref)
            assert sent.seconds < DEADLINE / 2, sent.seconds
            check = validate(service.url, service.token, ref, code)
            assert (check.status, check.code) == (200, 0)
            assert check.seconds < VALIDATE_WITHIN
        assert len(sim_messages(stage.primary_url)) == at_primary
    finally:
        set_faults(stage.primary_url, reset=True)

