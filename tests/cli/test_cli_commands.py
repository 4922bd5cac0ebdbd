"""`tfa token ...` and `tfa purge`, run in-process against a SQLite file in tmp_path."""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import time
from pathlib import Path

import pytest
from cli_in_process import UK_MOBILE, Tfa, created, status_of
from tfa_processes import COMMAND_TIMEOUT, tfa_command

import tfa_engine
from tfa_engine import Engine, EngineConfig, MemoryGateway, SQLiteStore, catalogue
from tfa_engine._callbacks import CallbackSigner
from tfa_engine.adapters.server.service import build_engine
from tfa_engine.adapters.server.settings import load_settings

UUID_SHAPE = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
DECLARED_TOKEN = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"


# -- token create ------------------------------------------------------------------------
def test_create_prints_a_working_token(tfa: Tfa) -> None:
    """`token create` prints a UUID-shaped token that authenticates requests."""
    run = tfa("token", "create", "--name", "shop")
    assert run.code == 0
    (token,) = UUID_SHAPE.findall(run.out)
    assert status_of(token) == catalogue.SUCCESS


def test_create_json_is_one_object_with_the_token(tfa: Tfa) -> None:
    """`token create --json` prints one object with id, name, token, allowlist and sender."""
    result = created(
        tfa, "--name", "shop", "--allow-ip", "127.0.0.1", "--allow-ip", "10.0.0.0/8",
        "--sender-id", "Shop",
    )
    assert result["name"] == "shop" and result["id"]
    assert result["allowed_ips"] == ["127.0.0.1", "10.0.0.0/8"]
    assert result["sender_id"] == "Shop"
    assert UUID_SHAPE.fullmatch(result["token"])


def test_created_allowlist_is_enforced(tfa: Tfa) -> None:
    """A token created with --allow-ip refuses other addresses (-67)."""
    token = created(tfa, "--name", "shop", "--allow-ip", "10.0.0.0/8")["token"]
    assert status_of(token) == catalogue.IP_NOT_ALLOWED


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["--allow-ip", "10.0.0.300"], "'10.0.0.300'", id="bad-allow-ip"),
        pytest.param(["--allow-ip", "10.0.0.0/8", "--allow-ip", "office"], "'office'",
                     id="second-allow-ip-bad"),
        pytest.param(["--sender-id", "Much too long"], "sender", id="bad-sender-id"),
    ],
)
def test_create_refuses_bad_options(tfa: Tfa, argv: list[str], message: str) -> None:
    """An invalid --allow-ip or --sender-id exits 2 with a message and creates nothing."""
    run = tfa("token", "create", "--name", "shop", *argv)
    assert (run.code, run.out) == (2, "")
    assert message in run.err
    assert tfa("token", "list", "--json").out.strip() == "[]"


def test_create_refuses_a_blank_name(tfa: Tfa) -> None:
    """A blank --name exits 2 with a message."""
    run = tfa("token", "create", "--name", "  ")
    assert (run.code, run.out) == (2, "")
    assert "name" in run.err


def test_create_needs_a_name(tfa: Tfa) -> None:
    """`token create` without --name is a usage error (exit 2)."""
    assert tfa("token", "create").code == 2


# -- token list --------------------------------------------------------------------------
def test_list_without_tokens_says_how_to_create_one(tfa: Tfa) -> None:
    """An empty `token list` tells how to create a token."""
    run = tfa("token", "list")
    assert run.code == 0
    assert "tfa token create --name NAME" in run.out


def test_list_shows_tokens_but_never_the_token(tfa: Tfa) -> None:
    """`token list` names each token by id and name and never prints the token itself."""
    result = created(tfa, "--name", "shop", "--allow-ip", "10.0.0.0/8")
    run = tfa("token", "list")
    assert run.code == 0
    assert result["id"] in run.out and "shop" in run.out and "10.0.0.0/8" in run.out
    assert result["token"] not in run.out


