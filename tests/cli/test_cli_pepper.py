"""The pepper as the ``tfa`` commands other than ``serve`` see it: they refuse a pepper
other than the database's without ever recording one, ``tfa check`` reports it, and
``tfa pepper adopt`` says what it changed. In-process, on an SQLite file in tmp_path."""

from __future__ import annotations

import pytest

from tfa_engine.adapters.cli import main
from tfa_engine.adapters.server.service import build_engine
from tfa_engine.adapters.server.settings import load_settings

PEPPER = "cli-pepper-0123456789abcdef"
OTHER_PEPPER = "cli-other-pepper-0123456789"


def tfa(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``tfa ARGV`` in-process: exit code, stdout, stderr."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def serve_once(monkeypatch: pytest.MonkeyPatch, pepper: str | None) -> None:
    """Build and close the engine `tfa serve` builds, with ``pepper``."""
    if pepper is None:
        monkeypatch.delenv("TFA_PEPPER", raising=False)
    else:
        monkeypatch.setenv("TFA_PEPPER", pepper)
    build_engine(load_settings()).close()


def test_a_token_command_without_the_pepper_does_not_decide_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`tfa token create` run first, without TFA_PEPPER, records no pepper: a server with
    the pepper starts on the database afterwards."""
    code, _, err = tfa(capsys, "token", "create", "--name", "shop")
    assert code == 0, err
    serve_once(monkeypatch, PEPPER)


def test_a_token_command_with_another_pepper_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Once a server recorded its pepper, `tfa token list` with another exits 2 naming
    TFA_PEPPER, never a pepper."""
    serve_once(monkeypatch, PEPPER)
    monkeypatch.setenv("TFA_PEPPER", OTHER_PEPPER)
    code, out, err = tfa(capsys, "token", "list")
    assert (code, out) == (2, "")
    assert err.startswith("tfa: configuration error: TFA_PEPPER differs from the pepper")
    assert PEPPER not in err and OTHER_PEPPER not in err


def test_check_reports_another_pepper(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`tfa check` with another pepper than the database's exits 1 with a failed pepper
    line, and still reports the store and the gateway."""
    serve_once(monkeypatch, PEPPER)
    monkeypatch.setenv("TFA_PEPPER", OTHER_PEPPER)
    code, out, _ = tfa(capsys, "check")
    assert code == 1
    assert out.splitlines() == [
        "store: ok",
        "pepper: FAILED: TFA_PEPPER differs from the pepper this database's codes are "
        "hashed with: set the same TFA_PEPPER as the other processes on it, or adopt this "
        "pepper on purpose with `tfa pepper adopt`",
        "gateway memory: ok",
    ]


def test_check_reports_the_same_pepper_as_ok(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`tfa check` with the database's pepper exits 0 with `pepper: ok`."""
    serve_once(monkeypatch, PEPPER)
    code, out, _ = tfa(capsys, "check")
    assert code == 0
    assert "pepper: ok" in out.splitlines()


def test_adopting_the_recorded_pepper_changes_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`tfa pepper adopt` with the pepper the database has says nothing changed."""
    serve_once(monkeypatch, PEPPER)
    code, out, _ = tfa(capsys, "pepper", "adopt")
    assert code == 0
    assert out.endswith("has the TFA_PEPPER given already; nothing changed.\n")


def test_adopting_no_pepper_lets_unpeppered_servers_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Dropping the pepper on purpose: `tfa pepper adopt` with TFA_PEPPER unset, after
    which a server without a pepper starts."""
    serve_once(monkeypatch, PEPPER)
    monkeypatch.delenv("TFA_PEPPER")
    code, out, _ = tfa(capsys, "pepper", "adopt")
    assert code == 0
    assert "now has no pepper (TFA_PEPPER unset)" in out
    serve_once(monkeypatch, None)
