"""HTTP for the scale-out tests: one request per connection, which process answered it,
and batches of requests released together.

Importable from every test directory. :func:`call` sends one request on a connection of
its own; :func:`exchange` sends one on a connection the caller keeps. For workers sharing
one listening port, the process that answered is the one holding the accepted end of the
connection, read from Linux's /proc (:func:`socket_owners`); :func:`worker_connections`
opens connections until every worker holds enough of them. :func:`in_parallel` runs a
batch of calls in threads released by one barrier.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from tfa_processes import START_TIMEOUT

T = TypeVar("T")

HTTP_TIMEOUT = 30.0  # one exchange, queued behind a burst of others
PARALLEL_TIMEOUT = 90.0  # a whole batch of parallel calls


@dataclass(frozen=True)
class Reply:
    """One answer: HTTP status, envelope status_code, body, headers (lower-case names) and
    the pid of the process that served it (0 when not looked up)."""

    http: int
    code: int
    body: dict[str, Any]
    headers: dict[str, str]
    pid: int = 0

    @property
    def outcome(self) -> tuple[int, int]:
        """(HTTP status, status_code)."""
        return self.http, self.code

    @property
    def message_id(self) -> str:
        """``result.message_id`` of a 201."""
        return str(self.body["result"]["message_id"])


def _hex_address(port: int) -> str:
    return f"0100007F:{port:04X}"  # 127.0.0.1 as /proc/net/tcp writes it (little endian)


def socket_owners(
    server_port: int, client_ports: Sequence[int], pids: Sequence[int]
) -> dict[int, int]:
    """For each 127.0.0.1 connection from a port of ``client_ports`` to ``server_port``,
    the pid among ``pids`` holding its accepted end (Linux /proc); 0 when none does."""
    local = _hex_address(server_port)
    wanted = {_hex_address(port): port for port in client_ports}
    inodes: dict[str, int] = {}  # "socket:[inode]" -> client port
    with open("/proc/net/tcp", encoding="ascii") as table:
        for line in table:
            fields = line.split()
            if len(fields) > 9 and fields[1] == local and fields[2] in wanted:
                inodes[f"socket:[{fields[9]}]"] = wanted[fields[2]]
    owners = dict.fromkeys(client_ports, 0)
    for pid in pids:
        try:
            descriptors = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in descriptors:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target in inodes:
                owners[inodes[target]] = pid
    return owners


def connect(base_url: str, timeout: float = HTTP_TIMEOUT) -> http.client.HTTPConnection:
    """A connection (not yet opened) to a server on 127.0.0.1."""
    address = urlsplit(base_url)
    assert address.hostname == "127.0.0.1" and address.port, base_url
    return http.client.HTTPConnection(address.hostname, address.port, timeout=timeout)


def exchange(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: Any = None,
    owners: Sequence[int] = (),
    envelope: bool = True,
) -> Reply:
    """One request on ``connection``, left open (HTTP/1.1 keeps it alive). With ``owners``
    (pids of workers sharing the port), the reply names which of them served it. Without
    ``envelope`` (health checks), the body need not carry ``result_info``; ``code`` is 0."""
    headers = {} if token is None else {"Authorization": f"Token {token}"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    connection.request(method, path, body=data, headers=headers)
    response = connection.getresponse()
    raw = response.read()
    pid = 0
    if owners and connection.sock is not None:
        port = connection.sock.getsockname()[1]
        pid = socket_owners(connection.port, [port], owners)[port]
    decoded = json.loads(raw)
    code = int(decoded["result_info"]["status_code"]) if envelope else 0
    names = {name.lower(): value for name, value in response.getheaders()}
    return Reply(response.status, code, decoded, names, pid)


def call(base_url: str, method: str, path: str, **options: Any) -> Reply:
    """One request on a connection of its own (``options`` as for :func:`exchange`)."""
    connection = connect(base_url)
    try:
        return exchange(connection, method, path, **options)
    finally:
        connection.close()


def worker_connections(
    base_url: str, pids: Sequence[int], each: int, timeout: float = START_TIMEOUT
) -> dict[int, list[http.client.HTTPConnection]]:
    """``each`` open connections accepted by every worker of ``pids`` (sharing the port of
    ``base_url``): connections are opened, each answered a health check, and sorted by the
    worker holding them; the surplus is closed."""
    pools: dict[int, list[http.client.HTTPConnection]] = {pid: [] for pid in pids}
    deadline = time.monotonic() + timeout
    try:
        while missing := sum(max(0, each - len(pool)) for pool in pools.values()):
            assert time.monotonic() < deadline, f"workers' connections: {pools}"
            batch = [connect(base_url) for _ in range(missing + len(pids))]
            for connection in batch:
                exchange(connection, "GET", "/health", envelope=False)
            port = urlsplit(base_url).port or 0
            owners = socket_owners(port, [c.sock.getsockname()[1] for c in batch], pids)
            for connection in batch:
                pool = pools.get(owners[connection.sock.getsockname()[1]])
                if pool is not None and len(pool) < each:
                    pool.append(connection)
                else:
                    connection.close()
    except BaseException:
        for pool in pools.values():
            for connection in pool:
                connection.close()
        raise
    return pools


def in_parallel(count: int, task: Callable[[int], T], timeout: float = PARALLEL_TIMEOUT) -> list[T]:
    """``task(0) ... task(count - 1)``, each in a thread of its own, all released together
    by a barrier; their results in order (the first exception is raised)."""
    barrier = threading.Barrier(count, timeout=timeout)

    def run(number: int) -> T:
        barrier.wait()
        return task(number)

    with ThreadPoolExecutor(max_workers=count, thread_name_prefix="client") as pool:
        futures = [pool.submit(run, number) for number in range(count)]
        return [future.result(timeout=timeout) for future in futures]
