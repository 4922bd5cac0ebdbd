"""HTTP load: ``wrk`` when it is on PATH, else a keep-alive client in Python.

Both drive the same request sources (a fixed request, request-code with a fresh client_ref
and phone number each time, validate-code over pre-issued codes) with one persistent
connection per simulated client, and stop at a time limit or a request count, whichever
comes first. A response counts as a success when its HTTP status is 2xx and its body
matches the source's success pattern; the throughput is successes per second.
"""

from __future__ import annotations

import http.client
import itertools
import json
import math
import re
import shutil
import subprocess
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from .stats import percentile

# Fortytwo's success envelope: "result_info": {"status_code": 0, ...}
TFA_OK_REGEX = rb'"status_code":\s*0[,}]'
TFA_OK_LUA = '"status_code":%s*0[,}]'
PHONE_PREFIX = "+447911"  # a UK mobile range: +447911100000 .. +447911199999 are all valid
PHONE_BASE = 100000
PHONE_SPAN = 100000
SOCKET_TIMEOUT = 30.0
WRK_TIMEOUT = "30s"


@dataclass(frozen=True)
class Request:
    """One HTTP request, ready to send."""

    method: str
    path: str
    body: bytes | None = None
    headers: Mapping[str, str] | None = None


def phone_number(index: int) -> str:
    """The ``index``-th benchmark phone number (a valid UK mobile, cycling every 100,000)."""
    return f"{PHONE_PREFIX}{PHONE_BASE + index % PHONE_SPAN}"


def lua_string(text: str) -> str:
    """``text`` as a Lua string literal."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


class Source(ABC):
    """What to send, as Python requests and as the request part of a wrk script."""

    ok_regex: bytes = TFA_OK_REGEX
    ok_lua: str = TFA_OK_LUA

    @abstractmethod
    def taker(self, limit: int) -> Callable[[], Request | None]:
        """A thread-safe function returning the next request, None after ``limit`` or at the end."""

    @abstractmethod
    def lua(self, workdir: Path, threads: int, limit: int) -> str:
        """Lua defining ``init`` and ``request`` for wrk (``tid`` is set by ``setup``)."""


def _lua_headers(headers: Mapping[str, str]) -> str:
    return "\n".join(
        f"wrk.headers[{lua_string(name)}] = {lua_string(value)}" for name, value in headers.items()
    )


class Fixed(Source):
    """The same request every time."""

    def __init__(self, request: Request, *, ok_regex: bytes | None = None,
                 ok_lua: str | None = None) -> None:
        self.request = request
        if ok_regex is not None:
            self.ok_regex = ok_regex
        if ok_lua is not None:
            self.ok_lua = ok_lua

    def taker(self, limit: int) -> Callable[[], Request | None]:
        counter = itertools.count()

        def take() -> Request | None:
            return self.request if next(counter) < limit else None

        return take

    def lua(self, workdir: Path, threads: int, limit: int) -> str:
        body = self.request.body.decode() if self.request.body else None
        return f"""
{_lua_headers(self.request.headers or {})}
wrk.method = {lua_string(self.request.method)}
wrk.path = {lua_string(self.request.path)}
{f"wrk.body = {lua_string(body)}" if body is not None else ""}
local cap = {math.ceil(limit / threads)}
local n = 0
local fixed = nil
function init(args)
  fixed = wrk.format()
end
function request()
  n = n + 1
  if n > cap then exhausted = 1; wrk.thread:stop() end
  return fixed
end
"""


class RequestCodes(Source):
    """``POST /1/2fa`` with a client_ref and a phone number never used before in this run."""

    def __init__(self, token: str, tag: str) -> None:
        self.token = token
        self.tag = tag  # makes client_refs unique across runs on one database

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}", "Content-Type": "application/json"}

    def body(self, index: int) -> bytes:
        payload = {"client_ref": f"{self.tag}-{index}", "phone_number": phone_number(index)}
        return json.dumps(payload).encode()

    def taker(self, limit: int) -> Callable[[], Request | None]:
        counter = itertools.count()
        headers = self.headers

        def take() -> Request | None:
            index = next(counter)
            if index >= limit:
                return None
            return Request("POST", "/1/2fa", self.body(index), headers)

        return take

    def lua(self, workdir: Path, threads: int, limit: int) -> str:
        cap = math.ceil(limit / threads)
        return f"""
{_lua_headers(self.headers)}
local cap = {cap}
local tag = {lua_string(self.tag)}
local n = 0
local base = 0
function init(args)
  base = (tid - 1) * cap
