"""Crash at every step: each multi-step operation of the engine, killed before or after each
of its calls to the store, the gateway or the callback transport (tests/support/
crash_points.py; what outlives a crash is in crash_world.py), then recovered the way the
product recovers, keeps its invariants, on SQLite and on PostgreSQL (the memory store
forgets everything in a crash: nothing to check).

Recovery: a fresh engine (a restarted process: a new store object on the same database, the
gateway still holding what it accepted), the clock past what the scenario waits for (the
gateway's deadline and the pending margin, or a callback claim's lease), the retry of the
client (or of the gateway, for a report), then the background work: callback dispatch, purge.

:data:`STEPS` lists each operation's steps. The first test of each operation checks that it
completes without reaching step len + 1, so the list is the whole enumeration: a new store
call changes a figure of the table printed at the module's end and must be looked at. Every
step is then a crash point twice: before it, and after it (its write committed, its answer
lost).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from crash_points import GATEWAY_SEND, STATEMENT, TRANSPORT_POST, Plan, When
from crash_world import Databases, World
from fake_clock import FakeClock
from range_totals import CODES, TOTALS, assert_totals_are_the_codes

from tfa_engine import Engine, EngineConfig, catalogue
from tfa_engine._engine import PENDING_MARGIN
from tfa_engine.gateways import Gateway

CONFIG = EngineConfig(argon2_profile="test", callback_key="k" * 32)  # every control on
REF = "ref-1"
# A retried request-code comes once a code its sender left pending is stale.
STALE = Gateway.deadline + PENDING_MARGIN + 1


# -- the operations ------------------------------------------------------------------------
def with_token(world: World, engine: Engine) -> None:
    """A token to work with."""
    issued = engine.create_token("shop")
    world.token, world.token_id = issued.token, issued.record.id


def with_code(world: World, engine: Engine) -> None:
    """A code sent for REF, with a callback URL."""
    with_token(world, engine)
    assert world.request(engine, REF) is catalogue.SUCCESS


def with_failures(world: World, engine: Engine) -> None:
    """A code one wrong attempt away from being locked."""
    with_code(world, engine)
    for _ in range(CONFIG.max_attempts - 1):
        assert world.validate(engine, REF, wrong(world)) is catalogue.DECLINED


def with_report(world: World, engine: Engine) -> None:
    """A code sent, and its delivery report: two callbacks queued."""
    with_code(world, engine)
    world.report(engine, world.sent[-1].message_id)


def with_history(world: World, engine: Engine) -> None:
    """Codes past retention (one validated, one reported and called back), a code its
    sender left pending that has expired, and a fresh code."""
    with_token(world, engine)
    assert world.request(engine, "old-used") is catalogue.SUCCESS
    assert world.validate(engine, "old-used", world.code_of(world.sms[-1])) is catalogue.VALID
    assert world.request(engine, "old-live") is catalogue.SUCCESS
    world.report(engine, world.sent[-1].message_id)
    world.background(engine)
    world.clock.advance(CONFIG.retention + CONFIG.code_ttl)
    dying = Plan()
    sender = world.engine(dying)
    dying.arm(GATEWAY_SEND, "before")
    assert world.run(sender, dying, lambda: world.request(sender, "abandoned")) is not None
    world.clock.advance(CONFIG.code_ttl + 1)
    assert world.request(engine, "fresh") is catalogue.SUCCESS


def wrong(world: World) -> str:
    """A code that is not the one the phone got."""
    code = world.code_of(world.sms[0])
    return code[:-1] + str((int(code[-1]) + 1) % 10)


def ask_again(world: World, engine: Engine) -> None:
    """The client retries its request-code (same client_ref)."""
    status = world.request(engine, REF)
    assert status in (catalogue.SUCCESS, catalogue.CLIENT_REF_EXISTS), status.name


def ask_anew(world: World, engine: Engine) -> None:
    """The client asks again under a new client_ref, as clients that make one per
    attempt do."""
    assert world.request(engine, "ref-2") is catalogue.SUCCESS


@dataclass(frozen=True)
class Operation:
    """An operation: what comes before it, itself, what is retried after a crash (by the
    client, or the gateway for a report), how long recovery waits, whether it may use the
    code up, and whether the writes a store call commits one by one are steps too."""

    setup: Callable[[World, Engine], None]
    act: Callable[[World, Engine], object]
    retry: Callable[[World, Engine], object]
    pause: float = 1.0
    consumes: bool = False
    statements: bool = False
    overtake: bool = False


OPERATIONS = {
    "request-code": Operation(with_token, lambda w, e: w.request(e, REF), ask_again, STALE),
    "request-code-new-ref": Operation(with_token, lambda w, e: w.request(e, REF), ask_anew,
                                      STALE),
    # The activation queueing both callbacks: a delivery report came before the gateway's
    # answer (another process took it), as it does from fast networks.
    "activation": Operation(with_token, lambda w, e: w.request(e, REF), ask_again, STALE,
                            overtake=True),
    "validate-right": Operation(
        with_code, lambda w, e: w.validate(e, REF, w.code_of(w.sms[0])),
        lambda w, e: w.validate(e, REF, w.code_of(w.sms[0])), consumes=True),
    "validate-wrong": Operation(
        with_failures, lambda w, e: w.validate(e, REF, wrong(w)),
        lambda w, e: w.validate(e, REF, wrong(w)), consumes=True),
    "delivery-report": Operation(
        with_code, lambda w, e: w.report(e, w.sent[-1].message_id),
        lambda w, e: w.report(e, w.sent[-1].message_id)),
    "callback-dispatch": Operation(
        with_report, lambda w, e: e.callbacks.run_once(), lambda w, e: None,
        pause=CONFIG.callback_lease + 1),
    "purge": Operation(with_history, lambda w, e: e.purge(), lambda w, e: None,
                       statements=True),
}
SEND = ("token_by_digest", "touch_token", "take", "preview_send", "admit_code", GATEWAY_SEND,
        "activate_code")
CHECK = ("look_up_validation",)
POST = ("renew_callback", TRANSPORT_POST, "callback_delivered")
STEPS: dict[str, tuple[str, ...]] = {
    "request-code": SEND,
    "request-code-new-ref": SEND,
    "activation": SEND,
    "validate-right": (*CHECK, "consume_code"),
    "validate-wrong": (*CHECK, "count_failure"),
    "delivery-report": ("record_delivery",),
    "callback-dispatch": ("claim_callbacks", *POST, *POST),
    "purge": ("purge", *[STATEMENT] * 7, "purge_admin_events", STATEMENT),
}


class UncountedFailure(AssertionError):
    """A wrong attempt recorded on a code that the phone's failure limit never counted."""


