"""An engine sending through the smpp gateway to node-smpp's SMSC: the answers a client
gets, and the SMSC's receipts recorded on the codes through the engine's delivery desk."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fake_clock import FakeClock
from smsc_node import Smsc, wait_for

from tfa_engine import Engine, EngineConfig, SQLiteStore, catalogue
from tfa_engine.gateways.smpp import SmppGateway

pytestmark = pytest.mark.network

MakeSmpp = Callable[..., SmppGateway]  # the make_smpp fixture (conftest.py)
PHONE = "+447911123456"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    """A SQLite store on a real file."""
    backend = SQLiteStore(tmp_path / "tfa.db")
    try:
        yield backend
    finally:
        backend.close()


@pytest.fixture
def make_engine(store: SQLiteStore, clock: FakeClock,
                make_smpp: MakeSmpp) -> Iterator[Callable[..., Engine]]:
    """Engines on ``store`` sending through an smpp gateway made with the options given."""
    made: list[Engine] = []

    def build(**options: object) -> Engine:
        engine = Engine(store, make_smpp(**options), EngineConfig(argon2_profile="test"),
                        clock=clock, resolver=None)
        made.append(engine)
        return engine

    try:
        yield build
    finally:
        for engine in made:
            engine.close()


def request(engine: Engine, token: str, client_ref: str) -> catalogue.Status:
    outcome = engine.request_code(token, "127.0.0.1",
                                  {"client_ref": client_ref, "phone_number": PHONE})
    return outcome.status


def test_a_code_goes_out_as_one_submit_sm(smsc: Smsc, make_engine: Callable[..., Engine],
                                          store: SQLiteStore) -> None:
    """A code request answers success, the SMSC got its SMS, and the code remembers the
    SMSC's message id."""
    engine = make_engine()
    issued = engine.create_token("shop")
    assert request(engine, issued.token, "r1") is catalogue.SUCCESS
    (got,) = smsc.submits()
    record = store.find_code(issued.record.id, "r1")
    assert record is not None
    assert (record.gateway, record.provider_id) == ("smpp", got["answer"]["message_id"])
    assert got["destination_addr"] == "447911123456" and got["text"].startswith("Your")


def test_a_silent_smsc_gives_65_within_the_deadline_and_frees_the_client_ref(
    smsc: Smsc, make_engine: Callable[..., Engine]
) -> None:
    """An SMSC that never answers submit_sm: -65 by the deadline (1 s; 1 s of slack for
    hashing and a loaded machine), and the same client_ref is taken again afterwards."""
    engine = make_engine(deadline=1.0)
    issued = engine.create_token("shop")
    engine.gateway.check()
    smsc.behave(delay_ms=-1)
    started = time.monotonic()
    status = request(engine, issued.token, "r1")
    assert status is catalogue.SYSTEM_ERROR and status.code == -65
    assert time.monotonic() - started < 2.0
    smsc.behave(delay_ms=0)
    assert request(engine, issued.token, "r1") is catalogue.SUCCESS


def test_a_delivrd_receipt_is_recorded_on_the_code(
    smsc: Smsc, make_engine: Callable[..., Engine], store: SQLiteStore
) -> None:
    """A DELIVRD receipt from the SMSC becomes the code's delivery status."""
    engine = make_engine()
    issued = engine.create_token("shop")
    request(engine, issued.token, "r1")
    (got,) = smsc.submits()
    smsc.receipt(got["answer"]["message_id"], "DELIVRD")

    def status() -> str | None:
        record = store.find_code(issued.record.id, "r1")
        return None if record is None else record.delivery_status

    assert wait_for(status) == "DELIVRD"
    assert smsc.state()["receipt_answers"] == [0]


def test_a_receipt_ahead_of_the_activation_is_kept_and_recorded(
    smsc: Smsc, make_engine: Callable[..., Engine], store: SQLiteStore
) -> None:
    """A receipt the SMSC sends before its submit_sm_resp (so before the code stored the
    SMSC's id) is parked by the desk and recorded on its next try."""
    engine = make_engine()
    issued = engine.create_token("shop")
    smsc.behave(receipt="UNDELIV", receipt_first=True)
    assert request(engine, issued.token, "r1") is catalogue.SUCCESS
    record = store.find_code(issued.record.id, "r1")
    assert record is not None and record.delivery_status is None
    assert engine.deliveries.parked == 1
    assert engine.deliveries.retry_parked() == 1
    record = store.find_code(issued.record.id, "r1")
    assert record is not None and record.delivery_status == "UNDELIV"
