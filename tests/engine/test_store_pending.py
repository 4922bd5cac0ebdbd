"""Codes that were never sent, on every backend: a code that goes live supersedes them like
live ones (one code per token and phone validates at any time), and an activation that
comes late still tells its callback."""

from __future__ import annotations

from dataclasses import replace

from store_records import NOW, TOKEN_ID, UK, new_code

from tfa_engine.store import Store

URL = "https://client.example/hook"


def test_a_code_going_live_supersedes_an_older_code_never_sent(store: Store) -> None:
    """A pending code (its sender died mid-send) dies when a newer code of the phone goes
    live: it no longer validates."""
    left = store.insert_code(new_code("left-pending"))
    newer = store.insert_code(new_code("newer"))
    assert store.activate_code(newer, NOW).state == "live"
    record = store.find_code(TOKEN_ID, "left-pending")
    assert record is not None and record.state == "superseded"
    assert not record.is_live(NOW)
    assert store.consume_code(left, NOW, 5) is False


def test_a_code_of_another_phone_or_token_is_not_superseded(store: Store) -> None:
    """Supersession is per (token, phone)."""
    other_phone = store.insert_code(new_code("other-phone", phone="+447911654321"))
    other_token = store.insert_code(new_code("other-token", token_id="tok_b"))
    store.activate_code(store.insert_code(new_code("mine")), NOW)
    assert store.consume_code(other_phone, NOW, 5)
    assert store.consume_code(other_token, NOW, 5)


def test_an_older_code_activated_late_is_born_superseded_and_tells_its_callback(
    store: Store,
) -> None:
    """The older of two racing sends, accepted by the gateway after the newer went live,
    does not validate; its INTERNAL callback is still queued, once."""
    older = store.insert_code(replace(new_code("older"), callback_url=URL))
    newer = store.insert_code(new_code("newer"))
    assert store.activate_code(newer, NOW).state == "live"
    assert store.activate_code(older, NOW + 1).state == "superseded"
    assert store.activate_code(older, NOW + 2).state == "superseded"  # repeated: nothing more
    message_id = store.find_code(TOKEN_ID, "older").message_id  # type: ignore[union-attr]
    assert store.callback_states(message_id) == [("pending", 0)]
    assert store.consume_code(older, NOW + 3, 5) is False


def test_a_code_validated_before_the_gateway_answered_tells_its_callback(store: Store) -> None:
    """A code typed in while its send was still under way stays used on activation, and
    its INTERNAL callback is queued all the same."""
    code_id = store.insert_code(replace(new_code("quick"), callback_url=URL))
    assert store.consume_code(code_id, NOW, 5)
    assert store.activate_code(code_id, NOW + 1).state == "used"
    record = store.find_code(TOKEN_ID, "quick")
    assert record is not None and record.sent_at == NOW + 1
    assert store.callback_states(record.message_id) == [("pending", 0)]


def test_a_superseded_code_never_sent_frees_its_client_ref_once_stale(store: Store) -> None:
    """The client_ref of a code left by a dead sender and superseded since comes free once
    its sender's deadline has passed, like one still pending."""
    store.insert_code(new_code("left"))
    store.activate_code(store.insert_code(new_code("newer")), NOW)
    assert store.client_ref_taken(TOKEN_ID, "left", stale_before=NOW - 1)
    assert not store.client_ref_taken(TOKEN_ID, "left", stale_before=NOW)
    replacement = store.insert_code(new_code("left"), stale_before=NOW)
    assert store.activate_code(replacement, NOW).state == "live"


def test_purge_removes_codes_never_sent_once_expired(store: Store) -> None:
    """Pending and superseded codes that were never sent go at their expiry."""
    store.insert_code(new_code("left"))
    store.activate_code(store.insert_code(new_code("newer", phone=UK)), NOW)
    assert store.purge(NOW + 301, retention=7 * 86400) == 1
    assert store.find_code(TOKEN_ID, "left") is None
    assert store.find_code(TOKEN_ID, "newer") is not None


def test_an_activation_tells_a_report_that_came_before_it_once(store: Store) -> None:
    """A delivery report stored while the code was still being sent names no gateway; the
    activation returns its status (so that it is counted under the gateway), and a
    repeated activation returns none."""
    code = new_code("early")
    code_id = store.insert_code(code)
    message_id = code.message_id
    recorded = store.record_delivery(message_id, "UNDELIV", NOW)
    assert recorded is not None and recorded.gateway is None
    first = store.activate_code(code_id, NOW + 1, "eu", "smsc-1")
    assert (first.state, first.reported) == ("live", "UNDELIV")
    assert store.activate_code(code_id, NOW + 2, "eu", "smsc-1").reported is None