# -- running one ---------------------------------------------------------------------------
def start(world: World, name: str) -> tuple[Engine, Plan]:
    """The process that will run the operation, after the operation's setup."""
    operation = OPERATIONS[name]
    world.reports_overtake = operation.overtake
    plan = Plan()
    engine = world.engine(plan, statements=operation.statements)
    operation.setup(world, engine)
    world.valid = 0
    return engine, plan


def crash_and_recover(
    world: World, name: str, at: int | None, when: When
) -> tuple[str | None, Engine]:
    """Run the operation crashing at the point (None: never), then recover; where it
    crashed, and the process that recovered."""
    operation = OPERATIONS[name]
    engine, plan = start(world, name)
    plan.arm(at, when)
    crashed_at = world.run(engine, plan, lambda: operation.act(world, engine))
    world.clock.advance(operation.pause)
    recovered = world.engine()
    assert_client_refs_settled(world, recovered)
    operation.retry(world, recovered)
    world.background(recovered)
    return crashed_at, recovered


# -- the invariants ------------------------------------------------------------------------
def assert_client_refs_settled(world: World, engine: Engine) -> None:
    """Each client_ref is free or holds a code whose SMS may have left; a code whose SMS
    never left is only one its dead sender left pending (or a newer code superseded) that
    has gone stale, which a retry of the client_ref replaces."""
    accepted = {message.message_id for message in world.sms}
    stale_before = world.clock() - engine.gateway.deadline - PENDING_MARGIN
    for ref in world.refs:
        record = engine.store.find_code(world.token_id, ref)
        if record is None or record.message_id in accepted:
            continue
        assert record.state in ("pending", "superseded"), (ref, record.state)
        assert record.sent_at is None, ref
        assert not engine.store.client_ref_taken(world.token_id, ref, stale_before), ref


def assert_no_201_without_a_code(world: World, engine: Engine) -> None:
    """Every 201 a client got names a code that is stored, was activated and went out by
    SMS (unless it expired past retention and was purged)."""
    accepted = {message.message_id for message in world.sms}
    for sent in world.sent:
        if sent.at + CONFIG.code_ttl + CONFIG.retention <= world.clock():
            continue
        record = engine.store.find_code(world.token_id, sent.client_ref)
        assert record is not None, sent
        assert (record.message_id, record.sent_at is not None) == (sent.message_id, True)
        assert sent.message_id in accepted


