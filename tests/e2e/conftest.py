"""End-to-end fixtures: the API behind each of its faces, driven over HTTP or WSGI alike.

Every face runs a real SQLite file, the settings loaded from the same TOML file and the
same ``TFA_*`` values (see ``ENGINE_ENV``), and knows three tokens: its own (``face.token``),
``face.broken_token`` (declared with an allowlist entry that does not parse: -66) and
``face.fenced_token`` (allowed from 10.0.0.0/8 only, while every request here comes from
127.0.0.1: -67). A :class:`Face` sends requests (``request``, ``post``: a :class:`Reply`),
reads the SMS it sent (``sms``), keeps every reply (``replies``) and can have its
database damaged (``break_store``).

Faces:
    falcon   the bare Falcon app, through ``falcon.testing``
    flask    a Flask app with ``TwoFactorMiddleware`` at /tfa, through its test client
    django   a Django site with ``TwoFactorMiddleware`` at /tfa, through a werkzeug client
    serve    a real ``tfa serve`` process on 127.0.0.1, through ``http.client``

Fixtures:
    faces         the four faces, started once per module (dict by name, in that order).
    fresh_faces   four more on new databases, for a test that damages them.
    unreachable_gateway_face
                  a ``tfa serve`` whose mediariver gateway cannot be reached.
    launch        ``launch(command, workdir, env) -> TfaProcess``: a ``tfa serve``,
                  stopped at the end of the module (bounded waits).
"""

from __future__ import annotations

import http.client
import json
import re
import sqlite3
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import falcon.testing
import flask
import pytest
from loopback import free_port
from tfa_processes import (
    TfaProcess,
    clean_environ,
    create_token_json,
    tfa_command,
)
from werkzeug.test import Client

from tfa_engine import Engine, MemoryGateway
from tfa_engine.adapters.falcon import create_app
from tfa_engine.adapters.server.service import build_engine
from tfa_engine.adapters.server.settings import Settings, load_settings
from tfa_engine.adapters.wsgi_middleware import TwoFactorMiddleware
from tfa_engine.gateways import GatewayError

HTTP_TIMEOUT = 10.0  # seconds for one HTTP exchange with the served process

CLIENT_IP = "127.0.0.1"
BROKEN_TOKEN = "c3e5a7b9-1d2f-4a6c-8e0b-2f4d6a8c0e1b"
FENCED_TOKEN = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
GERMANY_TOKEN = "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"
BUDGET_TOKEN = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"
WATCHED_TOKEN = "2b4d6f8a-0c1e-4a3b-9d5f-7a9c1e3b5d7f"
BAD_ENTRY = "10.0.0.300"
CONFIG_TOML = f"""
[[tokens]]
name = "broken"
token = "{BROKEN_TOKEN}"
allowed_ips = ["{BAD_ENTRY}"]

[[tokens]]
name = "fenced"
token = "{FENCED_TOKEN}"
allowed_ips = ["10.0.0.0/8"]

[[tokens]]
name = "germany"
token = "{GERMANY_TOKEN}"
allowed_destinations = ["DE"]

[[tokens]]
name = "budget"
token = "{BUDGET_TOKEN}"
sms_budget = "1/86400"

[[tokens]]
name = "watched"
token = "{WATCHED_TOKEN}"
"""
# Identical engine settings on every face: cheap hashing, and a per-phone send limit low
# enough that -70 takes four requests (each case uses a phone number of its own).
PHONE_SEND_LIMIT = 3
ENGINE_ENV = {"TFA_ARGON2_PROFILE": "test", "TFA_LIMIT_PHONE_SENDS": f"{PHONE_SEND_LIMIT}/600"}
# What a broken store looks like: a table gone under the running service.
DROPPED_TABLE = "rate_heads"

_SMS_LINE = re.compile(r"^SMS to (\+\d+) from [^:]*: (.*)$")


@dataclass(frozen=True)
class Reply:
    """One HTTP answer: status, decoded JSON body, headers with lower-case names."""

    http: int
    json: dict[str, Any]
    headers: dict[str, str]


# -- a running tfa process ------------------------------------------------------------------
@contextmanager
def running(
    command: Sequence[str], workdir: Path, env: Mapping[str, str]
) -> Iterator[TfaProcess]:
    """A started ``tfa serve``, always stopped on the way out."""
    server = TfaProcess.announced(command, cwd=workdir, env=env)
    try:
        yield server
    finally:
        server.stop()


