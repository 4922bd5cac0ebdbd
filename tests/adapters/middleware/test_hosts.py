"""The middleware inside real Flask and Django apps: same API, host untouched."""

from __future__ import annotations

import json
from typing import Any

import flask
import pytest
from werkzeug.test import Client

from tfa_engine import Status, catalogue

LOCAL = {"REMOTE_ADDR": "127.0.0.1"}
GOOD_BODY = {"client_ref": "ref-1", "phone_number": "+447911123456"}

OUTCOMES = [
    pytest.param(lambda face: face.post("/1/2fa", GOOD_BODY), catalogue.SUCCESS, id="success"),
    pytest.param(lambda face: face.post("/1/2fa", GOOD_BODY, token=None),
                 catalogue.TOKEN_MISSING, id="-51"),
    pytest.param(lambda face: face.post("/1/2fa", GOOD_BODY, token="nope"),
                 catalogue.TOKEN_INVALID, id="-50"),
    pytest.param(lambda face: face.post("/1/2fa", data=b"[1", content_type="application/json"),
                 catalogue.MALFORMED, id="-64"),
    pytest.param(lambda face: face.post("/1/2fa", data=b"{}", content_type="text/plain"),
                 catalogue.UNSUPPORTED_MEDIA, id="-74"),
    pytest.param(lambda face: face.post("/1/2fa", data=b" " * 16385,
                                        content_type="application/json"),
                 catalogue.TOO_LARGE, id="-73"),
    pytest.param(lambda face: face.post("/1/2fa/ref-1/123456"), catalogue.CODE_NOT_FOUND,
                 id="-55"),
    pytest.param(lambda face: face.post("/1/2fa/ref-1"), catalogue.NO_CODE, id="-56"),
    pytest.param(lambda face: face.post("/nowhere"), catalogue.NOT_FOUND, id="-71"),
    pytest.param(lambda face: face.post("/health"), catalogue.METHOD_NOT_ALLOWED, id="-72"),
]


@pytest.mark.parametrize(("call", "expected"), OUTCOMES)
def test_same_outcome_on_every_face(face: Any, call: Any, expected: Status) -> None:
    """Falcon alone, Flask + middleware and Django + middleware answer alike."""
    status, body = call(face)
    assert (status, body["result_info"]) == (expected.http, expected.as_result_info())


@pytest.mark.parametrize("path", ["/1/2fa", "/1/2fa/ref-1/123456", "/health/ready"])
def test_store_down_is_78_with_retry_after_on_every_face(
    face: Any, store: Any, path: str
) -> None:
    """While the store cannot serve, every face answers -78, HTTP 503, Retry-After: 5."""
    store.down = True
    headers = {"Authorization": f"Token {face.token}"}
    if path == "/health/ready":
        response = face.client.get(face.prefix + path, environ_base=LOCAL)
    else:
        response = face.client.post(
            face.prefix + path, json=GOOD_BODY, headers=headers, environ_base=LOCAL
        )
    body = json.loads(response.get_data())
    assert (response.status_code, body["result_info"]) == (
        503, catalogue.UNAVAILABLE.as_result_info())
    assert response.headers["Retry-After"] == "5"


def test_code_round_trip_on_every_face(face: Any) -> None:
    """A code requested through a face validates through it: 200 Valid."""
    code = face.send("login-7")
    status, body = face.post(f"/1/2fa/login-7/{code}")
    assert (status, body["result_info"]["description"]) == (200, "Valid")


def test_flask_routes_still_work(flask_app: flask.Flask) -> None:
    """The Flask app's own page answers as before."""
    response = flask_app.test_client().get("/hello")
    assert response.get_json() == {"host": "flask", "page": "hello"}


@pytest.mark.parametrize("path", ["/tfaX", "/tfa-admin/users", "/other", "/TFA/1/2fa"])
def test_flask_gets_paths_outside_the_prefix(flask_app: flask.Flask, path: str) -> None:
    """Paths that only look like the prefix reach Flask with their path intact."""
    response = flask_app.test_client().post(path)
    assert response.get_json() == {"host": "flask", "script_name": "", "path_info": path}


def test_flask_under_a_script_name(flask_app: flask.Flask) -> None:
    """Flask mounted at /shop: its pages see /shop, the API answers at /shop/tfa."""
    client = flask_app.test_client()
    page = client.post("/other", base_url="http://localhost/shop/")
    api = client.post("/tfa/1/2fa", base_url="http://localhost/shop/", json={})
    assert page.get_json()["script_name"] == "/shop"
    assert api.get_json()["result_info"]["status_code"] == catalogue.TOKEN_MISSING.code


def test_django_routes_still_work(django_app: Any) -> None:
    """The Django site's own page answers as before."""
    response = Client(django_app).get("/hello", environ_base=LOCAL)
    assert response.get_json() == {"host": "django", "page": "hello"}


@pytest.mark.parametrize("path", ["/tfaX", "/tfa-admin/users", "/other"])
def test_django_gets_paths_outside_the_prefix(django_app: Any, path: str) -> None:
    """Paths that only look like the prefix reach Django with their path intact."""
    response = Client(django_app).get(path, environ_base=LOCAL)
    body = json.loads(response.get_data())
    assert (body["host"], body["path_info"], body["script_name"]) == ("django", path, "")


def test_django_under_a_script_name(django_app: Any) -> None:
    """Django mounted at /shop: its pages see /shop, the API answers at /shop/tfa."""
    client = Client(django_app)
    page = json.loads(client.get("/other", base_url="http://localhost/shop/").get_data())
    api = json.loads(client.post("/tfa/1/2fa", base_url="http://localhost/shop/").get_data())
    assert (page["script_name"], page["path"]) == ("/shop", "/shop/other")
    assert api["result_info"]["status_code"] == catalogue.TOKEN_MISSING.code