def assert_attempts_capped(world: World) -> None:
    """No code records more wrong attempts than the cap."""
    attempts = [row[0] for row in world.database.rows("SELECT attempts FROM codes")]
    assert all(count <= CONFIG.max_attempts for count in attempts), attempts


def assert_callbacks_posted(world: World) -> None:
    """Every callback is posted at least once, never twice by a dispatcher that lived on
    (one that died after its post, before marking it, may have posted it once more), and
    only for a code whose SMS left: INTERNAL for each code activated, SMS for its report."""
    rows = world.database.rows("SELECT message_id, kind, status, state FROM outbox")
    assert {row[3] for row in rows} <= {"delivered"}, rows
    due = {(row[0], row[1], row[2]) for row in rows}
    for message_id, reported in world.database.rows(
        "SELECT message_id, delivery_status FROM codes"
        " WHERE callback_url IS NOT NULL AND sent_at IS NOT NULL"
    ):
        due.add((message_id, "INTERNAL", "ACCEPTD"))
        if reported is not None:
            due.add((message_id, "SMS", reported))
    posted: Counter[tuple[str, str, str]] = Counter()
    live: Counter[tuple[str, str, str]] = Counter()
    for post in world.posts:
        data = json.loads(post.body)["data"][0]
        event = (data["message_id"], data["type"], data["status"])
        posted[event] += 1
        live[event] += post.poster not in world.dead
    assert due <= set(posted), due - set(posted)
    assert max(live.values(), default=0) <= 1, live
    assert {event[0] for event in posted} <= {message.message_id for message in world.sms}


def assert_one_valid_code(world: World, engine: Engine, *, exactly: bool) -> None:
    """At most one code of the phone validates — each code it received is tried under each
    client_ref used — and one does when the operation could not use it up."""
    for ref in world.refs:
        for message in world.sms:
            world.validate(engine, ref, world.code_of(message))
    assert (world.valid == 1) if exactly else (world.valid <= 1), world.valid


def assert_counters_count_committed_events(world: World) -> None:
    """Each limit counter counts exactly the events committed: the token's budget each
    stored code, once its admission committed (a crash before leaves nothing counted; after,
    the code counts, whether or not its SMS then left; the phone's sends are counted from
    the stored codes themselves); the token's requests each committed take, consume_code
    and count_failure; the phone's wrong attempts each committed count_failure that
    recorded one; the counters a committed purge found past their window are gone."""
    expected: dict[str, tuple[int, float]] = {}

    def count(key: str, ends_at: float) -> None:
        expected[key] = (expected.get(key, (0, 0.0))[0] + 1, ends_at)

    for call in world.ledger:
        if call.name == "admit_code" and call.result.code_id is not None:
            code = call.args[0]
            # The phone's sends are counted from its codes (nothing else to keep in step).
            count(f"sms-token:{code.token_id}", code.created_at + CONFIG.limit_token_sms.seconds)
        elif call.name == "take" and call.result is None:
            key, _, seconds, now = call.args
            count(key, now + seconds)
        elif call.name in ("consume_code", "count_failure"):
            # The request is counted with the validation's write, whatever the code's state.
            _, now, _, *limits = call.args
            request = limits[-1]
            if request is not None:
                count(request.key, now + request.seconds)
            failures = limits[0] if call.name == "count_failure" else None
            if failures is not None and call.result is not None:
                count(failures.key, now + failures.seconds)
        elif call.name == "purge":
            expected = {key: kept for key, kept in expected.items() if kept[1] > call.args[0]}
    stored = dict(world.database.rows("SELECT key, taken FROM rate_heads"))
    assert stored == {key: taken for key, (taken, _) in expected.items()}


def assert_wrong_attempts_counted_for_the_phone(world: World) -> None:
    """The phone's failure limit counts every wrong attempt its codes recorded (it may
    count one more whose answer was lost, never one less; every scenario's attempts fall
    within one window of the limit)."""
    attempts = sum(row[0] for row in world.database.rows("SELECT attempts FROM codes"))
    key = f"phone-failures:{world.token_id}:{world.phone}"
    taken = dict(world.database.rows("SELECT key, taken FROM rate_heads")).get(key, 0)
    if taken < attempts:
        raise UncountedFailure(f"{attempts} wrong attempts recorded, {taken} counted")


def assert_range_totals_are_the_codes(world: World) -> None:
    """The fraud guard's running totals per (token, range, slice) are what counting the
    stored codes says."""
    assert_totals_are_the_codes(world.database.rows(TOTALS), world.database.rows(CODES))


