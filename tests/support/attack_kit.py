"""Tools of the attack suite (tests/attacks): engines, services and clients that report
everything they issue to :data:`attack_collector.COLLECTED`.

In-process: :func:`make_engine` builds an engine whose :class:`RecordingGateway` keeps
each SMS by message id and hands its code to the collector; :func:`issue` creates a
token and reports it; :func:`send` requests a code (reporting the phone).

Processes: :func:`start_simulator` runs ``tfa gateway-sim``, :func:`start_service` runs
``tfa serve`` (JSON logs, cheap hashing, its database and output reported);
:func:`run_cli` runs another command to its end, :func:`create_token_cli` runs
``tfa token create --json``. :func:`call` is one HTTP
exchange on a connection of its own, bounded by a timeout.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attack_collector import COLLECTED
from server_http import Reply, call
from tfa_processes import COMMAND_TIMEOUT, TfaProcess, clean_environ, local_environ, tfa_command

from tfa_engine import Engine, EngineConfig, IssuedToken, MemoryGateway, Outcome, SQLiteStore
from tfa_engine.gateways import SmsMessage
from tfa_engine.store import Store

IP = "127.0.0.1"
# Long codes: the final scan looks for each one in every file and log line, and a
# 12-character alphanumeric code cannot turn up there by chance (see attack_collector).
CODE_FIELDS: dict[str, Any] = {"code_length": 12, "code_type": "alphanumeric"}
CODE_IN_SMS = re.compile(r"code is: ([0-9A-Za-z]+)$")
SERVING = r"tfa serving on (http://\S+)"
SIMULATING = r"mediariver simulator on (http://\S+)"


def code_in(text: str) -> str:
    """The code in an SMS of the default template."""
    match = CODE_IN_SMS.search(text)
    assert match is not None, f"no code in {text!r}"
    return match[1]


# -- in process --------------------------------------------------------------------------
class RecordingGateway(MemoryGateway):
    """A :class:`MemoryGateway` that indexes the codes it sent by message id and reports
    each one to the collector."""

    def __init__(self) -> None:
        super().__init__()
        self._codes: dict[str, str] = {}
        self._index_lock = threading.Lock()

    def send(self, message: SmsMessage) -> None:
        super().send(message)
        code = code_in(message.text)
        COLLECTED.code(code)
        with self._index_lock:
            self._codes[message.message_id] = code

    def code_of(self, message_id: str) -> str:
        """The code sent under ``message_id``."""
        with self._index_lock:
            return self._codes[message_id]


def make_engine(
    store: Store, *, clock: Callable[[], float] = time.time, **config: Any
) -> Engine:
    """An engine on ``store`` with a :class:`RecordingGateway`, cheap hashing, no DNS."""
    settings: dict[str, Any] = {"argon2_profile": "test", **config}
    if isinstance(store, SQLiteStore):
        COLLECTED.database(store.path)
    return Engine(store, RecordingGateway(), EngineConfig(**settings), clock=clock,
                  resolver=None)


def gateway_of(engine: Engine) -> RecordingGateway:
    """The recording gateway of an engine built by :func:`make_engine`."""
    gateway = engine.gateway
    assert isinstance(gateway, RecordingGateway)
    return gateway


def issue(engine: Engine, name: str, **options: Any) -> IssuedToken:
    """A new token of ``engine``, reported to the collector."""
    issued = engine.create_token(name, **options)
    COLLECTED.token(issued.token)
    return issued


def send(engine: Engine, token: str, client_ref: str, phone: str, **fields: Any) -> Outcome:
    """``request_code`` for ``phone`` (E.164) with long codes, from 127.0.0.1."""
    COLLECTED.phone(phone)
    body = {"client_ref": client_ref, "phone_number": phone, **CODE_FIELDS, **fields}
    return engine.request_code(token, IP, body)


def windows_overfull(times: list[float], count: int, seconds: float) -> list[float]:
    """The starts of the windows ``[start, start + seconds)`` that hold more than ``count``
    of ``times``. Scanning one window per admitted time covers them all: any window's
    content is that of the window starting at its first event."""
    ordered = sorted(times)
    overfull = []
    end = 0
    for first, start in enumerate(ordered):
        end = max(end, first)
        while end < len(ordered) and ordered[end] < start + seconds:
            end += 1
        if end - first > count:
            overfull.append(start)
    return overfull


# -- over HTTP (Reply and call: server_http) -----------------------------------------
def request_code(
    base_url: str, token: str, client_ref: str, phone: str, **fields: Any
) -> Reply:
    """``POST /1/2fa`` with long codes."""
    COLLECTED.phone(phone)
    body = {"client_ref": client_ref, "phone_number": phone, **CODE_FIELDS, **fields}
    return call(base_url, "POST", "/1/2fa", token=token, body=body)


def validate(base_url: str, token: str, client_ref: str, code: str) -> Reply:
    """``POST /1/2fa/{client_ref}/{code}``."""
    return call(base_url, "POST", f"/1/2fa/{client_ref}/{code}", token=token)


# -- processes ---------------------------------------------------------------------------
def service_env(workdir: Path, **variables: str) -> dict[str, str]:
    """The environment of a ``tfa`` process in ``workdir`` (:func:`local_environ`) that
    logs JSON, then ``variables`` (each caller names its gateway)."""
    return local_environ(workdir, **{"TFA_LOG_FORMAT": "json", **variables})


def start_service(workdir: Path, env: Mapping[str, str], port: int = 0) -> TfaProcess:
    """``tfa serve`` on 127.0.0.1, once it listens; its database and output reported."""
    COLLECTED.database(env["TFA_DATABASE"])
    process = TfaProcess.announced(
        [*tfa_command(), "serve", "--host", IP, "--port", str(port)], cwd=workdir, env=env,
        pattern=SERVING,
    )
    COLLECTED.process("tfa serve", process)
    return process


def start_simulator(workdir: Path, username: str, password: str, *options: str) -> TfaProcess:
    """``tfa gateway-sim`` on 127.0.0.1 with one account, once it listens."""
    return TfaProcess.announced(
        [*tfa_command(), "gateway-sim", "--host", IP, "--port", "0",
         "--username", username, "--password", password, *options],
        cwd=workdir, env=clean_environ() | {"PYTHONUNBUFFERED": "1"},
        name="tfa gateway-sim", pattern=SIMULATING,
    )


@contextmanager
def stopping(*processes: TfaProcess) -> Iterator[None]:
    """Stop every process on the way out (SIGTERM, killed if it lingers)."""
    try:
        yield
    finally:
        for process in processes:
            process.stop()


def run_cli(workdir: Path, env: Mapping[str, str], *args: str) -> str:
    """``tfa ARGS`` to its end, which must be a success: what it printed on stdout. Its
    log lines (stderr) are reported."""
    done = subprocess.run(
        [*tfa_command(), *args], cwd=workdir, env=dict(env), capture_output=True,
        text=True, timeout=COMMAND_TIMEOUT, check=False,
    )
    COLLECTED.output(f"tfa {' '.join(args[:2])}", done.stderr.splitlines())
    assert done.returncode == 0, done.stderr
    return done.stdout


@dataclass(frozen=True)
class Served:
    """A ``tfa serve`` process sending through a ``tfa gateway-sim`` process."""

    url: str
    sim_url: str
    workdir: Path
    env: dict[str, str]
    process: TfaProcess

    @property
    def database(self) -> Path:
        """The service's SQLite file."""
        return Path(self.env["TFA_DATABASE"])


def create_token_cli(workdir: Path, env: Mapping[str, str], name: str,
                     *options: str) -> dict[str, Any]:
    """``tfa token create --name NAME [OPTIONS] --json``: what it printed (the token
    reported)."""
    created: dict[str, Any] = json.loads(
        run_cli(workdir, env, "token", "create", "--name", name, *options, "--json")
    )
    COLLECTED.token(created["token"])
    return created


def sim_messages(sim_url: str) -> list[dict[str, Any]]:
    """What the simulator accepted (``GET /messages``), oldest first."""
    listed: list[dict[str, Any]] = call(sim_url, "GET", "/messages").body
    for entry in listed:
        COLLECTED.code(code_in(entry["message"]))
    return listed


def set_faults(sim_url: str, **faults: Any) -> None:
    """Switch simulator faults (``POST /_faults``)."""
    reply = call(sim_url, "POST", "/_faults", body=faults)
    assert reply.status == 200, reply.body
