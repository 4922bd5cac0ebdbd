"""What an operator watches on a real `tfa serve`: Prometheus metrics at /metrics (summed
over workers) and the access log (one line per request, JSON when asked, never a code)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from server_http import metric_samples, post, sample_value
from tfa_processes import TfaProcess, create_token_json, local_environ, tfa_command

from tfa_engine import catalogue

pytestmark = pytest.mark.network

UK = "+447911123456"
CALLBACK_KEY = "observability-key-0123456789"


@contextmanager
def serving(workdir: Path, *extra: str, **variables: str) -> Iterator[tuple[TfaProcess, str]]:
    """A `tfa serve` (console gateway, so codes are read from its output) and a token."""
    env = local_environ(workdir, **{"TFA_GATEWAY": "console",
                                     "TFA_LIMIT_PHONE_SENDS": "1/600", **variables})
    token = create_token_json(workdir, env, "watched")["token"]
    server = TfaProcess.announced(
        [*tfa_command(), "serve", "--host", "127.0.0.1", "--port", "0", *extra],
        cwd=workdir, env=env,
    )
    try:
        yield server, token
    finally:
        server.stop()


def one_of_each(server: TfaProcess, token: str) -> str:
    """One sent code, one Valid, one Declined and one 429; the code sent."""
    status, _ = post(server.base_url, "/1/2fa", token, {"client_ref": "a", "phone_number": UK})
    assert status == 201
    code = server.wait_for(rf"SMS to \{UK} from .*: .*\b(\d{{6}})\b")[1]
    wrong = "000000" if code != "000000" else "111111"
    assert post(server.base_url, f"/1/2fa/a/{wrong}", token)[1]["result_info"]["status_code"] == -54
    assert post(server.base_url, f"/1/2fa/a/{code}", token)[1]["result_info"]["status_code"] == 0
    status, answer = post(server.base_url, "/1/2fa", token, {"client_ref": "b", "phone_number": UK})
    assert (status, answer["result_info"]["status_code"]) == (429, -70)
    return code


def test_metrics_count_exactly_what_was_asked(tmp_path: Path) -> None:
    """After one sent code, one Valid, one Declined and one 429, the counters of /metrics
    moved by exactly those amounts."""
    with serving(tmp_path) as (server, token):
        before = metric_samples(server.base_url)
        one_of_each(server, token)
        after = metric_samples(server.base_url)

    def moved(name: str, **labels: str) -> float:
        return sample_value(after, name, **labels) - sample_value(before, name, **labels)

    assert moved("tfa_requests_total", endpoint="request_code", status_code="0",
                 http_status="201") == 1
    assert moved("tfa_requests_total", endpoint="request_code", status_code="-70",
                 http_status="429") == 1
    assert moved("tfa_requests_total", endpoint="validate_code", status_code="0",
                 http_status="200") == 1
    assert moved("tfa_requests_total", endpoint="validate_code", status_code="-54",
                 http_status="422") == 1
    assert moved("tfa_validations_total", outcome="valid") == 1
    assert moved("tfa_validations_total", outcome="declined") == 1
    assert moved("tfa_sms_sent_total", gateway="console") == 1
    assert moved("tfa_sms_failed_total", gateway="console") == 0
    assert moved("tfa_gateway_send_duration_seconds_count", gateway="console") == 1
    assert moved("tfa_request_duration_seconds_count", endpoint="request_code") == 2
    assert sample_value(after, "tfa_callbacks_pending") == 0
    assert sample_value(after, "tfa_fraud_holds") == 0


def test_metrics_add_up_across_workers(tmp_path: Path) -> None:
    """With two workers, once both have sent codes, every scrape (whichever worker answers
    it) counts the codes of both."""
    with serving(tmp_path, "--workers", "2", TFA_CALLBACK_KEY=CALLBACK_KEY,
                 TFA_LIMIT_PHONE_SENDS="100/600", TFA_LOG_FORMAT="json") as (server, token):
        server.wait_for(r"worker 2 started")
        sent = 0
        while len(senders(server.lines)) < 2:
            assert sent < 60, "one worker took every connection"
            status, _ = post(server.base_url, "/1/2fa", token,
                             {"client_ref": f"r{sent}", "phone_number": f"+4479111234{sent:02d}"})
            assert status == 201
            sent += 1
        server.wait_until(lambda lines: sum(senders(lines).values()) == sent or None,
                          f"{sent} code.sent records")
        scrapes = [metric_samples(server.base_url) for _ in range(6)]
    assert {sample_value(s, "tfa_sms_sent_total", gateway="console") for s in scrapes} == {sent}


def senders(lines: list[str]) -> dict[int, int]:
    """How many codes each process logged as sent (JSON audit records)."""
    counts: dict[int, int] = {}
    for line in lines:
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("event") == "code.sent":
                counts[record["process"]] = counts.get(record["process"], 0) + 1
    return counts


def test_access_log_has_one_json_line_per_request_and_never_a_code(tmp_path: Path) -> None:
    """With TFA_LOG_FORMAT=json each request leaves one JSON access record; the code that
    was validated appears nowhere in the output, its route template does."""
    with serving(tmp_path, TFA_LOG_FORMAT="json") as (server, token):
        mark = server.mark()
        code = one_of_each(server, token)
        server.wait_until(
            lambda lines: len(access_records(lines[mark:])) >= 4 or None, "4 access records"
        )
        lines = server.lines[mark:]
    records = access_records(lines)
    assert [(r["method"], r["route"], r["http_status"], r["status_code"]) for r in records] == [
        ("POST", "/1/2fa", 201, 0),
        ("POST", "/1/2fa/{client_ref}/{code}", 422, -54),
        ("POST", "/1/2fa/{client_ref}/{code}", 200, 0),
        ("POST", "/1/2fa", 429, -70),
    ]
    assert all(r["client_ip"] == "127.0.0.1" and r["duration_ms"] >= 0 for r in records)
    logged = [line for line in lines if not line.startswith("SMS to ")]
    assert not any(code in line for line in logged)


def access_records(lines: list[str]) -> list[dict[str, Any]]:
    """The JSON access-log records among output lines (every log line must be JSON)."""
    records = []
    for line in lines:
        if line.startswith("SMS to "):  # the console gateway's own output, not a log record
            continue
        record = json.loads(line)
        if record["logger"] == "tfa.access":
            records.append(record)
    return records


def test_statuses_of_the_catalogue_are_counted_by_code(tmp_path: Path) -> None:
    """A refused token is counted under its own status_code (-50, HTTP 401)."""
    with serving(tmp_path) as (server, _):
        post(server.base_url, "/1/2fa", "not-a-token", {"client_ref": "x", "phone_number": UK})
        found = metric_samples(server.base_url)
    code = str(catalogue.TOKEN_INVALID.code)
    assert sample_value(found, "tfa_requests_total", endpoint="request_code", status_code=code,
                 http_status="401") == 1
