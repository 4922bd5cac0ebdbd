"""`tfa audit`: the administrative events real `tfa` commands leave in the database, with
this host and user as their actor, filtered by --event and --since, purged by `tfa purge`
past their retention."""

from __future__ import annotations

import json
import os
import pwd
import socket
import subprocess
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from tfa_processes import COMMAND_TIMEOUT, local_environ, start_serve, tfa_command

from tfa_engine import SQLiteStore
from tfa_engine.store import AdminEvent

DAY = 86400
RANGE = "+44791"
ELSEWHERE = "cli:elsewhere:bob"
ACTOR = f"cli:{socket.gethostname()}:{pwd.getpwuid(os.geteuid()).pw_name}"
SERVER = f"server:{socket.gethostname()}:{pwd.getpwuid(os.geteuid()).pw_name}"
DECLARED = '[[tokens]]\nname = "shop"\ntoken = "7d1f0c2a-5b8e-4f3a-9c6d-2e1b0a9f8c7d"\n'


def tfa(workdir: Path, env: Mapping[str, str], *argv: str) -> str:
    """Run ``tfa ARGV`` as a process; what it printed (it must succeed)."""
    done = subprocess.run(
        [*tfa_command(), *argv], cwd=workdir, env=dict(env), capture_output=True, text=True,
        timeout=COMMAND_TIMEOUT, check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def audit(workdir: Path, env: Mapping[str, str], *options: str) -> list[dict[str, Any]]:
    """``tfa audit --json OPTIONS``, decoded."""
    listed: list[dict[str, Any]] = json.loads(tfa(workdir, env, "audit", "--json", *options))
    return listed


def add_event(database: Path, age: float, event: str = "token.revoked") -> None:
    """Store an event ``age`` seconds old, made elsewhere."""
    store = SQLiteStore(database)
    try:
        store.add_admin_event(AdminEvent(at=time.time() - age, event=event, actor=ELSEWHERE,
                                         token_id="tok_old", token_name="old"))
    finally:
        store.close()


@pytest.fixture(scope="module")
def changed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], str]:
    """A database with an event three days old made elsewhere, then a token created,
    rotated, updated, a range of it released and the token revoked, each by its own `tfa`
    command: (workdir, environment, token id)."""
    workdir = tmp_path_factory.mktemp("audit")
    env = local_environ(workdir)
    add_event(workdir / "tfa.db", 3 * DAY)
    token_id = json.loads(tfa(workdir, env, "token", "create", "--name", "shop", "--json"))["id"]
    tfa(workdir, env, "token", "rotate", "shop")
    tfa(workdir, env, "token", "update", "shop", "--sender-id", "Shop")
    store = SQLiteStore(workdir / "tfa.db")
    try:
        store.hold_range(token_id, RANGE, time.time() + 3600)
    finally:
        store.close()
    tfa(workdir, env, "fraud", "release", "shop", RANGE)
    tfa(workdir, env, "token", "revoke", "shop")
    return workdir, env, token_id


def test_audit_lists_every_change_oldest_first_with_this_host_and_user(
    changed: tuple[Path, dict[str, str], str],
) -> None:
    """Each command's change is listed once, oldest first, by cli:<host>:<user>."""
    workdir, env, token_id = changed
    assert [(e["event"], e["token_id"], e["token_name"], e["actor"], e["detail"])
            for e in audit(workdir, env)] == [
        ("token.revoked", "tok_old", "old", ELSEWHERE, None),
        ("token.created", token_id, "shop", ACTOR, None),
        ("token.rotated", token_id, "shop", ACTOR, None),
        ("token.updated", token_id, "shop", ACTOR, "sender_id"),
        ("fraud.released", token_id, "shop", ACTOR, RANGE),
        ("token.revoked", token_id, "shop", ACTOR, None),
    ]


def test_event_option_keeps_only_the_events_named(
    changed: tuple[Path, dict[str, str], str],
) -> None:
    """--event token.revoked --event fraud.released lists those two kinds only."""
    workdir, env, _ = changed
    found = audit(workdir, env, "--event", "token.revoked", "--event", "fraud.released")
    assert [(e["event"], e["actor"]) for e in found] == [
        ("token.revoked", ELSEWHERE), ("fraud.released", ACTOR), ("token.revoked", ACTOR)]


def test_since_a_duration_leaves_out_older_events(
    changed: tuple[Path, dict[str, str], str],
) -> None:
    """--since 24h leaves out the event three days old and keeps the five of today."""
    workdir, env, _ = changed
    found = audit(workdir, env, "--since", "24h")
    assert [e["actor"] for e in found] == [ACTOR] * 5


def test_since_an_iso_date_time_keeps_events_after_it(
    changed: tuple[Path, dict[str, str], str],
) -> None:
    """--since an ISO 8601 time four days ago (with Z) keeps all six events, one two days
    ago only today's five."""
    workdir, env, _ = changed

    def iso(age: float) -> str:
        return datetime.fromtimestamp(time.time() - age, timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ")

    assert len(audit(workdir, env, "--since", iso(4 * DAY))) == 6
    assert len(audit(workdir, env, "--since", iso(2 * DAY))) == 5


def test_purge_deletes_events_older_than_400_days(tmp_path: Path) -> None:
    """`tfa purge` deletes an event 401 days old and keeps one 399 days old."""
    env = local_environ(tmp_path)
    add_event(tmp_path / "tfa.db", 401 * DAY, "token.created")
    add_event(tmp_path / "tfa.db", 399 * DAY, "token.revoked")
    tfa(tmp_path, env, "purge")
    assert [e["event"] for e in audit(tmp_path, env)] == ["token.revoked"]


def test_purge_follows_the_admin_audit_retention_setting(tmp_path: Path) -> None:
    """With TFA_ADMIN_AUDIT_RETENTION=172800 (two days) `tfa purge` deletes an event three
    days old and keeps one a day old."""
    env = local_environ(tmp_path, TFA_ADMIN_AUDIT_RETENTION="172800")
    add_event(tmp_path / "tfa.db", 3 * DAY, "token.created")
    add_event(tmp_path / "tfa.db", 1 * DAY, "token.revoked")
    tfa(tmp_path, env, "purge")
    assert [e["event"] for e in audit(tmp_path, env)] == ["token.revoked"]


def test_text_output_has_one_line_per_event_naming_its_actor(
    changed: tuple[Path, dict[str, str], str],
) -> None:
    """Without --json each event is one line with its time, event, token and actor."""
    workdir, env, token_id = changed
    lines = tfa(workdir, env, "audit", "--since", "24h").splitlines()
    assert [line.split()[1] for line in lines] == [
        "token.created", "token.rotated", "token.updated", "fraud.released", "token.revoked"]
    assert all(f"'shop' ({token_id})" in line and f"by {ACTOR}" in line for line in lines)


def test_a_server_revoking_an_undeclared_token_is_the_actor(tmp_path: Path) -> None:
    """`tfa serve` started on a settings file that no longer declares a token revokes it,
    and the event names server:<host>:<user>."""
    config = tmp_path / "tfa.toml"
    env = local_environ(tmp_path, TFA_CONFIG=str(config))
    for declared in (DECLARED, ""):
        config.write_text(declared, encoding="utf-8")
        start_serve(tmp_path, env).stop()
    assert [(e["event"], e["token_name"], e["actor"]) for e in audit(tmp_path, env)] == [
        ("token.revoked", "shop", SERVER)]
