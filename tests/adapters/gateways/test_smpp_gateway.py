"""The smpp gateway against an SMSC that is not ours (node-smpp's server): what the SMSC
decodes from our PDUs, how binds, refusals, silence and drops end a send, and where the
SMSC's receipts go. What was sent is always read back from the SMSC."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from smsc_node import PASSWORD, SYSTEM_ID, Smsc, running_smsc, self_signed, wait_for

from tfa_engine.gateways import DeliveryReport, GatewayError, SmsMessage
from tfa_engine.gateways.smpp import SmppGateway

MakeSmpp = Callable[..., SmppGateway]  # the make_smpp fixture (conftest.py)

pytestmark = pytest.mark.network

PHONE = "+447911123456"
TRY_LATER = 0x64  # ESME_RX_T_APPN


def sms(text: str = "Your code is 123456", sender: str = "TFA", n: int = 1) -> SmsMessage:
    return SmsMessage(f"{n:020d}", PHONE, sender, text)


def test_gsm_text_goes_as_septets_with_euro_escaped(smsc: Smsc, make_smpp: MakeSmpp) -> None:
    """A GSM 03.38 text goes as data_coding 0, one septet a byte, € as 1B 65."""
    make_smpp().send(sms("Code 12 €@"))
    (got,) = smsc.submits()
    assert (got["data_coding"], got["short_message_hex"], got["text"]) == (
        0, "436f6465203132201b6500", "Code 12 €@")


def test_other_text_goes_as_ucs2(smsc: Smsc, make_smpp: MakeSmpp) -> None:
    """A text outside GSM 03.38 (Cyrillic) goes as UCS-2 big-endian, data_coding 8."""
    make_smpp().send(sms("Код 42"))
    (got,) = smsc.submits()
    assert (got["data_coding"], got["short_message_hex"], got["text"]) == (
        8, "041a043e0434002000340032", "Код 42")


def test_alphanumeric_sender_and_recipient_addresses(smsc: Smsc, make_smpp: MakeSmpp) -> None:
    """An alphanumeric sender is TON 5/NPI 0; the recipient TON 1/NPI 1 without '+';
    a receipt is asked for."""
    make_smpp().send(sms(sender="Shop 24"))
    (got,) = smsc.submits()
    assert got | {"answer": None, "text": None, "short_message_hex": None} == {
        "source_addr_ton": 5, "source_addr_npi": 0, "source_addr": "Shop 24",
        "dest_addr_ton": 1, "dest_addr_npi": 1, "destination_addr": "447911123456",
        "esm_class": 0, "registered_delivery": 1, "data_coding": 0,
        "answer": None, "text": None, "short_message_hex": None,
    }


def test_numeric_sender_is_international(smsc: Smsc, make_smpp: MakeSmpp) -> None:
    """A numeric sender goes as TON 1/NPI 1 without its '+'."""
    make_smpp().send(sms(sender="+4915112345"))
    (got,) = smsc.submits()
    assert (got["source_addr_ton"], got["source_addr_npi"], got["source_addr"]) == (
        1, 1, "4915112345")


def test_send_returns_the_smscs_message_id(smsc: Smsc, make_smpp: MakeSmpp) -> None:
    """Accepted names the gateway and the message_id of the submit_sm_resp."""
    gateway = make_smpp()
    gateway.name = "eu-smsc"
    accepted = gateway.send(sms())
    (got,) = smsc.submits()
    assert (accepted.gateway, accepted.provider_id) == ("eu-smsc", got["answer"]["message_id"])


def test_sends_share_one_transceiver_session(smsc: Smsc, make_smpp: MakeSmpp) -> None:
    """Several sends bind once, as a transceiver, with the system_type given."""
    gateway = make_smpp(system_type="OTP")
    for n in range(3):
        gateway.send(sms(n=n))
    assert smsc.binds() == [{"command": "bind_transceiver", "system_id": "tfa",
                             "system_type": "OTP", "accepted": True}]


def test_check_with_a_wrong_password_names_the_bind_status(
    smsc: Smsc, make_smpp: MakeSmpp
) -> None:
    """check() says in one line that the bind was refused, and why."""
    with pytest.raises(GatewayError) as raised:
        make_smpp(password="wrong").check()
    assert raised.value.reason == (f"SMPP bind to 127.0.0.1:{smsc.port} refused: "
                                   "ESME_RINVPASWD (wrong system_id or password)")


def test_check_binds_and_sends_nothing(smsc: Smsc, make_smpp: MakeSmpp) -> None:
    """check() passes with the right credentials, having bound and sent no SMS."""
    make_smpp().check()
    assert [bind["accepted"] for bind in smsc.binds()] == [True]
    assert smsc.submits() == []


def test_check_of_an_smsc_not_listening_says_so(free_port: int, make_smpp: MakeSmpp) -> None:
    """check() against a port nobody listens on names the address and the failure."""
    with pytest.raises(GatewayError) as raised:
        make_smpp(port=free_port).check()
    assert raised.value.reason == (f"SMPP bind to 127.0.0.1:{free_port} failed: "
                                   "connection refused")


def test_send_with_a_wrong_password_fails_naming_the_bind(
    smsc: Smsc, make_smpp: MakeSmpp
) -> None:
    """A send that cannot bind fails at once, not sent, with the bind's status."""
    with pytest.raises(GatewayError) as raised:
        make_smpp(password="wrong").send(sms())
    assert "ESME_RINVPASWD" in raised.value.reason and not raised.value.maybe_sent
    assert smsc.submits() == []


