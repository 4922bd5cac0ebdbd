"""Fixtures for the mediariver gateway and simulator tests, all in-process (no sockets).

Fixtures:
    posted        the delivery reports the simulator sent: a list of ``(url, payload)``.
    sim           a ``MediariverSimulator`` (account ``sim``/``sim``) on the fake ``clock`` (for
                  the rate-limit window and the dates), posting reports into ``posted``;
                  closed afterwards.
    call          ``call(method, path, *, json=..., raw=b"", auth=("sim", "sim"), app=sim)``
                  calls the app through ``wsgiref.validate`` (so any WSGI slip fails) and
                  returns a ``Reply`` (``status``, ``headers``, ``body`` decoded from JSON).
                  ``auth`` is a (user, password) pair, a raw Authorization value, or None.
    pool          an ``InProcessPool`` on ``sim``: a real ``urllib3.PoolManager`` whose
                  requests are answered by the WSGI app in-process (or by ``canned``
                  answers/``failures`` queued on it); it records every request and moves
                  ``clock`` as real requests would take time.
    sleeps        the waits a gateway made (its ``sleep`` appends here and moves ``clock``).
    make_gateway  ``make_gateway(**options) -> MediariverGateway`` on ``pool``, ``clock``
                  and ``sleeps``, with account ``sim``/``sim``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import pytest
import urllib3
from gateway_factory import MakeGateway, closing_gateways
from urllib3.exceptions import ReadTimeoutError
from urllib3.response import HTTPResponse
from wsgi_in_process import run_wsgi

from tfa_engine.adapters.gateway_sim import MediariverSimulator
from tfa_engine.adapters.gateway_sim.reports import DlrPayload

BASE_URL = "http://gateway.test"


class Clock(Protocol):
    """The parent conftest's FakeClock, as used here."""

    def __call__(self) -> float: ...

    def advance(self, seconds: float) -> float: ...


@dataclass
class Reply:
    """One WSGI answer, its JSON body decoded."""

    status: int
    headers: dict[str, str]
    body: Any


def basic(user: str, password: str) -> str:
    """An HTTP Basic Authorization value (UTF-8)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


_MISSING: Any = object()


class Call(Protocol):
    """The signature of the ``call`` fixture."""

    def __call__(
        self,
        method: str,
        path: str,
        *,
        json: Any = ...,
        raw: bytes = ...,
        auth: tuple[str, str] | str | None = ...,
        app: Any = ...,
    ) -> Reply: ...


class InProcessPool(urllib3.PoolManager):
    """A PoolManager answering from a WSGI app in-process; see the module docstring."""

    def __init__(self, app: Any, clock: Clock) -> None:
        super().__init__()
        self.app = app
        self.clock = clock
        self.elapse = 0.0  # seconds every answered request takes on ``clock``
        self.canned: list[tuple[int, dict[str, str], bytes]] = []
        self.failures: list[Exception] = []
        self.requests: list[dict[str, Any]] = []
        self.clears = 0

    def urlopen(  # type: ignore[override]
        self, method: str, url: str, redirect: bool = True, **kw: Any
    ) -> HTTPResponse:
        self.requests.append({"method": method, "url": url, "redirect": redirect, **kw})
        timeout: urllib3.Timeout = kw["timeout"]
        if self.failures:
            failure = self.failures.pop(0)
            if isinstance(failure, ReadTimeoutError):
                read = timeout.read_timeout
                self.clock.advance(read if isinstance(read, float) else 0.0)
            raise failure
        self.clock.advance(self.elapse)
        if self.canned:
            status, headers, data = self.canned.pop(0)
        else:
            path = "/" + url.split("://", 1)[1].split("/", 1)[1]
            status, headers, data = run_wsgi(self.app, method, path, kw["body"], kw["headers"])
        return HTTPResponse(
            body=data, headers=headers, status=status, preload_content=True, request_url=url
        )

    def clear(self) -> None:
        self.clears += 1
        super().clear()

    def sent_json(self, index: int = -1) -> Any:
        """The JSON body of one recorded request (the last by default)."""
        return json.loads(self.requests[index]["body"])


@pytest.fixture
def posted() -> list[tuple[str, DlrPayload]]:
    """Delivery reports the simulator posted."""
    return []


@pytest.fixture
def sim(clock: Clock, posted: list[tuple[str, DlrPayload]]) -> Iterator[MediariverSimulator]:
    """A simulator on the fake clock that keeps its delivery reports in ``posted``."""
    simulator = MediariverSimulator(
        clock=clock, wall_clock=clock, post=lambda url, payload: posted.append((url, payload))
    )
    try:
        yield simulator
    finally:
        simulator.close()


@pytest.fixture
def call(sim: MediariverSimulator) -> Call:
    """Call a WSGI app (``sim`` by default) in-process."""

    def do(
        method: str,
        path: str,
        *,
        json: Any = _MISSING,
        raw: bytes = b"",
        auth: tuple[str, str] | str | None = ("sim", "sim"),
        app: Any = None,
    ) -> Reply:
        body = raw if json is _MISSING else _dumps(json)
        headers = {"Content-Type": "application/json"}
        if isinstance(auth, tuple):
            headers["Authorization"] = basic(*auth)
        elif isinstance(auth, str):
            headers["Authorization"] = auth
        status, response_headers, data = run_wsgi(
            sim if app is None else app, method, path, body, headers
        )
        assert response_headers["Content-Type"] == "application/json"
        return Reply(status, response_headers, _loads(data))

    return do


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8")


def _loads(data: bytes) -> Any:
    return json.loads(data)


@pytest.fixture
def pool(sim: MediariverSimulator, clock: Clock) -> InProcessPool:
    """A urllib3 pool answered by ``sim`` in-process."""
    return InProcessPool(sim, clock)


@pytest.fixture
def sleeps() -> list[float]:
    """The waits gateways made (see ``make_gateway``)."""
    return []


@pytest.fixture
def make_gateway(pool: InProcessPool, clock: Clock, sleeps: list[float]) -> Iterator[MakeGateway]:
    """Gateways on ``pool`` whose sleeps only move the fake clock."""

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(seconds)

    with closing_gateways(BASE_URL, sleep=sleep, clock=clock, pool=pool) as make:
        yield make
