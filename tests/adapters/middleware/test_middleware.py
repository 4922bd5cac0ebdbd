"""The middleware as a plain WSGI callable: dispatch by prefix, environ for each side."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from tfa_engine import Engine, catalogue
from tfa_engine.adapters.wsgi_middleware import TwoFactorMiddleware


class Recorder:
    """A WSGI app that remembers the environ and start_response it was called with."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, Any], Any, str, str]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.calls.append(
            (environ, start_response, environ.get("SCRIPT_NAME", ""), environ["PATH_INFO"])
        )
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"recorded"]


def _environ(path: str, script_name: str = "", method: str = "POST") -> dict[str, Any]:
    return {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }


def _call(app: Any, environ: dict[str, Any]) -> tuple[int, bytes]:
    status: list[str] = []
    body = b"".join(app(environ, lambda s, h, exc_info=None: status.append(s)))
    return int(status[0].split()[0]), body


def test_other_paths_reach_the_host_untouched(engine: Engine) -> None:
    """The host gets the very environ and start_response objects, unchanged."""
    host = Recorder()
    middleware = TwoFactorMiddleware(host, engine)
    environ = _environ("/tfaX/1/2fa", script_name="/shop")

    def start_response(status: str, headers: Any, exc_info: Any = None, /) -> Any:
        return None

    middleware(environ, start_response)
    [(seen, seen_start, script_name, path_info)] = host.calls
    assert seen is environ and seen_start is start_response
    assert (script_name, path_info) == ("/shop", "/tfaX/1/2fa")


@pytest.mark.parametrize(
    ("script_name", "path", "api_script_name", "api_path"),
    [
        pytest.param("", "/tfa/1/2fa", "/tfa", "/1/2fa", id="root"),
        pytest.param("/shop", "/tfa/1/2fa", "/shop/tfa", "/1/2fa", id="host-under-script-name"),
        pytest.param("", "/tfa", "/tfa", "", id="exactly-the-prefix"),
        pytest.param("", "/tfa/", "/tfa", "/", id="prefix-and-slash"),
    ],
)
def test_api_sees_the_prefix_moved_to_script_name(
    engine: Engine, script_name: str, path: str, api_script_name: str, api_path: str
) -> None:
    """Like DispatcherMiddleware: SCRIPT_NAME gains the prefix, PATH_INFO loses it."""
    middleware = TwoFactorMiddleware(Recorder(), engine)
    spy = Recorder()
    middleware.api = spy
    environ = _environ(path, script_name=script_name)
    _call(middleware, environ)
    [(_, _, seen_script_name, seen_path)] = spy.calls
    assert (seen_script_name, seen_path) == (api_script_name, api_path)
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == (script_name, path)


def test_exactly_the_prefix_is_the_api(engine: Engine) -> None:
    """/tfa itself belongs to the API (an unknown endpoint there), not to the host."""
    host = Recorder()
    status, body = _call(TwoFactorMiddleware(host, engine), _environ("/tfa"))
    assert host.calls == []
    assert (status, json.loads(body)["result_info"]["status_code"]) == (
        404,
        catalogue.NOT_FOUND.code,
    )


def test_custom_prefix(engine: Engine) -> None:
    """prefix="/api/otp" serves the API there and nowhere else."""
    host = Recorder()
    middleware = TwoFactorMiddleware(host, engine, prefix="/api/otp")
    _, body = _call(middleware, _environ("/api/otp/1/2fa"))
    _call(middleware, _environ("/tfa/1/2fa"))
    assert json.loads(body)["result_info"]["status_code"] == catalogue.TOKEN_MISSING.code
    assert [call[3] for call in host.calls] == ["/tfa/1/2fa"]


def test_options_reach_the_api(engine: Engine) -> None:
    """trusted_proxies, forwarded_header and max_body are handed to the Falcon app."""
    fenced = engine.create_token("fenced", allowed_ips=["203.0.113.7"]).token
    middleware = TwoFactorMiddleware(
        Recorder(), engine, trusted_proxies=["127.0.0.1"], forwarded_header="forwarded",
        max_body=64,
    )
    body = b'{"client_ref": "r", "phone_number": "+447911123456"}'
    environ = _environ("/tfa/1/2fa")
    environ.update(
        HTTP_AUTHORIZATION=f"Token {fenced}", HTTP_FORWARDED="for=203.0.113.7",
        CONTENT_TYPE="application/json", CONTENT_LENGTH=str(len(body)),
        **{"wsgi.input": io.BytesIO(body)},
    )
    too_large = _environ("/tfa/1/2fa")
    too_large["CONTENT_LENGTH"] = "65"
    assert _call(middleware, environ)[0] == 201
    assert _call(middleware, too_large)[0] == 413


@pytest.mark.parametrize(
    "prefix",
    [
        pytest.param("", id="empty"),
        pytest.param("/", id="root"),
        pytest.param("tfa", id="relative"),
        pytest.param("/tfa/", id="trailing-slash"),
        pytest.param("/a//b", id="empty-segment"),
        pytest.param("/tfa?x=1", id="query"),
    ],
)
def test_bad_prefix_is_refused(engine: Engine, prefix: str) -> None:
    """A prefix must look like /name[/name...]; anything else fails at construction."""
    with pytest.raises(ValueError, match="prefix"):
        TwoFactorMiddleware(Recorder(), engine, prefix=prefix)


def test_non_ascii_prefix_matches_the_wsgi_path(engine: Engine) -> None:
    """A UTF-8 prefix matches PATH_INFO as PEP 3333 servers encode it (latin-1)."""
    middleware = TwoFactorMiddleware(Recorder(), engine, prefix="/zwei-faktör")
    wsgi_path = "/zwei-faktör/1/2fa".encode().decode("latin-1")
    _, body = _call(middleware, _environ(wsgi_path))
    assert json.loads(body)["result_info"]["status_code"] == catalogue.TOKEN_MISSING.code


def test_metrics_are_served_under_the_prefix_when_asked(engine: Engine) -> None:
    """metrics=True serves Prometheus text at <prefix>/metrics, counting the API's own
    requests; without it that path is the API's -71."""
    counted = TwoFactorMiddleware(Recorder(), engine, metrics=True)
    _call(counted, _environ("/tfa/1/2fa"))
    status, body = _call(counted, _environ("/tfa/metrics", method="GET"))
    assert status == 200
    assert b'tfa_requests_total{endpoint="request_code",http_status="401",status_code="-51"}' \
        in body
    plain = TwoFactorMiddleware(Recorder(), engine)
    status, body = _call(plain, _environ("/tfa/metrics", method="GET"))
    assert (status, json.loads(body)["result_info"]["status_code"]) == (404, -71)
