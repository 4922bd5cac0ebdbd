"""Every server is the service its settings describe: `tfa serve`, `tfa serve --workers 2`
and gunicorn started with the operating page's command (real processes on 127.0.0.1) answer alike,
count alike at /metrics and log alike (TFA_LOG_FORMAT=json)."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from loopback import free_port
from server_http import metric_samples, post
from tfa_processes import TfaProcess, create_token_json, local_environ, tfa_command
from user_docs import code_blocks, page

pytestmark = pytest.mark.network

OPERATING = page("docs/operating.md")
UK = "+447911123456"
CALLBACK_KEY = "one-app-callback-key-0123456789"
BIND = "127.0.0.1:8080"  # where the operating page's gunicorn command listens


def readme_gunicorn_script() -> str:
    """The operating page's gunicorn commands as written, but for ``pip install`` (the gunicorn of
    this environment is installed already)."""
    block = next(
        b for b in code_blocks(OPERATING, "sh")
        if "gunicorn " in b and "wsgi:application" in b
    )
    lines = block.splitlines()
    assert "pip install gunicorn" in lines
    return "\n".join(line for line in lines if not line.startswith("pip install"))


def json_records(lines: list[str]) -> list[dict[str, Any]]:
    """The JSON log records among output lines (gunicorn's own lines are text)."""
    return [json.loads(line) for line in lines if line.startswith("{")]


@contextmanager
def started(face: str, workdir: Path) -> Iterator[tuple[TfaProcess, str]]:
    """The server ``face`` names, on a database with one token: (process, token)."""
    env = local_environ(workdir, TFA_GATEWAY="console", TFA_LOG_FORMAT="json")
    token = create_token_json(workdir, env, "shop")["token"]
    if face == "gunicorn":
        # The page's command, run as a user would, with this environment's gunicorn
        # and python3 first on the PATH.
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
        env["HOME"] = str(workdir)  # where gunicorn keeps its control socket
        script = readme_gunicorn_script()
        assert BIND in script
        script = script.replace(BIND, f"127.0.0.1:{free_port()}")
        listening = r"Listening at: (http://\S+) \((\d+)\)"  # the URL and the master's pid
        server = TfaProcess.announced(["bash", "-c", script], cwd=workdir, env=env,
                                      name="gunicorn", pattern=listening)
        master = int(server.wait_for(listening)[2])  # the line announced found: no wait
    else:
        env["TFA_CALLBACK_KEY"] = CALLBACK_KEY
        workers = ["--workers", "2"] if face == "serve --workers 2" else []
        server = TfaProcess.announced(
            [*tfa_command(), "serve", "--host", "127.0.0.1", "--port", "0", *workers],
            cwd=workdir, env=env,
        )
        master = None
    try:
        yield server, token
    finally:
        if master is not None:  # bash runs gunicorn: its master stops the workers
            os.kill(master, signal.SIGTERM)
        server.stop()


@pytest.mark.parametrize("face", ["serve", "serve --workers 2", "gunicorn"])
def test_every_server_counts_and_logs_alike(tmp_path: Path, face: str) -> None:
    """A code sent and validated moves /metrics' counters by one each and leaves JSON
    access and audit records of both requests; no log line holds the validated path."""
    with started(face, tmp_path) as (server, token):
        status, _ = post(server.base_url, "/1/2fa", token, {"client_ref": "a", "phone_number": UK})
        assert status == 201
        code = server.wait_for(rf"SMS to \{UK} from .*: .*\b(\d{{6}})\b")[1]
        status, answer = post(server.base_url, f"/1/2fa/a/{code}", token)
        assert (status, answer["result_info"]["status_code"]) == (200, 0)
        found = metric_samples(server.base_url)
        server.wait_until(
            lambda lines: len([r for r in json_records(lines)
                               if r["logger"] == "tfa.access"]) >= 3 or None,
            "three access records",
        )
        lines = list(server.lines)
    assert found[("tfa_sms_sent_total", (("gateway", "console"),))] == 1
    assert found[("tfa_validations_total", (("outcome", "valid"),))] == 1
    assert found[("tfa_requests_total", (("endpoint", "request_code"), ("http_status", "201"),
                                         ("status_code", "0")))] == 1
    records = json_records(lines)
    access = [(r["method"], r["route"], r["http_status"]) for r in records
              if r["logger"] == "tfa.access"]
    assert access[:3] == [("POST", "/1/2fa", 201), ("POST", "/1/2fa/{client_ref}/{code}", 200),
                          ("GET", "/metrics", 200)]
    assert [r["event"] for r in records if r["logger"] == "tfa.audit"] == [
        "code.sent", "code.valid"]
    assert not any(f"/a/{code}" in line for line in lines)
