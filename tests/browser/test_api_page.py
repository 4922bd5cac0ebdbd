"""The API page (GET /docs) in headless Chromium, on both HTTP faces.

    serve       a real `tfa serve` process: the page at /docs.
    middleware  a Flask app with TwoFactorMiddleware at /tfa, served by waitress in a thread
                on an in-process engine: the page at /tfa/docs.

Each must render the OpenAPI document with Swagger UI from files the app serves itself
(the page asks nothing of any other host) and list the two operations a client needs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import flask
import pytest
from chromium import Page
from loopback import serve_in_thread, stop_in_thread
from tfa_processes import local_environ, start_serve

from tfa_engine import Engine, EngineConfig, MemoryGateway, MemoryStore
from tfa_engine.adapters.wsgi_middleware import TwoFactorMiddleware

pytestmark = pytest.mark.network

REQUEST_CODE = {"method": "POST", "path": "/1/2fa", "summary": "Send a one-time code by SMS."}
VALIDATE_CODE = {"method": "POST", "path": "/1/2fa/{client_ref}/{code}",
                 "summary": "Check a code; any body is ignored."}
OPERATIONS = """(() => {
    const blocks = [...document.querySelectorAll(".opblock")];
    return blocks.length >= 2 && blocks.map(block => ({
        method: block.querySelector(".opblock-summary-method").textContent,
        path: block.querySelector(".opblock-summary-path").dataset.path,
        summary: block.querySelector(".opblock-summary-description").textContent,
    }));
})()"""


@dataclass(frozen=True)
class Face:
    """Where one face serves the API: the server's origin and the API's mount path."""

    name: str
    origin: str
    prefix: str

    @property
    def root(self) -> str:
        """The API's base URL."""
        return self.origin + self.prefix


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Face]:
    """`tfa serve` as a process; stopped afterwards."""
    workdir = tmp_path_factory.mktemp("serve")
    server = start_serve(workdir, local_environ(workdir))
    try:
        yield Face("serve", server.base_url, "")
    finally:
        server.stop()


@pytest.fixture(scope="module")
def mounted() -> Iterator[Face]:
    """A Flask app with the API at /tfa, on waitress in a thread; stopped afterwards."""
    engine = Engine(MemoryStore(), MemoryGateway(), EngineConfig(argon2_profile="test"),
                    resolver=None)
    app = flask.Flask("shop")
    app.wsgi_app = TwoFactorMiddleware(app.wsgi_app, engine, prefix="/tfa")  # type: ignore[method-assign]
    server, thread, origin = serve_in_thread(app, name="flask-with-tfa")
    try:
        yield Face("middleware", origin, "/tfa")
    finally:
        stop_in_thread(server, thread)
        engine.close()


@pytest.fixture(params=["serve", "middleware"])
def face(request: pytest.FixtureRequest) -> Face:
    """Each face in turn."""
    started: Face = request.getfixturevalue("served" if request.param == "serve" else "mounted")
    return started


def open_docs(page: Page, face: Face) -> list[dict[str, str]]:
    """Open the face's API page; the operations it lists once Swagger UI has drawn them."""
    page.goto(face.root + "/docs")
    operations: list[dict[str, str]] = page.wait_for(OPERATIONS, "Swagger UI's operations")
    return operations


def test_api_page_lists_request_and_validate(face: Face, page: Page, artifacts: Path) -> None:
    """/docs shows "request a code" and "validate a code", with no error on the page."""
    operations = open_docs(page, face)
    assert REQUEST_CODE in operations
    assert VALIDATE_CODE in operations
    assert page.errors() == []
    page.screenshot(artifacts / f"api-{face.name}.png")


def test_api_page_loads_nothing_from_elsewhere(face: Face, page: Page) -> None:
    """Every file the page uses comes from the app, under its mount path (no CDN)."""
    open_docs(page, face)
    fetched = [url for url in page.requested() if not url.startswith("data:")]
    assert f"{face.root}/docs/swagger-ui-bundle.js" in fetched
    assert f"{face.root}/openapi.json" in fetched
    assert [url for url in fetched if not url.startswith(face.root + "/")] == []


def test_api_page_names_the_mount_path_as_server(face: Face, page: Page) -> None:
    """Under the middleware the page offers /tfa as the server; at the root, no list."""
    open_docs(page, face)
    servers = page.evaluate("[...document.querySelectorAll('.servers option')].map(o => o.value)")
    assert servers == ([face.prefix] if face.prefix else [])


def test_try_it_out_calls_the_api_where_it_is_mounted(face: Face, page: Page) -> None:
    """"Try it out" on request-a-code reaches the API under its prefix and shows its
    answer: -51, as no token was given."""
    open_docs(page, face)
    operation = "#operations-default-requestCode"
    page.click(f"{operation} .opblock-summary-control")
    page.wait_for(f"!!document.querySelector('{operation} .try-out__btn')", "Try it out")
    page.click(f"{operation} .try-out__btn")
    page.wait_for(f"!!document.querySelector('{operation} .execute')", "Execute")
    page.click(f"{operation} .execute")
    shown = page.wait_for(f"""(() => {{
        const url = document.querySelector('{operation} .request-url pre');
        const body = document.querySelector(
            '{operation} .live-responses-table .response-col_description pre');
        return url && body && {{url: url.textContent, body: body.textContent}};
    }})()""", "the answer of the API")
    assert shown["url"] == face.root + "/1/2fa"
    assert json.loads(shown["body"])["result_info"] == {
        "status_code": -51, "description": "Authorization token not provided."}
