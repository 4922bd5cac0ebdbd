"""The administrative events of the store contract, on every backend (memory, SQLite,
PostgreSQL): appended, listed oldest first with filters, purged past a cutoff."""

from __future__ import annotations

from tfa_engine.store import AdminEvent, Store

T0 = 1_800_000_000.0


def event(at: float, kind: str = "token.created", actor: str = "cli:host:alice",
          **extra: str) -> AdminEvent:
    """An event of token tok_1 ("shop") at ``T0 + at``."""
    return AdminEvent(at=T0 + at, event=kind, actor=actor, token_id="tok_1",
                      token_name="shop", **extra)


def test_events_read_back_as_written_oldest_first(store: Store) -> None:
    """Events added out of time order come back oldest first, every field intact."""
    later = event(20, "token.revoked")
    earlier = event(10, "fraud.released", detail="+44791", actor="api")
    store.add_admin_event(later)
    store.add_admin_event(earlier)
    assert store.admin_events() == [earlier, later]


def test_events_of_the_same_time_keep_the_order_they_were_added(store: Store) -> None:
    """Two events at the same instant are listed in the order they were added."""
    first, second = event(5, "token.created"), event(5, "token.rotated")
    store.add_admin_event(first)
    store.add_admin_event(second)
    assert store.admin_events() == [first, second]


def test_since_keeps_the_events_at_or_after_it(store: Store) -> None:
    """``since`` drops older events and keeps the one exactly at it."""
    for at in (0, 10, 20):
        store.add_admin_event(event(at))
    assert [e.at - T0 for e in store.admin_events(since=T0 + 10)] == [10, 20]


def test_events_filter_keeps_only_the_kinds_asked_for(store: Store) -> None:
    """``events`` keeps the kinds named, combined with ``since``."""
    store.add_admin_event(event(0, "token.revoked"))
    store.add_admin_event(event(10, "token.created"))
    store.add_admin_event(event(20, "token.revoked"))
    store.add_admin_event(event(30, "fraud.released"))
    found = store.admin_events(since=T0 + 5, events=["token.revoked", "fraud.released"])
    assert [(e.at - T0, e.event) for e in found] == [(20, "token.revoked"),
                                                     (30, "fraud.released")]


def test_purge_deletes_only_events_older_than_the_cutoff(store: Store) -> None:
    """Purging before T deletes the older events, counts them, keeps the one at T."""
    for at in (0, 10, 20):
        store.add_admin_event(event(at))
    assert store.purge_admin_events(T0 + 10) == 1
    assert [e.at - T0 for e in store.admin_events()] == [10, 20]
