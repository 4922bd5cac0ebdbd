"""`tfa token rotate|update|revoke` by name, `token list`'s last use, and `tfa fraud`, run
in-process against a SQLite file in tmp_path."""

from __future__ import annotations

import json

import pytest
from cli_in_process import Tfa, created, status_of

from tfa_engine import catalogue
from tfa_engine.adapters.server.service import build_engine
from tfa_engine.adapters.server.settings import load_settings


# -- names ----------------------------------------------------------------------------------
def test_a_taken_name_is_refused_with_a_clear_error(tfa: Tfa) -> None:
    """A second active token named "shop" is refused (exit 2), saying the name is taken."""
    created(tfa, "--name", "shop")
    run = tfa("token", "create", "--name", "shop")
    assert run.code == 2
    assert "named 'shop' exists already" in run.err
    assert len(json.loads(tfa("token", "list", "--json").out)) == 1


def test_revoke_by_name(tfa: Tfa) -> None:
    """`token revoke NAME` stops the token at once."""
    token = created(tfa, "--name", "shop")["token"]
    assert tfa("token", "revoke", "shop").code == 0
    assert status_of(token) == catalogue.TOKEN_INVALID


# -- rotate ---------------------------------------------------------------------------------
def test_rotate_by_name_prints_a_new_value_and_kills_the_old(tfa: Tfa) -> None:
    """`token rotate NAME --json` prints the same id with a new token; the old one is -50."""
    first = created(tfa, "--name", "shop")
    run = tfa("token", "rotate", "shop", "--json")
    assert run.code == 0, run.err
    rotated = json.loads(run.out)
    assert (rotated["id"], rotated["name"]) == (first["id"], "shop")
    assert rotated["token"] != first["token"]
    assert status_of(first["token"]) == catalogue.TOKEN_INVALID
    assert status_of(rotated["token"]) == catalogue.SUCCESS


def test_rotate_unknown_token_exits_1(tfa: Tfa) -> None:
    """Rotating a name nobody has exits 1 with a message."""
    run = tfa("token", "rotate", "ghost")
    assert run.code == 1 and "ghost" in run.err


# -- update ---------------------------------------------------------------------------------
def test_update_by_name_changes_what_is_given(tfa: Tfa) -> None:
    """`token update NAME --allow-destination DE --sms-budget 5/60 --name web` changes
    exactly those; the allowlist given earlier stays."""
    created(tfa, "--name", "shop", "--allow-ip", "10.0.0.0/8")
    run = tfa("token", "update", "shop", "--allow-destination", "DE", "--sms-budget", "5/60",
              "--name", "web")
    assert run.code == 0, run.err
    (listed,) = json.loads(tfa("token", "list", "--json").out)
    assert (listed["name"], listed["allowed_destinations"], listed["sms_budget"]) == (
        "web", ["DE"], "5/60"
    )
    assert listed["allowed_ips"] == ["10.0.0.0/8"]


def test_update_can_clear_an_allowlist(tfa: Tfa) -> None:
    """--no-allow-ip accepts any address again: the token works from here."""
    token = created(tfa, "--name", "shop", "--allow-ip", "10.0.0.0/8")["token"]
    assert status_of(token) == catalogue.IP_NOT_ALLOWED
    assert tfa("token", "update", "shop", "--no-allow-ip").code == 0
    assert status_of(token) == catalogue.SUCCESS


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["--sender-id", "Far too long a sender"], "sender_id", id="sender"),
        pytest.param(["--allow-destination", "Narnia"], "Narnia", id="destination"),
        pytest.param(["--sms-budget", "many"], "--sms-budget", id="budget"),
        pytest.param([], "nothing to change", id="nothing"),
    ],
)
def test_update_refuses_bad_options(tfa: Tfa, argv: list[str], message: str) -> None:
    """A bad option exits 2 naming it, and the token is left as it was."""
    created(tfa, "--name", "shop")
    before = tfa("token", "list", "--json").out
    run = tfa("token", "update", "shop", *argv)
    assert run.code == 2 and message in run.err
    assert tfa("token", "list", "--json").out == before


# -- last use and fraud holds --------------------------------------------------------------------
def test_list_shows_when_a_token_was_last_used(tfa: Tfa) -> None:
    """`token list` says "never" for an unused token and a time once it served a request."""
    token = created(tfa, "--name", "shop")["token"]
    assert "never" in tfa("token", "list").out
    assert status_of(token) == catalogue.SUCCESS
    (listed,) = json.loads(tfa("token", "list", "--json").out)
    assert listed["last_used_at"] is not None
    assert "never" not in tfa("token", "list").out


def test_fraud_list_and_release(tfa: Tfa) -> None:
    """A held range shows in `tfa fraud list`; `tfa fraud release NAME RANGE` ends it."""
    created(tfa, "--name", "shop")
    engine = build_engine(load_settings(), declare=False)
    try:
        record = engine.find_token("shop")
        assert record is not None
        engine.store.hold_range(record.id, "+44791", engine.clock() + 3600)
    finally:
        engine.close()
    (held,) = json.loads(tfa("fraud", "list", "--json").out)
    assert (held["token"], held["range"]) == ("shop", "+44791")
    assert tfa("fraud", "release", "shop", "+44791").code == 0
    assert json.loads(tfa("fraud", "list", "--json").out) == []
    assert tfa("fraud", "release", "shop", "+44791").code == 1


def test_fraud_release_by_id_wins_over_a_token_named_like_that_id(tfa: Tfa) -> None:
    """`tfa fraud release ID RANGE` releases that token's range, though an older token's
    name is that id."""
    impostor = created(tfa, "--name", "impostor")
    target = created(tfa, "--name", "shop")
    assert tfa("token", "update", impostor["id"], "--name", target["id"]).code == 0
    engine = build_engine(load_settings(), declare=False)
    try:
        engine.store.hold_range(target["id"], "+44791", engine.clock() + 3600)
    finally:
        engine.close()
    run = tfa("fraud", "release", target["id"], "+44791")
    assert run.code == 0, run.err
    assert json.loads(tfa("fraud", "list", "--json").out) == []