end
function request()
  n = n + 1
  if n > cap then exhausted = 1; wrk.thread:stop() end
  local i = base + n
  local body = '{{"client_ref": "' .. tag .. '-' .. i .. '", "phone_number": "{PHONE_PREFIX}'
    .. ({PHONE_BASE} + i % {PHONE_SPAN}) .. '"}}'
  return wrk.format("POST", "/1/2fa", nil, body)
end
"""


class ValidateCodes(Source):
    """``POST /1/2fa/{client_ref}/{code}`` with the right code, each pair once.

    Under wrk, which runs for its whole duration whatever the script does, a thread that
    has used all its pairs starts over (dead codes answer -53 at no hashing cost, so they
    count as failures, not successes) and the run is marked ``exhausted``.
    """

    def __init__(self, token: str, pairs: Sequence[tuple[str, str]]) -> None:
        self.token = token
        self.paths = [f"/1/2fa/{quote(ref, safe='')}/{quote(code, safe='')}" for ref, code in pairs]

    def taker(self, limit: int) -> Callable[[], Request | None]:
        counter = itertools.count()
        headers = {"Authorization": f"Token {self.token}"}
        count = min(limit, len(self.paths))

        def take() -> Request | None:
            index = next(counter)
            return Request("POST", self.paths[index], None, headers) if index < count else None

        return take

    def lua(self, workdir: Path, threads: int, limit: int) -> str:
        listing = workdir / "validate-paths.txt"
        listing.write_text("\n".join(self.paths[:limit]) + "\n", encoding="ascii")
        return f"""
wrk.headers["Authorization"] = {lua_string("Token " + self.token)}
local mine = {{}}
local n = 0
function init(args)
  local i = 0
  for line in io.lines({lua_string(str(listing))}) do
    if line ~= "" and i % {threads} == tid - 1 then mine[#mine + 1] = line end
    i = i + 1
  end
end
function request()
  n = n + 1
  if n > #mine then exhausted = 1; n = 1 end
  return wrk.format("POST", mine[n])
end
"""


_WRK_COMMON = """
local threads = {{}}
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end
ok = 0
bad = 0
exhausted = 0
local ok_pattern = {ok_pattern}
function response(status, headers, body)
  if status >= 200 and status < 300 and body ~= nil and string.find(body, ok_pattern) then
    ok = ok + 1
  else
    bad = bad + 1
  end
end
function done(summary, latency, requests)
  local good, failed, spent = 0, 0, 0
  for _, t in ipairs(threads) do
    good = good + t:get("ok")
    failed = failed + t:get("bad")
    spent = spent + t:get("exhausted")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {{"requests": %d, "duration_us": %d, "ok": %d, "bad": %d, "exhausted": %d, '
    .. '"p50_us": %.1f, "p99_us": %.1f, "errors": %d}}\\n',
    summary.requests, summary.duration, good, failed, spent,
    latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout))
end
"""


def wrk_path() -> str | None:
    """Where ``wrk`` is, or None."""
    return shutil.which("wrk")


def wrk_version() -> str:
    """``wrk``'s version line."""
    path = wrk_path()
    if path is None:
        return "absent"
    # wrk prints its usage (with the version) and exits 1 when asked for -v
    done = subprocess.run([path, "-v"], capture_output=True, text=True, timeout=10, check=False)
    match = re.search(r"wrk (\S+)", done.stdout + done.stderr)
    return f"wrk {match.group(1)}" if match else "wrk"


@dataclass(frozen=True)
class LoadSettings:
    """How hard and how long to push: connections, seconds, a request cap, which client."""

    connections: int
    duration: int
    limit: int
    client: str  # "wrk" or "python"


def run_load(base_url: str, source: Source, settings: LoadSettings) -> dict[str, Any]:
    """Load ``base_url`` with ``source``; one run's raw numbers (``rps`` is successes/s)."""
    if settings.client == "wrk":
        return _run_wrk(base_url, source, settings)
    return _run_python(base_url, source, settings)


def _run_wrk(base_url: str, source: Source, settings: LoadSettings) -> dict[str, Any]:
    path = wrk_path()
    if path is None:
        raise RuntimeError("wrk is not on PATH")
    threads = max(1, min(2, settings.connections))
    with tempfile.TemporaryDirectory(prefix="tfa-bench-wrk-") as tmp:
        workdir = Path(tmp)
        script = workdir / "load.lua"
        script.write_text(
            _WRK_COMMON.format(ok_pattern=lua_string(source.ok_lua))
            + source.lua(workdir, threads, settings.limit),
            encoding="utf-8",
        )
        command = [
            path, "-t", str(threads), "-c", str(settings.connections),
            "-d", f"{settings.duration}s", "--timeout", WRK_TIMEOUT, "-s", str(script),
            base_url,
        ]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=settings.duration + 120, check=False
        )
    line = next(
        (text for text in done.stdout.splitlines() if text.startswith("BENCHJSON ")), None
    )
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {(done.stderr or done.stdout)[-500:]}")
    raw = json.loads(line.removeprefix("BENCHJSON "))
    seconds = raw["duration_us"] / 1e6
    return {
        "client": "wrk",
        "connections": settings.connections,
        "elapsed_s": seconds,
        "requests": raw["requests"],
        "ok": raw["ok"],
        "bad": raw["bad"],
        "errors": raw["errors"],
        "rps": raw["ok"] / seconds if seconds else 0.0,
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "exhausted": bool(raw["exhausted"]),
    }


