"""Schemathesis fuzzes the Falcon app in-process against the API's own OpenAPI document.

Every generated request must get an answer the document describes: never a 5xx, a
documented HTTP status, the documented media type, and a body matching the schema of
that operation's response. Most requests carry a valid token; schemathesis itself also
sends some without the header (-51) and with methods the path does not serve (-72).
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import falcon
import hypothesis.strategies as st
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tfa_engine import Engine, EngineConfig, MemoryGateway, MemoryStore
from tfa_engine.adapters.falcon import create_app
from tfa_engine.adapters.falcon.openapi import build_openapi

DLR_SECRET = "s3cret"
MOBILES = ("+447911123456", "+4915123456789", "+33612345678", "+12015550123")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

# from_dict rather than from_wsgi: from_wsgi leaves out the operation serving the
# document itself (GET /openapi.json). An explicit Config keeps a stray
# schemathesis.toml from changing the run.
schema = schemathesis.openapi.from_dict(build_openapi(), config=schemathesis.Config())


@dataclass(frozen=True)
class Service:
    """The app under test and a token it accepts."""

    app: falcon.App[Any, Any]
    token: str


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    """One engine on memory for the whole run; rate limits off so fuzzing is not throttled."""
    config = EngineConfig(argon2_profile="test", rate_limits=False, dlr_secret=DLR_SECRET)
    engine = Engine(MemoryStore(), MemoryGateway(), config, resolver=None)
    try:
        yield Service(create_app(engine), engine.create_token("fuzz").token)
    finally:
        engine.close()


def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
    """Besides the generated body, send ones the engine accepts, so 201 is exercised too."""
    if context.operation is None or context.operation.path != "/1/2fa":
        return st.just(body)
    accepted = st.fixed_dictionaries({
        "client_ref": st.text(string.ascii_letters + string.digits + "-_", min_size=1,
                              max_size=64),
        "phone_number": st.sampled_from(MOBILES),
    })
    variants = [st.just(body), accepted]
    if isinstance(body, dict):
        variants.append(accepted.map(lambda fields: {**body, **fields}))
    return st.one_of(variants)


def flatmap_path_parameters(
    context: schemathesis.HookContext, path_parameters: dict[str, Any]
) -> st.SearchStrategy[dict[str, Any]]:
    """Also post delivery reports to the right secret, so their 200 and 400 are exercised."""
    if context.operation is None or context.operation.path != "/1/dlr/{secret}":
        return st.just(path_parameters)
    return st.sampled_from([path_parameters, {**path_parameters, "secret": DLR_SECRET}])


@schema.hooks.apply(flatmap_body)
@schema.hooks.apply(flatmap_path_parameters)
@schema.parametrize()
@settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    # Generation speed depends on the machine, not on the app; the run is bounded anyway.
    suppress_health_check=[HealthCheck.too_slow],
)
def test_answers_match_the_document(case: schemathesis.Case[Any], service: Service) -> None:
    """Every answer is documented for its operation: status, media type and body schema."""
    case.call_and_validate(
        app=service.app,
        headers={"Authorization": f"Token {service.token}"},
        checks=CHECKS,
    )