def test_throttled_twice_then_accepted(smsc: Smsc, make_smpp: MakeSmpp) -> None:
    """ESME_RTHROTTLED is tried again within the deadline until the SMSC takes it."""
    smsc.behave(throttle=2)
    accepted = make_smpp().send(sms())
    answers = [got["answer"] for got in smsc.submits()]
    assert [a["command_status"] for a in answers] == [0x58, 0x58, 0]
    assert accepted.provider_id == answers[-1]["message_id"]


def test_queue_full_is_tried_again(smsc: Smsc, make_smpp: MakeSmpp) -> None:
    """ESME_RMSGQFUL is tried again like throttling."""
    smsc.behave(queue_full=1)
    make_smpp().send(sms())
    assert [got["answer"]["command_status"] for got in smsc.submits()] == [0x14, 0]


def test_throttled_past_the_deadline_fails_not_sent(smsc: Smsc, make_smpp: MakeSmpp) -> None:
    """Throttling that lasts past the deadline fails the send, which was not taken."""
    smsc.behave(throttle=1000)
    with pytest.raises(GatewayError) as raised:
        make_smpp(deadline=1.0).send(sms())
    assert "ESME_RTHROTTLED" in raised.value.reason and not raised.value.maybe_sent


def test_refused_submit_fails_at_once(smsc: Smsc, make_smpp: MakeSmpp) -> None:
    """Any other error status fails the send after one submit_sm, naming the status."""
    smsc.behave(refuse="ESME_RSUBMITFAIL")
    with pytest.raises(GatewayError) as raised:
        make_smpp().send(sms())
    assert "ESME_RSUBMITFAIL" in raised.value.reason and not raised.value.maybe_sent
    assert len(smsc.submits()) == 1


def test_no_answer_fails_within_the_deadline_maybe_sent(
    smsc: Smsc, make_smpp: MakeSmpp
) -> None:
    """An SMSC that never answers the submit_sm fails the send by the deadline (1 s here;
    0.5 s of slack for a loaded machine), saying it may have been taken."""
    smsc.behave(delay_ms=-1)
    gateway = make_smpp(deadline=1.0)
    gateway.check()  # the bind is not what is timed
    started = time.monotonic()
    with pytest.raises(GatewayError) as raised:
        gateway.send(sms())
    assert time.monotonic() - started < 1.5
    assert raised.value.maybe_sent and "no submit_sm_resp" in raised.value.reason


def test_a_late_answer_is_not_taken_for_the_next_sends(smsc: Smsc, make_smpp: MakeSmpp) -> None:
    """A submit_sm_resp that comes after its send gave up, while the next send waits, is
    not taken for the next send's answer (answers are matched by sequence number)."""
    smsc.behave(delay_ms=700)
    gateway = make_smpp()
    with pytest.raises(GatewayError):
        gateway.send(SmsMessage("1", PHONE, "TFA", "Code 1", until=time.monotonic() + 0.3))
    smsc.behave(delay_ms=600)  # its answer comes after the first one's late answer
    accepted = gateway.send(sms(n=2))
    first, second = (got["answer"]["message_id"] for got in smsc.submits())
    assert accepted.provider_id == second != first


def test_dropped_session_is_bound_again_for_the_next_send(
    smsc: Smsc, make_smpp: MakeSmpp
) -> None:
    """After the SMSC drops the session, the next send binds again and is taken."""
    gateway = make_smpp()
    gateway.send(sms(n=1))
    assert smsc.drop() == 1
    wait_for(lambda: not gateway.bound)
    accepted = gateway.send(sms(n=2))
    assert accepted.provider_id == smsc.submits()[1]["answer"]["message_id"]
    assert [bind["accepted"] for bind in smsc.binds()] == [True, True]


def test_silent_session_sends_enquire_link(smsc: Smsc, make_smpp: MakeSmpp) -> None:
    """A session with nothing to say keeps itself alive with enquire_link."""
    gateway = make_smpp(enquire_every=0.2)
    gateway.send(sms())
    wait_for(lambda: smsc.state()["enquire_links"] >= 2)
    assert gateway.bound and smsc.state()["sessions"] == 1


def test_close_unbinds(smsc: Smsc, make_smpp: MakeSmpp) -> None:
    """close() ends the session: the SMSC has no session left."""
    gateway = make_smpp()
    gateway.send(sms())
    gateway.close()
    wait_for(lambda: smsc.state()["sessions"] == 0)
    assert not gateway.bound