# -- the faces --------------------------------------------------------------------------------
class Face(ABC):
    """The API as one face serves it; paths are given relative to the API root."""

    name: str
    prefix: str  # where the API is mounted in this face's URL space
    token: str  # a token of this face's own, created at start
    database: Path
    broken_token = BROKEN_TOKEN  # declared with an allowlist entry that does not parse
    fenced_token = FENCED_TOKEN  # declared, allowed from 10.0.0.0/8 only
    germany_token = GERMANY_TOKEN  # declared, may send to German numbers only
    budget_token = BUDGET_TOKEN  # declared, with a budget of one SMS a day
    watched_token = WATCHED_TOKEN  # declared; the tests put a range of it on hold
    phone_send_limit = PHONE_SEND_LIMIT  # codes per phone number per window

    def __init__(self) -> None:
        self.replies: list[Reply] = []  # every answer this face gave, oldest first

    def request(
        self, method: str, path: str, *, headers: Mapping[str, str], body: bytes | None
    ) -> Reply:
        """Send one request to ``prefix + path`` from 127.0.0.1."""
        reply = self._exchange(method, self.prefix + path, headers, body)
        self.replies.append(reply)
        return reply

    @abstractmethod
    def _exchange(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes | None
    ) -> Reply:
        """Send one request to ``path`` (prefix included) and read the answer."""

    def post(self, path: str, *, headers: Mapping[str, str], body: bytes | None = None) -> Reply:
        """POST to ``prefix + path``."""
        return self.request("POST", path, headers=headers, body=body)

    @abstractmethod
    def sms(self, phone: str) -> str:
        """The text of the next SMS to ``phone`` (E.164) not returned before."""

    def break_store(self) -> None:
        """Drop a table from under the running service, through a connection of our own."""
        with sqlite3.connect(self.database) as connection:
            connection.execute(f"DROP TABLE {DROPPED_TABLE}")
        connection.close()


def _decode(http: int, body: bytes, headers: Any) -> Reply:
    names = {str(name).lower(): str(value) for name, value in headers}
    return Reply(http, json.loads(body), names)


class InProcessFace(Face):
    """A face in this process, on an engine whose gateway is a ``MemoryGateway``."""

    def __init__(self, name: str, prefix: str, engine: Engine, database: Path) -> None:
        super().__init__()
        self.name = name
        self.prefix = prefix
        self.engine = engine
        self.database = database
        gateway = engine.gateway
        assert isinstance(gateway, MemoryGateway)
        self.gateway = gateway
        self.token = engine.create_token("e2e").token
        self._read: Counter[str] = Counter()

    def sms(self, phone: str) -> str:
        sent = [m.text for m in self.gateway.messages if m.recipient == phone]
        index = self._read[phone]
        assert index < len(sent), f"{self.name}: no SMS #{index + 1} to {phone}"
        self._read[phone] += 1
        return sent[index]

    @contextmanager
    def failing_gateway(self) -> Iterator[None]:
        """Make every SMS hand-over fail while inside the block."""
        self.gateway.failure = GatewayError("the gateway is unreachable")
        try:
            yield
        finally:
            self.gateway.failure = None


class FalconFace(InProcessFace):
    """The bare Falcon app through ``falcon.testing``."""

    def __init__(self, engine: Engine, settings: Settings, database: Path) -> None:
        super().__init__("falcon", "", engine, database)
        app = create_app(
            engine,
            trusted_proxies=settings.trusted_proxies,
            forwarded_header=settings.forwarded_header,
            max_body=settings.max_body,
        )
        self.client = falcon.testing.TestClient(app)

    def _exchange(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes | None
    ) -> Reply:
        result = self.client.simulate_request(
            method, path, headers=dict(headers), body=body, remote_addr=CLIENT_IP
        )
        return _decode(result.status_code, result.content, result.headers.items())


class WerkzeugFace(InProcessFace):
    """A host application with the middleware, through a werkzeug test client."""

    def __init__(self, name: str, client: Client, engine: Engine, database: Path) -> None:
        super().__init__(name, "/tfa", engine, database)
        self.client = client

    def _exchange(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes | None
    ) -> Reply:
        response = self.client.open(
            path,
            method=method,
            headers=dict(headers),
            data=body,
            environ_base={"REMOTE_ADDR": CLIENT_IP},
        )
        return _decode(response.status_code, response.get_data(), response.headers.items())


class ServeFace(Face):
    """A real ``tfa serve`` process; its console gateway prints each SMS on stdout."""

    def __init__(self, server: TfaProcess, token: str, database: Path) -> None:
        super().__init__()
        self.name = "serve"
        self.prefix = ""
        self.server = server
        self.token = token
        self.database = database
        address = urlsplit(server.base_url)
        assert address.hostname == CLIENT_IP and address.port
        self.host, self.port = address.hostname, address.port
        self._read: Counter[str] = Counter()

    def _exchange(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes | None
    ) -> Reply:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=HTTP_TIMEOUT)
        try:
            connection.request(method, path, body=body, headers=dict(headers))
            response = connection.getresponse()
            return _decode(response.status, response.read(), response.getheaders())
        finally:
            connection.close()

    def sms(self, phone: str) -> str:
        index = self._read[phone]

        def nth(lines: list[str]) -> str | None:
            texts = [
                m[2] for line in lines if (m := _SMS_LINE.match(line)) and m[1] == phone
            ]
            return texts[index] if index < len(texts) else None

        text = self.server.wait_until(nth, f"SMS #{index + 1} to {phone}")
        self._read[phone] += 1
        return text