def test_list_json_has_no_secrets(tfa: Tfa) -> None:
    """`token list --json` gives id, name, allowlist, sender, dates; no token, no digest."""
    result = created(tfa, "--name", "shop", "--sender-id", "Shop")
    run = tfa("token", "list", "--json")
    (listed,) = json.loads(run.out)
    assert (listed["id"], listed["name"], listed["sender_id"]) == (result["id"], "shop", "Shop")
    assert listed["created_at"] and listed["revoked_at"] is None
    assert "token" not in listed and "token_hash" not in listed
    assert result["token"] not in run.out


# -- token revoke ------------------------------------------------------------------------
def test_revoke_stops_the_token_at_once(tfa: Tfa) -> None:
    """`token revoke ID` exits 0 and the token is refused from then on (-50)."""
    result = created(tfa, "--name", "shop")
    run = tfa("token", "revoke", result["id"])
    assert run.code == 0 and result["id"] in run.out
    assert status_of(result["token"]) == catalogue.TOKEN_INVALID


def test_revoked_token_is_listed_as_revoked(tfa: Tfa) -> None:
    """After revocation `token list --json` shows when it was revoked."""
    result = created(tfa, "--name", "shop")
    tfa("token", "revoke", result["id"])
    (listed,) = json.loads(tfa("token", "list", "--json").out)
    assert listed["revoked_at"] is not None


def test_revoke_unknown_id_exits_1(tfa: Tfa) -> None:
    """Revoking an id that does not exist exits 1 with a message."""
    run = tfa("token", "revoke", "tok_000000000000")
    assert run.code == 1
    assert "tok_000000000000" in run.err


def test_revoke_twice_exits_1(tfa: Tfa) -> None:
    """Revoking an already revoked token exits 1."""
    token_id = created(tfa, "--name", "shop")["id"]
    tfa("token", "revoke", token_id)
    assert tfa("token", "revoke", token_id).code == 1


def test_revoking_a_declared_token_warns_it_comes_back(tfa: Tfa, tmp_path: Path) -> None:
    """Revoking a token declared in a config file says to remove it there too."""
    config = tmp_path / "tfa.toml"
    config.write_text(f'[[tokens]]\nname = "ops"\ntoken = "{DECLARED_TOKEN}"\n')
    build_engine(load_settings(config)).close()  # what `tfa serve --config` does at start
    (listed,) = json.loads(tfa("token", "list", "--json").out)
    run = tfa("token", "revoke", listed["id"], "--config", str(config))
    assert run.code == 0
    assert "configuration file" in run.err