def assert_purge_as_if_uninterrupted(world: World, uninterrupted: list[Any]) -> None:
    """A purge crashed anywhere and run again leaves what one uninterrupted purge leaves."""
    assert end_state(world) == uninterrupted


def purged_without_crash(world: World) -> list[Any]:
    """The end state of the purge scenario run without a crash."""
    assert crash_and_recover(world, "purge", None, "before")[0] is None
    return end_state(world)


def end_state(world: World) -> list[list[tuple[Any, ...]]]:
    """What a purge may change, without the random message_ids and token id."""

    def plain(value: Any) -> Any:
        return value.replace(world.token_id, "TOKEN") if isinstance(value, str) else value

    return [sorted(tuple(map(plain, row)) for row in world.database.rows(sql)) for sql in (
        "SELECT client_ref, state, attempts, sent_at FROM codes",
        "SELECT kind, status, state FROM outbox",
        "SELECT key, taken, ends_at FROM rate_heads",
        "SELECT key, slot, at FROM rate_slots",
        "SELECT event, token_id FROM admin_events",
        TOTALS,
    )]


# -- the tests -----------------------------------------------------------------------------
@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """The backends a crash leaves something on."""
    return str(request.param)


@pytest.fixture(scope="module")
def databases(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    """Fresh databases of ``backend``, all removed at the end."""
    made = Databases(backend, tmp_path_factory.mktemp(f"crash-{backend}"))
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def worlds(databases: Databases) -> Iterator[Callable[[], World]]:
    """Make worlds, each on a fresh database; every process is stopped afterwards."""
    made: list[World] = []

    def world() -> World:
        made.append(World(databases.take(), FakeClock(), CONFIG))
        return made[-1]

    try:
        yield world
    finally:
        for each in made:
            each.close()
            databases.release(each.database)


@pytest.fixture(scope="module")
def references() -> dict[str, list[Any]]:
    """The end states of uninterrupted runs, per backend (each made once: they are the
    same on every run, the clock being fake)."""
    return {}


@pytest.fixture(scope="module")
def figures(request: pytest.FixtureRequest) -> Iterator[dict[tuple[str, str], int]]:
    """The crash points enumerated per operation and backend, printed at the end."""
    table: dict[tuple[str, str], int] = {}
    yield table
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is None or capture is None or not table:
        return
    with capture.global_and_fixture_disabled():  # printed even where output is captured
        reporter.write_line("")
        reporter.write_line(f"{'crash points':<20}{'sqlite':>8}{'postgres':>10}  steps")
        for name, steps in STEPS.items():
            row = [str(table.get((name, kind), "-")) for kind in ("sqlite", "postgres")]
            reporter.write_line(f"{name:<20}{row[0]:>8}{row[1]:>10}  {', '.join(steps)}")


@pytest.mark.parametrize("name", list(STEPS))
def test_the_listed_steps_are_every_crash_point(
    name: str, backend: str, worlds: Callable[[], World], figures: dict[tuple[str, str], int]
) -> None:
    """The operation completes without reaching the step after its listed ones."""
    world = worlds()
    engine, plan = start(world, name)
    plan.arm(len(STEPS[name]) + 1)
    assert world.run(engine, plan, lambda: OPERATIONS[name].act(world, engine)) is None
    figures[(name, backend)] = 2 * len(plan.steps)
    assert tuple(plan.steps) == STEPS[name]


@pytest.mark.parametrize(("name", "at", "when", "step"), [
    pytest.param(name, at, when, step, id=f"{name}-{when}-{at}-{step}")
    for name, steps in STEPS.items()
    for at, step in enumerate(steps, 1)
    for when in ("before", "after")
])
def test_a_crash_keeps_the_invariants(
    name: str, at: int, when: When, step: str, backend: str, worlds: Callable[[], World],
    references: dict[str, list[Any]],
) -> None:
    """Crashed before or after one step, then recovered, the operation keeps every invariant."""
    world = worlds()
    crashed_at, engine = crash_and_recover(world, name, at, when)
    assert crashed_at == f"{when} {step}"
    assert_client_refs_settled(world, engine)
    assert_no_201_without_a_code(world, engine)
    assert_attempts_capped(world)
    assert_callbacks_posted(world)
    if name == "purge":
        if backend not in references:
            references[backend] = purged_without_crash(worlds())
        assert_purge_as_if_uninterrupted(world, references[backend])
    assert_one_valid_code(world, engine, exactly=not OPERATIONS[name].consumes)
    assert_attempts_capped(world)
    assert_counters_count_committed_events(world)
    assert_wrong_attempts_counted_for_the_phone(world)
    assert_range_totals_are_the_codes(world)
