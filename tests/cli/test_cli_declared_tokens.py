"""Tokens a settings file declares, as the operating page says: `tfa serve` installs them, so
`tfa token list --config FILE` shows them once a server has started with the file, and `tfa
token update` refuses them (they are changed in the file)."""

from __future__ import annotations

from pathlib import Path

from cli_in_process import Tfa
from tfa_processes import local_environ, start_serve

DECLARED = '[[tokens]]\nname = "shop"\ntoken = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"\n'


def settings_file(tmp_path: Path) -> Path:
    """A settings file declaring the token ``shop``."""
    path = tmp_path / "tfa.toml"
    path.write_text(DECLARED, encoding="utf-8")
    return path


def serve_once(tmp_path: Path, config: Path) -> None:
    """Start `tfa serve` with ``config`` on the test's database, and stop it."""
    server = start_serve(tmp_path, local_environ(tmp_path, TFA_CONFIG=str(config)))
    server.stop()


def test_declared_tokens_are_listed_once_a_server_started_with_the_file(
    tfa: Tfa, tmp_path: Path, database: Path
) -> None:
    """Before any server ran with the file, the list says there are no tokens yet; after,
    it lists the declared token."""
    config = settings_file(tmp_path)
    before = tfa("token", "list", "--config", str(config))
    assert before.out.startswith(f"No tokens yet in {database}. ")
    serve_once(tmp_path, config)
    after = tfa("token", "list", "--config", str(config))
    assert "shop" in after.out and "No tokens yet" not in after.out


def test_updating_a_declared_token_is_refused_naming_the_file(
    tfa: Tfa, tmp_path: Path
) -> None:
    """`tfa token update` on a token of the file exits 2 (a usage error) and says to change
    it there."""
    config = settings_file(tmp_path)
    serve_once(tmp_path, config)
    refused = tfa("token", "update", "shop", "--sender-id", "Other", "--config", str(config))
    assert refused.code == 2
    assert "token 'shop' is declared in the configuration file: change it there" in refused.err
