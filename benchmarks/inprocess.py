"""The engine called directly: time per call, with argon2's and the gateway's share split out.

Also issues codes straight into a service's database (same file, pepper and profile), so
the validate-code load over HTTP can be run with correct codes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from tfa_engine import Engine, EngineConfig, MemoryGateway, RateLimit, SQLiteStore, catalogue
from tfa_engine._hashing import CodeHasher
from tfa_engine.gateways import SmsMessage
from tfa_engine.store import open_store

from .loadgen import phone_number
from .service import controls_on

CLIENT_IP = "127.0.0.1"
MAX_CALLS = 1_000_000  # per phase and run: a bound, never reached at argon2 speeds


def engine_config(profile: str, pepper: str) -> EngineConfig:
    """The engine's settings in-process: every control on with limits above the load (as
    ``tfa serve`` is run, see :data:`.service.LIMITS_ABOVE_LOAD`), unless asked off."""
    if not controls_on():
        return EngineConfig(argon2_profile=profile, pepper=pepper, rate_limits=False)
    return EngineConfig(
        argon2_profile=profile, pepper=pepper,
        limit_token_requests=RateLimit(100_000_000, 60),
        limit_token_sms=RateLimit(100_000_000, 86400),
        limit_service_sms=RateLimit(100_000_000, 86400),
        limit_phone_sends=RateLimit(1_000_000, 600),
        fraud_min_sends=1_000_000_000,
    )


class TimedHasher(CodeHasher):
    """The engine's hasher, adding up the seconds spent hashing and verifying."""

    def __init__(self, profile: str, pepper: str | None) -> None:
        super().__init__(profile, pepper)
        self.seconds = 0.0

    def hash(self, code: str) -> str:
        began = time.perf_counter()
        try:
            return super().hash(code)
        finally:
            self.seconds += time.perf_counter() - began

    def verify(self, phc: str, code: str) -> bool:
        began = time.perf_counter()
        try:
            return super().verify(phc, code)
        finally:
            self.seconds += time.perf_counter() - began


class TimedGateway(MemoryGateway):
    """A :class:`MemoryGateway`, adding up the seconds spent in ``send``."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds = 0.0

    def send(self, message: SmsMessage) -> None:
        began = time.perf_counter()
        try:
            super().send(message)
        finally:
            self.seconds += time.perf_counter() - began


def code_in(message: SmsMessage) -> str:
    """The code in an SMS rendered from the default template (its last word)."""
    return message.text.rsplit(maxsplit=1)[-1]


def request_one(engine: Engine, token: str, tag: str, index: int) -> tuple[str, str] | None:
    """Request the ``index``-th code of ``tag``: its (client_ref, message_id), or None."""
    ref = f"{tag}-{index}"
    body = {"client_ref": ref, "phone_number": phone_number(index)}
    outcome = engine.request_code(token, CLIENT_IP, body)
    if outcome.status != catalogue.SUCCESS:
        return None
    return ref, str(outcome.result["message_id"])


def with_codes(
    issued: list[tuple[str, str]], messages: list[SmsMessage]
) -> list[tuple[str, str]]:
    """``(client_ref, message_id)`` pairs as ``(client_ref, code)``, from the SMS sent."""
    codes = {message.message_id: code_in(message) for message in messages}
    return [(ref, codes[message_id]) for ref, message_id in issued]


def _phase(calls: Callable[[int], bool], limit: int, duration: float, hasher: TimedHasher,
           gateway: TimedGateway) -> dict[str, Any]:
    """Call ``calls(i)`` until ``duration`` or ``limit``; per-call times in milliseconds."""
    hasher.seconds = gateway.seconds = 0.0
    total = 0.0
    count = failures = 0
    began = time.perf_counter()
    while count < limit and time.perf_counter() - began < duration:
        start = time.perf_counter()
        succeeded = calls(count)
        total += time.perf_counter() - start
        count += 1
        failures += not succeeded
    if not count:
        return {"calls": 0, "failures": 0}
    outside = total - hasher.seconds - gateway.seconds
    return {
        "calls": count,
        "failures": failures,
        "ms_per_call": 1000 * total / count,
        "argon2_ms_per_call": 1000 * hasher.seconds / count,
        "gateway_ms_per_call": 1000 * gateway.seconds / count,
        "outside_ms_per_call": 1000 * outside / count,
        "argon2_share": hasher.seconds / total if total else None,
    }


class InProcess:
    """An engine on a SQLite file with a timed hasher and gateway, and a token."""

    def __init__(self, database: Path, profile: str, pepper: str) -> None:
        self.hasher = TimedHasher(profile, pepper)
        self.gateway = TimedGateway()
        config = engine_config(profile, pepper)
        self.engine = Engine(SQLiteStore(database), self.gateway, config, hasher=self.hasher)
        self.token = self.engine.create_token("bench-inprocess").token
        self.rounds = 0

    def close(self) -> None:
        """Close the engine and its store."""
        self.engine.close()

    def run(self, duration: float) -> tuple[dict[str, Any], dict[str, Any]]:
        """One run: request codes for ``duration`` s, then validate those (at most as long)."""
        self.rounds += 1
        tag = f"in{self.rounds}"
        issued: list[tuple[str, str]] = []  # (client_ref, message_id)

        def request(index: int) -> bool:
            item = request_one(self.engine, self.token, tag, index)
            if item is not None:
                issued.append(item)
            return item is not None

        requested = _phase(request, MAX_CALLS, duration, self.hasher, self.gateway)
        pairs = with_codes(issued, self.gateway.messages)

        def validate(index: int) -> bool:
            ref, code = pairs[index]
            outcome = self.engine.validate_code(self.token, CLIENT_IP, ref, code)
            return outcome.status == catalogue.VALID

        validated = _phase(validate, len(pairs), duration, self.hasher, self.gateway)
        return requested, validated


def issue_codes(database: Path | str, profile: str, pepper: str, token: str, tag: str,
                count: int) -> list[tuple[str, str]]:
    """Request ``count`` codes through an engine on ``database`` (an SQLite file or a
    PostgreSQL URL); their (client_ref, code).

    Two threads: argon2 releases the GIL, so issuing takes half as long on two cores.
    """
    gateway = MemoryGateway()
    config = engine_config(profile, pepper)
    engine = Engine(open_store(str(database)), gateway, config)
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = pool.map(partial(request_one, engine, token, tag), range(count))
            issued = [item for item in results if item is not None]
    finally:
        engine.close()
    if len(issued) < count:
        raise RuntimeError(f"only {len(issued)} of {count} codes could be issued")
    return with_codes(issued, gateway.messages)
