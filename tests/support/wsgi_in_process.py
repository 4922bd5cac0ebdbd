"""A WSGI app called in-process as a server would: :func:`run_wsgi` builds the request
and checks every exchange with ``wsgiref.validate`` (so any WSGI slip fails the test);
:func:`call_app` calls an app with an environ made elsewhere.

Importable from every test directory.
"""

from __future__ import annotations

import io
import wsgiref.validate
from collections.abc import Mapping
from typing import Any


def run_wsgi(
    app: Any, method: str, path: str, body: bytes, headers: Mapping[str, str]
) -> tuple[int, dict[str, str], bytes]:
    """Call ``app`` as a WSGI server would, checked by ``wsgiref.validate``."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        if key == "CONTENT_TYPE":
            environ[key] = value
        elif key != "CONTENT_LENGTH":
            environ[f"HTTP_{key}"] = value
    status, response_headers, data = call_app(wsgiref.validate.validator(app), environ)
    return int(status.split(" ", 1)[0]), dict(response_headers), data


def call_app(app: Any, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    """Call ``app`` with ``environ``: its status line, its headers and the whole body (the
    body's iterator closed, as a server closes it)."""
    started: list[Any] = []

    def start_response(
        status: str, response_headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Any:
        started[:] = [status, response_headers]
        return lambda data: None

    result = app(environ, start_response)
    try:
        data = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return started[0], started[1], data