# -- building the faces -----------------------------------------------------------------------
def _flask_host() -> flask.Flask:
    app = flask.Flask("shop")

    @app.get("/hello")
    def hello() -> dict[str, str]:
        return {"host": "flask", "page": "hello"}

    return app


def mounted(application: Any, engine: Engine, settings: Settings) -> TwoFactorMiddleware:
    """``application`` with the API at /tfa, configured as ``tfa serve`` configures its app."""
    return TwoFactorMiddleware(
        application,
        engine,
        prefix="/tfa",
        trusted_proxies=settings.trusted_proxies,
        forwarded_header=settings.forwarded_header,
        max_body=settings.max_body,
    )


def _in_process_engine(workdir: Path, config: Path) -> tuple[Engine, Settings, Path]:
    database = workdir / "tfa.db"
    environ = {**ENGINE_ENV, "TFA_DATABASE": str(database), "TFA_GATEWAY": "memory"}
    settings = load_settings(config, environ=environ)
    return build_engine(settings), settings, database


def serve_environ(database: Path, **extra: str) -> dict[str, str]:
    """The served process's environment: the shared engine settings and its database."""
    env = clean_environ()
    env.update(ENGINE_ENV, TFA_DATABASE=str(database), TFA_GATEWAY="console", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def create_token_with_cli(workdir: Path, env: Mapping[str, str], name: str) -> str:
    """``tfa token create --name NAME --json``; the token it prints."""
    token: str = create_token_json(workdir, env, name)["token"]
    return token


@contextmanager
def open_faces(root: Path, django_app: Callable[..., Any]) -> Iterator[dict[str, Face]]:
    """The four faces, each on a database of its own under ``root``; all closed on exit."""
    config = root / "tfa.toml"
    config.write_text(CONFIG_TOML, encoding="utf-8")
    with ExitStack() as stack:
        faces: dict[str, Face] = {}
        for name in ("falcon", "flask", "django"):
            workdir = root / name
            workdir.mkdir()
            engine, settings, database = _in_process_engine(workdir, config)
            stack.callback(engine.close)
            if name == "falcon":
                faces[name] = FalconFace(engine, settings, database)
            elif name == "flask":
                host = _flask_host()
                host.wsgi_app = mounted(host.wsgi_app, engine, settings)  # type: ignore[method-assign]
                faces[name] = WerkzeugFace(name, host.test_client(), engine, database)
            else:
                wrapped = mounted(django_app, engine, settings)
                faces[name] = WerkzeugFace(name, Client(wrapped), engine, database)
        faces["serve"] = stack.enter_context(serve_face(root / "serve", config))
        yield faces


@contextmanager
def serve_face(workdir: Path, config: Path, **extra_env: str) -> Iterator[ServeFace]:
    """``tfa serve --config CONFIG`` in ``workdir`` with a token made by ``tfa token create``.

    ``extra_env`` adds or overrides variables (e.g. another gateway).
    """
    workdir.mkdir()
    database = workdir / "tfa.db"
    env = serve_environ(database, **extra_env)
    token = create_token_with_cli(workdir, env, "e2e")
    command = [*tfa_command(), "serve", "--host", CLIENT_IP, "--port", "0", "--config", str(config)]
    with running(command, workdir, env) as server:
        yield ServeFace(server, token, database)


@pytest.fixture(scope="module")
def faces(
    tmp_path_factory: pytest.TempPathFactory, django_handler: Callable[..., Any]
) -> Iterator[dict[str, Face]]:
    """The four faces, shared by the module's tests (each case uses its own phone)."""
    with open_faces(tmp_path_factory.mktemp("faces"), django_handler) as started:
        yield started


@pytest.fixture
def fresh_faces(
    tmp_path: Path, django_handler: Callable[..., Any]
) -> Iterator[dict[str, Face]]:
    """Four faces of the test's own, free to be damaged."""
    with open_faces(tmp_path, django_handler) as started:
        yield started


@pytest.fixture
def unreachable_gateway_face(tmp_path: Path) -> Iterator[ServeFace]:
    """``tfa serve`` whose SMS gateway (mediariver) is at an address nobody listens on."""
    config = tmp_path / "tfa.toml"
    config.write_text(CONFIG_TOML, encoding="utf-8")
    with serve_face(
        tmp_path / "serve",
        config,
        TFA_GATEWAY="mediariver",
        TFA_MEDIARIVER_URL=f"http://{CLIENT_IP}:{free_port()}",  # nothing listens
        TFA_MEDIARIVER_USERNAME="e2e",
        TFA_MEDIARIVER_PASSWORD="e2e-password",
    ) as face:
        yield face


@pytest.fixture(scope="module")
def launch() -> Iterator[Callable[..., TfaProcess]]:
    """Start ``tfa`` processes for the module; each is stopped when the module ends."""
    with ExitStack() as stack:

        def start(command: Sequence[str], workdir: Path, env: Mapping[str, str]) -> TfaProcess:
            return stack.enter_context(running(command, workdir, env))

        yield start