class _Worker(threading.Thread):
    """One simulated client: one keep-alive connection, requests one after another."""

    def __init__(self, host: str, port: int, take: Callable[[], Request | None],
                 ok: re.Pattern[bytes], start: threading.Barrier, deadline: list[float]) -> None:
        super().__init__(daemon=True)
        self.host, self.port, self.take, self.ok = host, port, take, ok
        self.start_line, self.deadline = start, deadline
        self.latencies: list[float] = []
        self.good = self.bad = self.errors = 0
        self.exhausted = False

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=SOCKET_TIMEOUT)

    def run(self) -> None:
        conn = self._connect()
        try:
            self.start_line.wait(timeout=60)
            while time.perf_counter() < self.deadline[0]:
                request = self.take()
                if request is None:
                    self.exhausted = True
                    return
                began = time.perf_counter()
                try:
                    conn.request(request.method, request.path, request.body,
                                 dict(request.headers or {}))
                    response = conn.getresponse()
                    data = response.read()
                except (OSError, http.client.HTTPException):
                    self.errors += 1
                    conn.close()
                    conn = self._connect()
                    continue
                self.latencies.append(time.perf_counter() - began)
                if 200 <= response.status < 300 and self.ok.search(data):
                    self.good += 1
                else:
                    self.bad += 1
        finally:
            conn.close()


def _run_python(base_url: str, source: Source, settings: LoadSettings) -> dict[str, Any]:
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    take = source.taker(settings.limit)
    ok = re.compile(source.ok_regex)
    start = threading.Barrier(settings.connections + 1)
    deadline = [math.inf]
    workers = [
        _Worker(host, port, take, ok, start, deadline) for _ in range(settings.connections)
    ]
    for worker in workers:
        worker.start()
    deadline[0] = time.perf_counter() + settings.duration
    began = time.perf_counter()
    start.wait(timeout=60)
    # A request in flight at the deadline is waited for: its socket time-out bounds it.
    for worker in workers:
        worker.join(timeout=settings.duration + SOCKET_TIMEOUT + 10)
    elapsed = time.perf_counter() - began
    latencies = [value for worker in workers for value in worker.latencies]
    good = sum(worker.good for worker in workers)
    p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
    return {
        "client": "python",
        "connections": settings.connections,
        "elapsed_s": elapsed,
        "requests": len(latencies),
        "ok": good,
        "bad": sum(worker.bad for worker in workers),
        "errors": sum(worker.errors for worker in workers),
        "rps": good / elapsed if elapsed else 0.0,
        "p50_ms": None if p50 is None else p50 * 1000,
        "p99_ms": None if p99 is None else p99 * 1000,
        "exhausted": any(worker.exhausted for worker in workers),
    }
