"""The gateway bulkhead: at most ``slots`` sends wait on the gateway at once, a send that
finds none free is refused without reaching it, and every slot comes back however its
send ended. Gateways here block on events, so no test depends on timing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tfa_engine import Engine, EngineConfig, MemoryGateway, SQLiteStore, catalogue
from tfa_engine.gateways import GatewayError, SmsMessage
from tfa_engine.gateways._resilience import Bulkhead, CircuitBreaker, SlotsBusy

BOUND = 10.0  # seconds any wait of these tests may last before it counts as a failure
UK_MOBILE = "+447911123456"


class BlockingGateway(MemoryGateway):
    """Holds every send until ``release`` is set, then ends it with ``outcome`` (raised
    when set, else the message is kept)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.outcome: BaseException | None = None
        self._entered = threading.Semaphore(0)

    def send(self, message: SmsMessage) -> None:
        self._entered.release()
        assert self.release.wait(BOUND), "the test never released the gateway"
        if self.outcome is not None:
            raise self.outcome
        super().send(message)

    def wait_entered(self, count: int) -> None:
        """Return once ``count`` more sends are inside the gateway."""
        for _ in range(count):
            assert self._entered.acquire(timeout=BOUND), "a send never reached the gateway"


class Sender(threading.Thread):
    """One ``send`` in a thread of its own; what it raised is kept."""

    def __init__(self, send: Callable[[SmsMessage], None], number: int) -> None:
        super().__init__(daemon=True)
        self._send = send
        self.message = message(number)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._send(self.message)
        except BaseException as exc:  # kept for the test to look at
            self.error = exc

    def finish(self) -> BaseException | None:
        """Wait for the send to end; what it raised."""
        self.join(BOUND)
        assert not self.is_alive(), "a send never ended"
        return self.error


def message(number: int) -> SmsMessage:
    """An SMS of its own."""
    return SmsMessage(f"{number:020d}", UK_MOBILE, "TFA", f"Your code is: {number:06d}")


def holding(bulkhead: Bulkhead, gateway: BlockingGateway, count: int) -> list[Sender]:
    """``count`` sends started and held inside the gateway."""
    senders = [Sender(bulkhead.send, number) for number in range(count)]
    for sender in senders:
        sender.start()
    gateway.wait_entered(count)
    return senders


def test_sends_up_to_the_slots_wait_on_the_gateway_together() -> None:
    """Three slots: three sends are inside the gateway at once, each holding a slot."""
    gateway = BlockingGateway()
    bulkhead = Bulkhead(gateway, 3, wait=0)
    senders = holding(bulkhead, gateway, 3)
    assert bulkhead.busy == 3
    gateway.release.set()
    assert [sender.finish() for sender in senders] == [None] * 3
    assert len(gateway.messages) == 3


def test_send_finding_every_slot_taken_is_refused_without_reaching_the_gateway() -> None:
    """With both slots held, the next send raises a GatewayError that says nothing left."""
    gateway = BlockingGateway()
    bulkhead = Bulkhead(gateway, 2, wait=0, name="mediariver")
    senders = holding(bulkhead, gateway, 2)
    with pytest.raises(SlotsBusy) as refused:
        bulkhead.send(message(99))
    assert isinstance(refused.value, GatewayError)
    assert refused.value.maybe_sent is False
    assert refused.value.reason.startswith("mediariver: no gateway slot free")
    assert gateway.attempts == 0  # the two held sends have not reached MemoryGateway.send
    gateway.release.set()
    assert [sender.finish() for sender in senders] == [None, None]
    assert {m.message_id for m in gateway.messages} == {s.message.message_id for s in senders}


def test_waiting_send_takes_the_slot_freed_meanwhile() -> None:
    """A send waiting for the one slot goes through once the send holding it ends."""
    gateway = BlockingGateway()
    bulkhead = Bulkhead(gateway, 1, wait=BOUND)
    (first,) = holding(bulkhead, gateway, 1)
    second = Sender(bulkhead.send, 2)
    second.start()
    deadline = time.monotonic() + BOUND
    while bulkhead.waiting < 1:  # polled, bounded: the second send is queued for the slot
        assert time.monotonic() < deadline, "the second send never waited for a slot"
        time.sleep(0.001)
    gateway.release.set()
    assert (first.finish(), second.finish()) == (None, None)
    assert len(gateway.messages) == 2


