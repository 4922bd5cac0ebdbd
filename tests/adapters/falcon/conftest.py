"""Fixtures for the Falcon app's tests: an engine on memory, its app, and a small client.

Fixtures (``clock``, ``gateway``, ``engine`` and ``token`` come from tests/adapters/conftest.py):
    api       an :class:`Api` talking to ``create_app(engine)`` with ``token``.
    make_api  ``make_api(**create_app_options) -> Api`` for apps with other options.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import falcon
import falcon.testing
import pytest
from server_http import api_headers
from wsgi_in_process import call_app

from tfa_engine import Engine, MemoryGateway
from tfa_engine.adapters.falcon import create_app
from tfa_engine.config import PLACEHOLDER

UK_MOBILE = "+447911123456"
_DEFAULT = object()


class WsgiResult:
    """What a bare WSGI call answered (for requests TestClient cannot express)."""

    def __init__(self, status: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status_code = int(status.split()[0])
        self.headers = {name.lower(): value for name, value in headers}
        self.json = json.loads(body)


class Api:
    """The API over Falcon's TestClient, speaking as a client holding ``token``."""

    def __init__(
        self, app: falcon.App[Any, Any], engine: Engine, gateway: MemoryGateway, token: str
    ) -> None:
        self.app = app
        self.client = falcon.testing.TestClient(app)
        self.engine = engine
        self.gateway = gateway
        self.token = token

    def post(
        self,
        path: str,
        *,
        body: bytes | str | None = None,
        json_body: Any = _DEFAULT,
        token: Any = _DEFAULT,
        content_type: str | None = "application/json",
        headers: Mapping[str, str] | None = None,
        remote_addr: str = "127.0.0.1",
    ) -> falcon.testing.Result:
        """POST ``path``; ``token=None`` sends no Authorization header."""
        all_headers = api_headers(self.token if token is _DEFAULT else token, content_type)
        all_headers.update(headers or {})
        if json_body is not _DEFAULT:
            body = json.dumps(json_body)
        return self.client.simulate_post(
            path, body=body, headers=all_headers, remote_addr=remote_addr
        )

    def request(
        self, client_ref: str | None = "ref-1", phone_number: Any = UK_MOBILE, **kwargs: Any
    ) -> falcon.testing.Result:
        """Request a code; body fields other than these two go in ``fields``."""
        fields = kwargs.pop("fields", {})
        body = {"client_ref": client_ref, "phone_number": phone_number, **fields}
        body = {name: value for name, value in body.items() if value is not None}
        return self.post("/1/2fa", json_body=body, **kwargs)

    def validate(self, client_ref: str, code: str, **kwargs: Any) -> falcon.testing.Result:
        """Validate ``code`` for ``client_ref`` (both percent-encoded by the caller)."""
        return self.post(f"/1/2fa/{client_ref}/{code}", content_type=None, **kwargs)

    def send(self, client_ref: str = "ref-1", **kwargs: Any) -> tuple[str, str]:
        """Request a code that must succeed; ``(message_id, code)`` from the gateway."""
        result = self.request(client_ref, **kwargs)
        assert result.status_code == 201, result.json
        message_id = result.json["result"]["message_id"]
        message = next(m for m in self.gateway.messages if m.message_id == message_id)
        prefix = self.engine.config.default_template.split(PLACEHOLDER)[0]
        return message_id, message.text[len(prefix) :]

    def wsgi(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        environ: Mapping[str, Any] | None = None,
        drop: tuple[str, ...] = (),
    ) -> WsgiResult:
        """Call the app as a WSGI server would, with ``environ`` overrides and the
        ``drop``-ped keys removed (e.g. ``CONTENT_LENGTH`` for a chunked upload)."""
        env = falcon.testing.create_environ(
            path=path, method=method, headers=dict(headers or {}), body=body
        )
        env.update(environ or {})
        for key in drop:
            env.pop(key, None)
        return WsgiResult(*call_app(self.app, env))


MakeApi = Callable[..., Api]


@pytest.fixture
def make_api(engine: Engine, gateway: MemoryGateway, token: str) -> MakeApi:
    """Build an :class:`Api` on ``create_app(engine, **options)``."""

    def build(**options: Any) -> Api:
        return Api(create_app(engine, **options), engine, gateway, token)

    return build


@pytest.fixture
def api(make_api: MakeApi) -> Api:
    """The API with default options."""
    return make_api()
