"""JSON requests to a test server and its /metrics, over urllib (one connection each).

Importable from every test directory.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

TIMEOUT = 10.0  # seconds one request may take

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def post(base_url: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    """POST to the server: (HTTP status, decoded JSON answer)."""
    data = b"" if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - the test server's http:// URL
        base_url + path, data=data, method="POST",
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def metric_samples(base_url: str) -> Samples:
    """Every sample of GET /metrics, parsed with prometheus-client's own parser (an
    HTTPError when there is no such page)."""
    with urllib.request.urlopen(base_url + "/metrics", timeout=TIMEOUT) as answer:  # noqa: S310
        text = answer.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample_value(found: Samples, name: str, **labels: str) -> float:
    """A sample's value (0 when it is not there yet)."""
    return found.get((name, tuple(sorted(labels.items()))), 0.0)
