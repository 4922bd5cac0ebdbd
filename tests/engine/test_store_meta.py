"""The database's named values (the pepper's fingerprint lives there), on every backend:
the first value settled wins, also when several connections settle at once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from tfa_engine.store import Store
from tfa_engine.store._meta import MetaStore

RACERS = 8


def meta(store: Store) -> MetaStore:
    """The store as the MetaStore every backend is."""
    assert isinstance(store, MetaStore)
    return store


def test_the_first_value_settled_is_kept(store: Store) -> None:
    """A second settle with another value gets the first one back, and changes nothing."""
    assert meta(store).settle_meta("pepper", "first") == "first"
    assert meta(store).settle_meta("pepper", "second") == "first"
    assert meta(store).read_meta("pepper") == "first"


def test_settles_at_once_all_get_the_winners_value(store: Store) -> None:
    """8 threads (8 connections on SQL backends) settle 8 values at the same moment: all
    get one and the same value back, the one recorded."""
    start = threading.Barrier(RACERS)

    def settle(number: int) -> str:
        start.wait(timeout=10)
        return meta(store).settle_meta("pepper", f"value-{number}")

    with ThreadPoolExecutor(RACERS) as pool:
        got = list(pool.map(settle, range(RACERS)))
    assert len(set(got)) == 1
    assert got[0] == meta(store).read_meta("pepper")


def test_replace_returns_what_it_replaced(store: Store) -> None:
    """Replacing gives the earlier value (None at first) and records the new one."""
    assert meta(store).replace_meta("pepper", "a") is None
    assert meta(store).replace_meta("pepper", "b") == "a"
    assert meta(store).read_meta("pepper") == "b"


def test_an_unknown_name_reads_none(store: Store) -> None:
    """Nothing recorded under a name: None."""
    assert meta(store).read_meta("nothing-here") is None
