"""A WSGI app called in-process as a server would, every exchange checked by
``wsgiref.validate`` (so any WSGI slip fails the test).

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
    started: dict[str, Any] = {}

    def start_response(
        status: str, response_headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Any:
        started["status"], started["headers"] = status, response_headers
        return lambda data: None

    result = wsgiref.validate.validator(app)(environ, start_response)
    try:
        data = b"".join(result)
    finally:
        result.close()  # type: ignore[attr-defined]  # the validator's iterator has close()
    return int(started["status"].split(" ", 1)[0]), dict(started["headers"]), data
