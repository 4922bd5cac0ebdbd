"""HTTP/1.1 over a bare socket to 127.0.0.1, for requests no HTTP client would send.

Importable from every test directory. Every read is bounded by a timeout.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class RawReply:
    """An HTTP answer read off a socket: status, headers (lower-case names), body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)


def address(base_url: str) -> tuple[str, int]:
    """``(host, port)`` of a base URL such as ``http://127.0.0.1:8080``."""
    parts = urlsplit(base_url)
    assert parts.hostname and parts.port, base_url
    return parts.hostname, parts.port


def connect(base_url: str, timeout: float = 5.0) -> socket.socket:
    """A TCP connection to the server at ``base_url``."""
    return socket.create_connection(address(base_url), timeout=timeout)


def read_reply(sock: socket.socket, timeout: float = 5.0) -> RawReply:
    """Read one answer (its head, then Content-Length bytes of body) within ``timeout``."""
    deadline = time.monotonic() + timeout
    data = b""
    while b"\r\n\r\n" not in data:
        data += _receive(sock, deadline)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        body += _receive(sock, deadline)
    return RawReply(status, headers, body[:length])


def _receive(sock: socket.socket, deadline: float) -> bytes:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("no complete answer in time")
    sock.settimeout(remaining)
    chunk = sock.recv(65536)
    if not chunk:
        raise ConnectionError("connection closed before a complete answer")
    return chunk


def exchange(base_url: str, request: bytes, timeout: float = 5.0) -> RawReply:
    """Send ``request`` as it is on a new connection and read the answer."""
    with connect(base_url, timeout) as sock:
        sock.sendall(request)
        return read_reply(sock, timeout)


def closed_by_peer(sock: socket.socket, timeout: float) -> bool:
    """True if the server closes ``sock`` within ``timeout`` seconds (anything it sends
    meanwhile is read and dropped)."""
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        sock.settimeout(remaining)
        try:
            if not sock.recv(65536):
                return True
        except TimeoutError:
            return False
        except ConnectionError:
            return True
    return False