# -- purge -------------------------------------------------------------------------------
def test_purge_reports_how_many_records_it_deleted(
    tfa: Tfa, database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`tfa purge` deletes codes past retention and prints the count."""
    engine = Engine(
        SQLiteStore(database), MemoryGateway(), EngineConfig(argon2_profile="test"),
        clock=lambda: time.time() - 3600,  # the code expired long ago
    )
    try:
        token = engine.create_token("shop").token
        for ref in ("a", "b"):
            body = {"client_ref": ref, "phone_number": UK_MOBILE}
            assert engine.request_code(token, "127.0.0.1", body).ok
    finally:
        engine.close()
    monkeypatch.setenv("TFA_RETENTION", "0")
    run = tfa("purge")
    assert run.code == 0
    assert "Deleted 2 records" in run.out


def test_purge_with_nothing_to_delete_says_zero(tfa: Tfa) -> None:
    """`tfa purge` on a fresh database deletes nothing and says so."""
    run = tfa("purge")
    assert (run.code, run.out.strip()) == (0, "Deleted 0 records past retention.")


# -- configuration -------------------------------------------------------------------------
def test_config_file_is_used(tfa: Tfa, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--config FILE supplies settings the environment does not set."""
    monkeypatch.delenv("TFA_DATABASE")
    other = tmp_path / "other.db"
    config = tmp_path / "tfa.toml"
    config.write_text(f"database = {json.dumps(str(other))}\n")
    created(tfa, "--name", "shop", "--config", str(config))
    assert other.exists()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        pytest.param("TFA_PORT", "http", "TFA_PORT", id="bad-number"),
        pytest.param("TFA_GATEWAY", "mediariver", "TFA_MEDIARIVER_URL",
                     id="gateway-without-credentials"),
        pytest.param("TFA_CONFIG", "/nonexistent/tfa.toml", "not found", id="missing-file"),
    ],
)
def test_configuration_error_exits_2_without_traceback(
    tfa: Tfa, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    """A configuration error is one line on stderr and exit 2, not a traceback."""
    monkeypatch.setenv(variable, value)
    run = tfa("token", "list")
    assert run.code == 2
    assert message in run.err
    assert "Traceback" not in run.err


def test_unknown_key_in_config_file_exits_2(tfa: Tfa, tmp_path: Path) -> None:
    """A misspelt key in --config FILE exits 2 naming the key."""
    config = tmp_path / "tfa.toml"
    config.write_text("databse = 'x.db'\n")
    run = tfa("purge", "--config", str(config))
    assert run.code == 2 and "databse" in run.err


def test_help_exits_0(tfa: Tfa) -> None:
    """`tfa --help` prints usage and exits 0."""
    run = tfa("--help")
    assert run.code == 0 and "serve" in run.out and "token" in run.out


def test_no_command_is_a_usage_error(tfa: Tfa) -> None:
    """`tfa` with no command exits 2."""
    assert tfa().code == 2


def test_create_shows_the_callback_secret_when_a_key_is_set(
    tfa: Tfa, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With TFA_CALLBACK_KEY set, the printed secret verifies the service's signatures."""
    monkeypatch.setenv("TFA_CALLBACK_KEY", "k" * 32)
    result = created(tfa, "--name", "shop")
    expected = CallbackSigner("k" * 32).secret_for(result["id"])
    assert result["callback_secret"] == expected
    run = tfa("token", "create", "--name", "other")
    assert "X-TFA-Signature" in run.out


def test_create_says_when_callbacks_have_no_stable_key(tfa: Tfa) -> None:
    """Without a callback key or pepper no secret is shown, and the output says what to set."""
    assert created(tfa, "--name", "shop")["callback_secret"] is None
    run = tfa("token", "create", "--name", "other")
    assert "TFA_CALLBACK_KEY" in run.out


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["token", "create", "--name", "shop"], id="token-create"),
        pytest.param(["token", "list"], id="token-list"),
        pytest.param(["token", "revoke", "no-such-id"], id="token-revoke"),
        pytest.param(["purge"], id="purge"),
    ],
)
def test_misspelt_variable_is_warned_about(
    tfa: Tfa, monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    """A TFA_* variable that is no setting (TFA_DATABSE) is named on stderr, whatever the
    command, so writing to the default database instead is not silent."""
    monkeypatch.setenv("TFA_DATABSE", "/srv/tfa/production.db")
    run = tfa(*argv)
    assert "TFA_DATABSE is not a tfa setting; ignored" in run.err
    assert "TFA_DATABSE" not in run.out


def test_known_variables_bring_no_warning(tfa: Tfa) -> None:
    """Only unknown variables are warned about: the fixture's TFA_* settings are not."""
    assert "warning" not in tfa("token", "list").err


def test_version_is_the_package_version(tfa: Tfa) -> None:
    """`tfa --version` prints the version tfa_engine and the installed distribution carry."""
    run = tfa("--version")
    assert run.code == 0
    assert run.out.strip() == f"tfa {tfa_engine.__version__}"
    assert tfa_engine.__version__ == importlib.metadata.version("tfa-engine")


def test_version_as_a_command(tmp_path: Path) -> None:
    """The installed command answers --version too (exit 0, one line)."""
    done = subprocess.run(
        [*tfa_command(), "--version"], cwd=tmp_path, capture_output=True, text=True,
        timeout=COMMAND_TIMEOUT, check=False,
    )
    assert (done.returncode, done.stdout) == (0, f"tfa {tfa_engine.__version__}\n")


def test_gateway_sim_help_shows_its_defaults(tfa: Tfa) -> None:
    """`tfa gateway-sim --help` says what each option does when it is not given."""
    out = tfa("gateway-sim", "--help").out
    for default in ("127.0.0.1", "9090", "DELIVRD", "0.0", "sim", "none are sent"):
        assert f"(default: {default})" in " ".join(out.split()), default
    assert "None" not in out and "False" not in out
