"""`tfa check`: the store takes writes and the gateway takes our credentials, checked
without sending an SMS (against the mediariver simulator over HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_twilio import FakeTwilio
from loopback import free_port, serve_in_thread, stop_in_thread

from tfa_engine.adapters.cli import main
from tfa_engine.adapters.gateway_sim import MediariverSimulator

pytestmark = pytest.mark.network


@pytest.fixture
def simulator() -> Iterator[tuple[MediariverSimulator, str]]:
    """The simulator (account sim/sim) served on 127.0.0.1, and its base URL."""
    sim = MediariverSimulator()
    server, thread, url = serve_in_thread(sim)
    try:
        yield sim, url
    finally:
        sim.close()
        stop_in_thread(server, thread)


def check(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str,
          password: str = "sim") -> tuple[int, str]:  # noqa: S107 - the simulator's
    """Run `tfa check` with the mediariver gateway at ``url``: (exit code, output)."""
    monkeypatch.setenv("TFA_GATEWAY", "mediariver")
    monkeypatch.setenv("TFA_MEDIARIVER_URL", url)
    monkeypatch.setenv("TFA_MEDIARIVER_USERNAME", "sim")
    monkeypatch.setenv("TFA_MEDIARIVER_PASSWORD", password)
    code = main(["check"])
    return code, capsys.readouterr().out


def test_good_credentials_pass_and_send_nothing(
    simulator: tuple[MediariverSimulator, str], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Exit 0, both checks ok, and the simulator received no message."""
    sim, url = simulator
    code, out = check(monkeypatch, capsys, url)
    assert code == 0, out
    assert "store: ok" in out and "gateway mediariver: ok" in out
    assert sim.messages == []


def test_bad_credentials_are_named(
    simulator: tuple[MediariverSimulator, str], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A wrong password exits 1, saying the gateway refused the credentials."""
    _, url = simulator
    code, out = check(monkeypatch, capsys, url, password="wrong")
    assert code == 1
    assert "gateway mediariver: FAILED" in out and "refused the credentials" in out
    assert "store: ok" in out


def test_an_unreachable_gateway_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A URL nothing listens on exits 1, saying the gateway did not answer."""
    code, out = check(monkeypatch, capsys, f"http://127.0.0.1:{free_port()}")
    assert code == 1
    assert "did not answer" in out


def test_every_gateway_of_the_file_is_checked_on_its_own(
    simulator: tuple[MediariverSimulator, str], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    """With two [[gateways]], each gets its line: the good one ok, the one with a wrong
    password FAILED, and the exit code 1."""
    _, url = simulator
    config = tmp_path / "tfa.toml"
    config.write_text(
        f'[[gateways]]\nname = "good"\ntype = "mediariver"\nurl = "{url}"\n'
        'username = "sim"\npassword = "sim"\n\n'
        f'[[gateways]]\nname = "bad"\ntype = "mediariver"\nurl = "{url}"\n'
        'username = "sim"\npassword = "wrong"\n', encoding="utf-8")
    monkeypatch.delenv("TFA_GATEWAY", raising=False)
    code = main(["check", "--config", str(config)])
    out = capsys.readouterr().out
    assert code == 1
    assert "gateway good: ok" in out
    assert "gateway bad: FAILED" in out and "refused the credentials" in out


def test_http_gateways_are_checked_against_the_provider_without_sending(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    """Two http gateways on a fake of Twilio's API: the one with the account's auth token
    is ok, the one with another token FAILED naming refused credentials; no message was
    created."""
    twilio = FakeTwilio("AC0123456789abcdef0123456789abcdef", "right-token")
    server, thread, base = serve_in_thread(twilio)
    try:
        url = f"{base}/2010-04-01/Accounts/{twilio.account_sid}/Messages.json"
        gateway = ('type = "http"\nurl = "{url}"\nauth = "basic"\nusername = "{sid}"\n'
                   'password = "{token}"\nformat = "form"\n'
                   'body = {{ To = "{{to}}", From = "+15017122661", Body = "{{text}}" }}\n'
                   'accept_status = [201]\nid_field = "sid"\n')
        config = tmp_path / "tfa.toml"
        config.write_text(
            '[[gateways]]\nname = "good"\n'
            + gateway.format(url=url, sid=twilio.account_sid, token="right-token")
            + '\n[[gateways]]\nname = "bad"\n'
            + gateway.format(url=url, sid=twilio.account_sid, token="wrong-token"),
            encoding="utf-8")
        monkeypatch.delenv("TFA_GATEWAY", raising=False)
        code = main(["check", "--config", str(config)])
    finally:
        stop_in_thread(server, thread)
    out = capsys.readouterr().out
    assert code == 1, out
    assert "gateway good: ok" in out, out
    assert "gateway bad: FAILED" in out and "refused the credentials" in out, out
    assert twilio.messages == {}
