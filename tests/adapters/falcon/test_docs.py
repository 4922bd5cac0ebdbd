"""GET /docs: the API page and its files, and the OpenAPI document's ``servers`` under a
mount path; in-process (the page in a real browser is tested in tests/browser)."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import falcon
import falcon.testing
import pytest
from werkzeug.test import Client

from tfa_engine import Engine
from tfa_engine.adapters.falcon import create_app
from tfa_engine.adapters.falcon import docs as docs_module
from tfa_engine.adapters.falcon.openapi import build_openapi
from tfa_engine.adapters.wsgi_middleware import TwoFactorMiddleware

SCRIPTS = ("swagger-ui-bundle.js", "start.js")


@pytest.fixture
def client(engine: Engine) -> falcon.testing.TestClient:
    """A test client of the app at the server's root."""
    return falcon.testing.TestClient(create_app(engine))


@pytest.fixture
def mounted(engine: Engine) -> Client:
    """A werkzeug client of a host application with the API mounted at /tfa."""

    def host(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"the host application"]

    return Client(TwoFactorMiddleware(host, engine, prefix="/tfa"))


def links(page: str) -> list[str]:
    """The URLs a page refers to (src, href and the document it shows)."""
    return re.findall(r'(?:src|href|data-openapi)="([^"]*)"', page)


# -- the page ---------------------------------------------------------------------------------


def test_page_is_html_running_only_the_apps_own_scripts(
    client: falcon.testing.TestClient,
) -> None:
    """GET /docs is an HTML page whose policy allows scripts from the app alone."""
    answer = client.simulate_get("/docs")
    assert (answer.status_code, answer.headers["content-type"]) == (
        200, "text/html; charset=utf-8")
    policy = answer.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self';" in policy
    assert "connect-src 'self'" in policy


def test_page_refers_to_the_apps_own_files_only(client: falcon.testing.TestClient) -> None:
    """Every file and the document the page uses are paths of the app (no CDN)."""
    page = client.simulate_get("/docs").text
    assert set(links(page)) == {
        "/docs/favicon-32x32.png", "/docs/favicon-16x16.png", "/docs/swagger-ui.css",
        "/docs/swagger-ui-bundle.js", "/docs/start.js", "/openapi.json"}


def test_page_under_the_middleware_refers_to_its_prefix(mounted: Client) -> None:
    """At /tfa/docs every link of the page starts with /tfa/."""
    response = mounted.get("/tfa/docs")
    assert response.status_code == 200
    found = links(response.get_data(as_text=True))
    assert found and all(link.startswith("/tfa/") for link in found)


def test_a_mount_path_cannot_put_markup_into_the_page(engine: Engine) -> None:
    """A SCRIPT_NAME holding quotes and angle brackets appears percent-encoded."""
    answer = falcon.testing.simulate_get(
        create_app(engine), "/docs", root_path='/a"><script>x</script>')
    assert "<script>x" not in answer.text
    assert 'data-openapi="/a%22%3E%3Cscript%3Ex%3C/script%3E/openapi.json"' in answer.text


def test_head_answers_without_a_body(client: falcon.testing.TestClient) -> None:
    """HEAD /docs is 200 like GET, with no body."""
    answer = client.simulate_head("/docs")
    assert (answer.status_code, answer.content) == (200, b"")


@pytest.mark.parametrize("path", ["/docs", "/docs/start.js"])
def test_other_methods_are_72(client: falcon.testing.TestClient, path: str) -> None:
    """POST to the page or a file is -72 with Allow, in the API's envelope."""
    answer = client.simulate_post(path)
    assert (answer.status_code, answer.headers["allow"]) == (405, "GET, HEAD")
    assert answer.json["result_info"]["status_code"] == -72


def test_page_without_swagger_ui_says_what_to_install(
    client: falcon.testing.TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without Swagger UI 5 installed the page names the package and links the document."""
    monkeypatch.setattr(docs_module, "swagger_ui_release", lambda: None)
    page = client.simulate_get("/docs").text
    assert "pip install &#x27;swagger-ui-py&gt;=23.9.23&#x27;" in page
    assert links(page) == ["/openapi.json"]


# -- its files --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        pytest.param("swagger-ui-bundle.js", "text/javascript; charset=utf-8", id="bundle"),
        pytest.param("swagger-ui.css", "text/css; charset=utf-8", id="style"),
        pytest.param("favicon-32x32.png", "image/png", id="icon"),
    ],
)
def test_swagger_ui_files_come_from_the_package(
    client: falcon.testing.TestClient, name: str, media_type: str
) -> None:
    """/docs/{file} serves the installed swagger-ui-dist release's own file."""
    answer = client.simulate_get(f"/docs/{name}")
    assert (answer.status_code, answer.headers["content-type"]) == (200, media_type)
    release = docs_module.swagger_ui_release()
    assert release is not None and release >= (5, 0, 0)
    installed = resources.files("swagger_ui") / "static" / name
    assert answer.content == installed.read_bytes()
    assert "max-age=" in answer.headers["cache-control"]


def test_start_script_never_asks_an_outside_validator(client: falcon.testing.TestClient) -> None:
    """The script starting Swagger UI reads the document's URL from the page and turns
    Swagger UI's online validator off."""
    script = client.simulate_get("/docs/start.js").text
    assert "container.dataset.openapi" in script and "validatorUrl: null" in script


@pytest.mark.parametrize("name", ["index.html", "swagger-ui.js.map", "..", "openapi.json"])
def test_other_files_are_71(client: falcon.testing.TestClient, name: str) -> None:
    """Any other name under /docs/ is -71 404, like an unknown path."""
    answer = client.simulate_get(f"/docs/{name}")
    assert answer.status_code == 404
    assert answer.json["result_info"]["status_code"] == -71


# -- the document's servers -------------------------------------------------------------------


def test_document_at_the_root_names_no_server(client: falcon.testing.TestClient) -> None:
    """At the server's root the document has no ``servers`` (OpenAPI's default, "/")."""
    assert "servers" not in client.simulate_get("/openapi.json").json


def test_document_under_the_middleware_names_its_prefix(mounted: Client) -> None:
    """GET /tfa/openapi.json says servers [{url: /tfa}] and is otherwise the document."""
    response = mounted.get("/tfa/openapi.json")
    served = json.loads(response.get_data())
    assert served.pop("servers") == [{"url": "/tfa"}]
    assert served == build_openapi()


def test_document_follows_the_mount_path_of_each_request(engine: Engine) -> None:
    """One app mounted at two paths names each in its own answers."""
    app = create_app(engine)
    for root in ("/one", "/two/deeper"):
        answer = falcon.testing.simulate_get(app, "/openapi.json", root_path=root)
        assert answer.json["servers"] == [{"url": root}]
