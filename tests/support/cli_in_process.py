"""The ``tfa`` command run in-process (tests/cli): what one invocation did, the tokens it
creates, and what a code request with a token gets from the configured database."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NamedTuple

import pytest

from tfa_engine import catalogue
from tfa_engine.adapters.cli import main
from tfa_engine.adapters.server.service import build_engine
from tfa_engine.adapters.server.settings import load_settings

UK_MOBILE = "+447911123456"


class Run(NamedTuple):
    """What one `tfa` invocation did."""

    code: int
    out: str
    err: str


Tfa = Callable[..., Run]


def in_process(capsys: pytest.CaptureFixture[str]) -> Tfa:
    """``tfa(*argv)``: runs the command in-process and returns its exit code and output."""

    def run(*argv: str) -> Run:
        code = main(list(argv))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def status_of(token: str) -> catalogue.Status:
    """The status a code request with ``token`` gets from the configured database."""
    engine = build_engine(load_settings(), declare=False)
    try:
        body = {"client_ref": "login-1", "phone_number": UK_MOBILE}
        return engine.request_code(token, "127.0.0.1", body).status
    finally:
        engine.close()


def created(tfa: Tfa, *extra: str) -> dict[str, Any]:
    """Create a token with --json and return the printed object."""
    run = tfa("token", "create", "--json", *extra)
    assert run.code == 0, run.err
    result: dict[str, Any] = json.loads(run.out)
    return result
