"""Fixtures for the middleware: real Flask and Django hosts with the API mounted at /tfa.

Fixtures (``clock``, ``gateway``, ``engine`` and ``token`` come from tests/adapters/conftest.py):
    flask_app     a Flask app with its own routes, ``wsgi_app`` wrapped by the middleware.
    django_app    Django's WSGI handler for ``django_site.py``, wrapped by the middleware.
    face          each of: the bare Falcon app, Flask + middleware, Django + middleware,
                  as a :class:`Face` (paths are given relative to the API's root).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import flask
import pytest
from werkzeug.test import Client

from tfa_engine import Engine, MemoryGateway
from tfa_engine.adapters.falcon import create_app
from tfa_engine.adapters.wsgi_middleware import TwoFactorMiddleware
from tfa_engine.config import PLACEHOLDER

LOCAL = {"REMOTE_ADDR": "127.0.0.1"}


class Face:
    """One way of serving the API, driven through a werkzeug test client."""

    def __init__(self, name: str, client: Client, prefix: str, engine: Engine,
                 gateway: MemoryGateway, token: str) -> None:
        self.name = name
        self.client = client
        self.prefix = prefix
        self.engine = engine
        self.gateway = gateway
        self.token = token

    def post(
        self, path: str, body: Any = None, *, token: str | None = "", **kwargs: Any
    ) -> tuple[int, dict[str, Any]]:
        """POST under the API root: ``(HTTP status, JSON body)``; token "" means ours."""
        headers = dict(kwargs.pop("headers", {}))
        token = self.token if token == "" else token
        if token is not None:
            headers["Authorization"] = f"Token {token}"
        if body is not None:
            kwargs["json"] = body
        response = self.client.post(
            self.prefix + path, headers=headers, environ_base=LOCAL, **kwargs
        )
        return response.status_code, json.loads(response.get_data())

    def send(self, client_ref: str) -> str:
        """Request a code that must succeed; the code from the gateway."""
        status, body = self.post(
            "/1/2fa", {"client_ref": client_ref, "phone_number": "+447911123456"}
        )
        assert status == 201, body
        message_id = body["result"]["message_id"]
        text = next(m.text for m in self.gateway.messages if m.message_id == message_id)
        return text[len(self.engine.config.default_template.split(PLACEHOLDER)[0]) :]


@pytest.fixture
def flask_app(engine: Engine) -> flask.Flask:
    """A Flask shop with two pages of its own and the API mounted at /tfa."""
    app = flask.Flask("shop")

    @app.get("/hello")
    def hello() -> dict[str, str]:
        return {"host": "flask", "page": "hello"}

    @app.route("/<path:rest>", methods=["GET", "POST"])
    def echo(rest: str) -> dict[str, str]:
        return {
            "host": "flask",
            "script_name": flask.request.script_root,
            "path_info": flask.request.path,
        }

    app.wsgi_app = TwoFactorMiddleware(app.wsgi_app, engine)  # type: ignore[method-assign]
    return app


@pytest.fixture
def django_app(django_handler: Callable[..., Any], engine: Engine) -> TwoFactorMiddleware:
    """The Django site with the API mounted at /tfa."""
    return TwoFactorMiddleware(django_handler, engine)


@pytest.fixture(params=["falcon", "flask", "django"])
def face(
    request: pytest.FixtureRequest, engine: Engine, gateway: MemoryGateway, token: str
) -> Face:
    """The API as served by the bare Falcon app, and mounted in Flask and in Django."""
    if request.param == "falcon":
        bare: Any = create_app(engine)  # falcon types start_response more narrowly
        return Face("falcon", Client(bare), "", engine, gateway, token)
    if request.param == "flask":
        flask_client = request.getfixturevalue("flask_app").test_client()
        return Face("flask", flask_client, "/tfa", engine, gateway, token)
    django_client = Client(request.getfixturevalue("django_app"))
    return Face("django", django_client, "/tfa", engine, gateway, token)
