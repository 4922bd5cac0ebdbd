"""Administrative events through the engine: stored with who made them, still logged on
``tfa.audit``, kept for a retention of their own."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fake_clock import FakeClock

from tfa_engine import Engine, EngineConfig, MemoryGateway, SQLiteStore, catalogue
from tfa_engine.store import AdminEvent, StoreUnavailable

DAY = 86400
RANGE = "+44791"


def trail(engine: Engine) -> list[tuple[str, str | None, str | None, str, str | None]]:
    """(event, token id, token name, actor, detail) of every stored event, oldest first."""
    return [(e.event, e.token_id, e.token_name, e.actor, e.detail)
            for e in engine.admin_trail.events()]


def test_token_changes_are_stored_in_order_with_the_api_actor(engine: Engine) -> None:
    """Create, rotate, update and revoke are stored oldest first, by ``api`` by default,
    the update naming the fields it changed."""
    token_id = engine.create_token("shop").record.id
    engine.rotate_token("shop")
    engine.update_token("shop", name="store", allowed_ips=("10.0.0.1",))
    engine.revoke_token("store")
    assert trail(engine) == [
        ("token.created", token_id, "shop", "api", None),
        ("token.rotated", token_id, "shop", "api", None),
        ("token.updated", token_id, "store", "api", "allowed_ips,name"),
        ("token.revoked", token_id, "store", "api", None),
    ]


def test_a_released_range_is_stored_with_its_token(engine: Engine, clock: FakeClock) -> None:
    """Releasing a held range stores fraud.released with the token's id and name and the
    range; releasing a range that is not held stores nothing."""
    token_id = engine.create_token("shop").record.id
    engine.store.hold_range(token_id, RANGE, clock() + 3600)
    assert engine.release_range(token_id, RANGE)
    assert not engine.release_range(token_id, RANGE)
    assert trail(engine)[1:] == [("fraud.released", token_id, "shop", "api", RANGE)]


def test_an_embedding_app_names_its_actor(
    sqlite_store: SQLiteStore, gateway: MemoryGateway, clock: FakeClock
) -> None:
    """An engine built with actor="admin-ui:alice" stores that actor with its changes."""
    engine = Engine(sqlite_store, gateway, EngineConfig(argon2_profile="test"), clock=clock,
                    resolver=None, actor="admin-ui:alice")
    engine.create_token("shop")
    assert [actor for _, _, _, actor, _ in trail(engine)] == ["admin-ui:alice"]


def test_events_still_go_to_the_audit_logger_with_the_actor(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """A token's creation is also one tfa.audit record, its fields naming the actor."""
    with caplog.at_level(logging.INFO, logger="tfa.audit"):
        token_id = engine.create_token("shop").record.id
    records = [r.audit for r in caplog.records if r.name == "tfa.audit"]  # type: ignore[attr-defined]
    assert records == [{"event": "token.created", "token_id": token_id, "client_ip": None,
                        "phone": None, "message_id": None, "name": "shop", "actor": "api"}]


def test_purge_keeps_events_past_the_codes_retention(engine: Engine, clock: FakeClock) -> None:
    """Eight days on, past the codes' seven, a purge leaves the administrative events."""
    engine.create_token("shop")
    clock.advance(8 * DAY)
    engine.purge()
    assert [e[0] for e in trail(engine)] == ["token.created"]


def test_purge_deletes_events_past_their_own_retention(engine: Engine, clock: FakeClock) -> None:
    """With the default 400 days, a purge deletes an event 401 days old and keeps one 2 days
    old, counting the one it deleted."""
    engine.create_token("old")
    clock.advance(399 * DAY)
    engine.create_token("new")
    clock.advance(2 * DAY)
    assert engine.purge() == 1
    assert [e[2] for e in trail(engine)] == ["new"]


class NoAdminEvents(SQLiteStore):
    """A store whose administrative events cannot be written (the rest works)."""

    def add_admin_event(self, event: AdminEvent) -> None:
        raise StoreUnavailable("the database cannot serve now: disk full")


def test_a_token_is_issued_even_when_its_event_cannot_be_stored(
    tmp_path: Path, gateway: MemoryGateway, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """When the event cannot be written, the token is still issued and works, and an
    error on tfa.audit says the event is not in the stored trail."""
    store = NoAdminEvents(tmp_path / "tfa.db")
    engine = Engine(store, gateway, EngineConfig(argon2_profile="test"), clock=clock,
                    resolver=None)
    try:
        with caplog.at_level(logging.INFO, logger="tfa.audit"):
            issued = engine.create_token("shop")
        body = {"client_ref": "r", "phone_number": "+447911123456"}
        status = engine.request_code(issued.token, "127.0.0.1", body).status
    finally:
        engine.close()
    assert status == catalogue.SUCCESS
    assert any(r.levelno == logging.ERROR and "token.created" in r.getMessage()
               for r in caplog.records if r.name == "tfa.audit")