@pytest.mark.parametrize(
    ("outcome", "sent"),
    [
        pytest.param(None, 2, id="success"),
        pytest.param(GatewayError("HTTP 503", maybe_sent=True), 1, id="gateway-error"),
        pytest.param(RuntimeError("bug in a gateway"), 1, id="any-exception"),
    ],
)
def test_slot_is_released_whatever_the_send_ended_in(
    outcome: BaseException | None, sent: int
) -> None:
    """A send that held the only slot ends as it ended (a failure passed on) and frees
    the slot: the next send gets it."""
    gateway = BlockingGateway()
    bulkhead = Bulkhead(gateway, 1, wait=0)
    (sender,) = holding(bulkhead, gateway, 1)
    gateway.outcome = outcome
    gateway.release.set()
    assert sender.finish() is outcome
    gateway.outcome = None
    bulkhead.send(message(2))
    assert (len(gateway.messages), bulkhead.busy) == (sent, 0)


def test_refused_sends_leave_the_breaker_inside_closed() -> None:
    """Refusals for want of a slot never reach the breaker behind the bulkhead: it stays
    closed, however many there are."""
    gateway = BlockingGateway()
    breaker = CircuitBreaker(gateway, failures=1, pause=30)
    bulkhead = Bulkhead(breaker, 1, wait=0)
    (sender,) = holding(bulkhead, gateway, 1)
    for number in range(5):
        with pytest.raises(SlotsBusy):
            bulkhead.send(message(10 + number))
    assert not breaker.is_open
    gateway.release.set()
    assert sender.finish() is None


def test_sends_failing_inside_the_bulkhead_still_open_the_breaker() -> None:
    """Sends that got a slot and failed at the gateway count: the breaker opens."""
    gateway = MemoryGateway()
    gateway.failure = GatewayError("no answer", maybe_sent=True)
    breaker = CircuitBreaker(gateway, failures=2, pause=30)
    bulkhead = Bulkhead(breaker, 4, wait=0)
    for number in range(2):
        with pytest.raises(GatewayError):
            bulkhead.send(message(number))
    assert breaker.is_open


def test_deadline_covers_the_wait_and_the_gateway() -> None:
    """A send through the bulkhead may take its wait for a slot plus the gateway's own
    deadline (the engine treats codes pending longer as abandoned)."""
    gateway = MemoryGateway()
    gateway.deadline = 10.0
    assert Bulkhead(gateway, 4, wait=0.5).deadline == 10.5


@pytest.mark.parametrize(("slots", "wait"), [(0, 0.1), (4, -1.0)])
def test_bulkhead_needs_a_slot_and_a_wait_not_below_zero(slots: int, wait: float) -> None:
    """No slot at all, or a negative wait, is refused when the bulkhead is built."""
    with pytest.raises(ValueError, match="slots >= 1 and wait >= 0"):
        Bulkhead(MemoryGateway(), slots, wait=wait)


def test_engine_answers_system_error_and_frees_the_client_ref_when_no_slot_is_free(
    tmp_path: Path,
) -> None:
    """A request refused for want of a slot is -65; the same client_ref gets 201 once the
    slot is free."""
    gateway = BlockingGateway()
    store = SQLiteStore(tmp_path / "tfa.db")
    engine = Engine(store, Bulkhead(gateway, 1, wait=0), EngineConfig(argon2_profile="test"),
                    resolver=None)
    try:
        token = engine.create_token("shop").token

        def request(ref: str, phone: str) -> catalogue.Status:
            body = {"client_ref": ref, "phone_number": phone}
            return engine.request_code(token, "127.0.0.1", body).status

        held: list[catalogue.Status] = []
        holder = threading.Thread(
            target=lambda: held.append(request("held", "+447911123400")), daemon=True
        )
        holder.start()
        gateway.wait_entered(1)
        assert request("refused", UK_MOBILE) == catalogue.SYSTEM_ERROR
        gateway.release.set()
        holder.join(BOUND)
        assert held == [catalogue.SUCCESS]
        assert request("refused", UK_MOBILE) == catalogue.SUCCESS
    finally:
        engine.close()
