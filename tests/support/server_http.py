"""JSON requests to a test server, one connection each and bounded by a timeout, and the
samples of its /metrics.

Importable from every test directory.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from prometheus_client.parser import text_string_to_metric_families

HTTP_TIMEOUT = 15.0  # one exchange with a served process; above the gateway's 10 s deadline

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass(frozen=True)
class Reply:
    """One HTTP answer, decoded, and how long it took."""

    status: int
    body: Any
    headers: dict[str, str]
    seconds: float

    @property
    def code(self) -> int:
        """The envelope's ``status_code``."""
        return int(self.body["result_info"]["status_code"])


def api_headers(token: str | None, content_type: str | None) -> dict[str, str]:
    """The headers of an API request: ``Authorization: Token`` and ``Content-Type``, each
    left out when None."""
    headers = {} if token is None else {"Authorization": f"Token {token}"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return headers


def call(
    base_url: str,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = HTTP_TIMEOUT,
) -> Reply:
    """One request on a connection of its own; the answer decoded as JSON."""
    address = urlsplit(base_url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port,
                                            timeout=timeout)
    data = None if body is None else json.dumps(body).encode()
    sent = {**(headers or {}),
            **api_headers(token, None if body is None else "application/json")}
    started = time.monotonic()
    try:
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        raw = response.read()
        names = {name.lower(): value for name, value in response.getheaders()}
        return Reply(response.status, json.loads(raw), names, time.monotonic() - started)
    finally:
        connection.close()


def post(base_url: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    """POST to the server: (HTTP status, decoded JSON answer)."""
    reply = call(base_url, "POST", path, token=token, body=body)
    return reply.status, reply.body


def metric_samples(base_url: str) -> Samples:
    """Every sample of GET /metrics, parsed with prometheus-client's own parser (an
    HTTPError when there is no such page)."""
    with urllib.request.urlopen(base_url + "/metrics", timeout=HTTP_TIMEOUT) as answer:  # noqa: S310
        text = answer.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample_value(found: Samples, name: str, **labels: str) -> float:
    """A sample's value (0 when it is not there yet)."""
    return found.get((name, tuple(sorted(labels.items()))), 0.0)
