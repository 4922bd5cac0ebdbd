"""``GET /docs``: the OpenAPI document in Swagger UI, whose files the app serves itself.

Swagger UI comes from the PyPI package ``swagger-ui-py`` (in the ``falcon`` extra): its
import package ``swagger_ui`` holds the ``swagger-ui-dist`` files of one release in
``static/``, which ``/docs/{file}`` serves, read once on first use (its own integration
code is not used). The page loads nothing from elsewhere (no CDN), and its policy lets it
run only the app's own scripts.

Swagger UI renders OpenAPI 3.1 from release 5 on. Without such a release installed,
``/docs`` says what to install and links the JSON document instead.
"""

from __future__ import annotations

import html
import importlib.metadata
import re
from functools import cache
from importlib import resources
from urllib.parse import quote

import falcon

from tfa_engine import catalogue

from .wire import render

SWAGGER_UI_PACKAGE = "swagger_ui"
INSTALL_HINT = "pip install 'swagger-ui-py>=23.9.23'"
# The files of the Swagger UI release the page uses, and their media types.
SWAGGER_FILES = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
}
# Swagger UI sets style attributes and draws its icons as data: images.
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
# Ours: start Swagger UI on the document the page names. validatorUrl null: the document
# is never sent to an outside validator.
START_SCRIPT = b"""\
"use strict";
window.addEventListener("load", () => {
  const container = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: container.dataset.openapi,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
"""
_PAGE = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tfa-engine API</title>
<link rel="icon" type="image/png" href="{root}/docs/favicon-32x32.png" sizes="32x32">
<link rel="icon" type="image/png" href="{root}/docs/favicon-16x16.png" sizes="16x16">
<link rel="stylesheet" href="{root}/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi="{root}/openapi.json"></div>
<noscript><p>Swagger UI needs JavaScript; the API's OpenAPI document is at
<a href="{root}/openapi.json">openapi.json</a>.</p></noscript>
<script src="{root}/docs/swagger-ui-bundle.js"></script>
<script src="{root}/docs/start.js"></script>
</body>
</html>
"""
_MISSING_PAGE = """\
<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>tfa-engine API</title></head>
<body>
<p>Swagger UI 5 is not installed here: <code>{hint}</code>.</p>
<p>The API's OpenAPI document is at <a href="{root}/openapi.json">openapi.json</a>.</p>
</body>
</html>
"""
# Swagger UI 5 and later render OpenAPI 3.1; their bundle knows the word.
_OAS31_MARK = b"isOAS31"


def mount_path(req: falcon.Request) -> str:
    """Where the app is mounted (``SCRIPT_NAME``) as a URL path: "" at the server's root,
    e.g. "/tfa" under the middleware. Percent-encoded, so it holds no HTML markup."""
    root = req.root_path
    try:
        raw = root.encode("latin-1")  # PEP 3333: the path's bytes, decoded as latin-1
    except UnicodeEncodeError:
        raw = root.encode("utf-8")
    return quote(raw, safe="/:@!$()*+,;=")


def _static(name: str) -> bytes | None:
    try:
        return (resources.files(SWAGGER_UI_PACKAGE) / "static" / name).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError, OSError):
        return None


@cache
def swagger_ui_release() -> tuple[int, ...] | None:
    """The version of the swagger-ui-py package installed, when its Swagger UI renders
    OpenAPI 3.1 (release 5 or newer); else None."""
    bundle = _static("swagger-ui-bundle.js")
    if bundle is None or _OAS31_MARK not in bundle:
        return None
    try:
        version = importlib.metadata.version("swagger-ui-py")
    except importlib.metadata.PackageNotFoundError:
        return None
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


@cache
def swagger_file(name: str) -> bytes | None:
    """One of SWAGGER_FILES of the installed release, or None when there is none."""
    if name not in SWAGGER_FILES or swagger_ui_release() is None:
        return None
    return _static(name)


class DocsPage:
    """``GET /docs``: an HTML page showing the OpenAPI document in Swagger UI."""

    methods = ("GET", "HEAD")

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Write the page, its links under the app's mount path."""
        root = html.escape(mount_path(req))
        if swagger_ui_release() is None:
            page = _MISSING_PAGE.format(root=root, hint=html.escape(INSTALL_HINT))
        else:
            page = _PAGE.format(root=root)
        resp.content_type = "text/html; charset=utf-8"
        resp.data = page.encode("utf-8")
        resp.set_header("Content-Security-Policy", PAGE_POLICY)
        resp.set_header("X-Content-Type-Options", "nosniff")
        resp.cache_control = ["no-cache"]

    on_head = on_get


class DocsFile:
    """``GET /docs/{name}``: Swagger UI's files and the script starting it; others -71."""

    methods = ("GET", "HEAD")

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        """Serve one file of the page."""
        if name == "start.js":
            data: bytes | None = START_SCRIPT
            media_type = "text/javascript; charset=utf-8"
        else:
            data = swagger_file(name)
            media_type = SWAGGER_FILES.get(name, "")
        if data is None:
            render(resp, catalogue.NOT_FOUND)
            return
        resp.content_type = media_type
        resp.data = data
        resp.set_header("X-Content-Type-Options", "nosniff")
        resp.cache_control = ["public", "max-age=3600"]

    on_head = on_get