def test_receipt_reaches_the_sink_by_the_smscs_id(smsc: Smsc, make_smpp: MakeSmpp) -> None:
    """A DELIVRD receipt becomes a DeliveryReport naming the gateway and the SMSC's id,
    and the deliver_sm is answered ESME_ROK."""
    reports: list[DeliveryReport] = []
    gateway = make_smpp()
    gateway.attach(reports.append)
    accepted = gateway.send(sms())
    assert accepted.provider_id is not None
    smsc.receipt(accepted.provider_id, "DELIVRD")
    (report,) = wait_for(lambda: reports)
    assert (report.gateway, report.provider_id, report.status) == (
        "smpp", accepted.provider_id, "DELIVRD")
    assert wait_for(lambda: smsc.state()["receipt_answers"]) == [0]


def test_receipt_tlvs_win_over_its_text(smsc: Smsc, make_smpp: MakeSmpp) -> None:
    """When the text's id: and stat: disagree with the TLVs, the TLVs are believed."""
    reports: list[DeliveryReport] = []
    gateway = make_smpp()
    gateway.attach(reports.append)
    accepted = gateway.send(sms())
    assert accepted.provider_id is not None
    smsc.receipt(accepted.provider_id, "DELIVRD", text_id="368224", text_stat="UNDELIV")
    (report,) = wait_for(lambda: reports)
    assert (report.provider_id, report.status) == (accepted.provider_id, "DELIVRD")


def test_receipt_text_alone_is_read(smsc: Smsc, make_smpp: MakeSmpp) -> None:
    """A receipt with no TLVs is read from its text's id: and stat:."""
    reports: list[DeliveryReport] = []
    gateway = make_smpp()
    gateway.attach(reports.append)
    accepted = gateway.send(sms())
    assert accepted.provider_id is not None
    smsc.receipt(accepted.provider_id, "UNDELIV", tlvs=False)
    (report,) = wait_for(lambda: reports)
    assert (report.provider_id, report.status) == (accepted.provider_id, "UNDELIV")


def test_receipt_with_no_sink_is_answered_try_later(smsc: Smsc, make_smpp: MakeSmpp) -> None:
    """With nowhere to put it, a receipt is answered with a temporary error, so the SMSC
    keeps it and delivers it again."""
    gateway = make_smpp()
    accepted = gateway.send(sms())
    assert accepted.provider_id is not None
    smsc.receipt(accepted.provider_id, "DELIVRD")
    assert wait_for(lambda: smsc.state()["receipt_answers"]) == [TRY_LATER]


def test_no_secret_in_the_logs(
    smsc: Smsc, make_smpp: MakeSmpp, caplog: pytest.LogCaptureFixture
) -> None:
    """Binding and sending at DEBUG log neither the password, the text nor the number."""
    caplog.set_level(logging.DEBUG)
    gateway = make_smpp()
    gateway.check()
    gateway.send(sms("Your code is 918273"))
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert logged  # the gateway did log
    for secret in (PASSWORD, PASSWORD.encode().hex(), "918273", "393138323733",
                   "447911123456"):
        assert secret not in logged


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_binds_its_own_session(smsc: Smsc, make_smpp: MakeSmpp) -> None:
    """A process forked from one with a bound session binds its own to send, and the
    parent's session keeps working."""
    gateway = make_smpp()
    gateway.send(sms(n=1))
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only when its own send was taken
        status = 1
        try:
            gateway.send(sms(n=2))
            status = 0
        finally:
            os._exit(status)
    deadline = time.monotonic() + 10
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    if done[0] == 0:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    assert done[0] == pid and os.waitstatus_to_exitcode(done[1]) == 0
    gateway.send(sms(n=3))
    assert len(smsc.binds()) == 2 and len(smsc.submits()) == 3


def test_tls_session_sends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With tls on, the gateway binds and sends to an SMSC that speaks only TLS, whose
    certificate it trusts."""
    key, cert = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    with running_smsc(tls=(key, cert)) as smsc:
        gateway = SmppGateway(smsc.host, SYSTEM_ID, PASSWORD, port=smsc.port, tls=True,
                              deadline=2.0)
        try:
            accepted = gateway.send(sms())
        finally:
            gateway.close()
        (got,) = smsc.submits()
    assert accepted.provider_id == got["answer"]["message_id"]


def test_tls_with_an_untrusted_certificate_fails_check(tmp_path: Path) -> None:
    """check() refuses an SMSC whose certificate no trusted authority signed."""
    with running_smsc(tls=self_signed(tmp_path)) as smsc:
        gateway = SmppGateway(smsc.host, SYSTEM_ID, PASSWORD, port=smsc.port, tls=True)
        with pytest.raises(GatewayError) as raised:
            gateway.check()
    assert raised.value.reason == (f"SMPP bind to 127.0.0.1:{smsc.port} failed: "
                                   "TLS failed: CERTIFICATE_VERIFY_FAILED")
