"""`tfa serve` and `tfa check` with `TFA_GATEWAY=smpp`, as real processes, against an SMSC
that is not ours (node-smpp's server, tests/support/smsc_node.py): what a client gets,
what the SMSC decoded, and the SMSC's receipts coming back as callbacks."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from smsc_node import PASSWORD, SYSTEM_ID, Smsc, running_smsc, wait_for
from tfa_processes import (
    COMMAND_TIMEOUT,
    REPO,
    TfaProcess,
    create_token_json,
    local_environ,
    start_serve,
    tfa_command,
)

pytestmark = pytest.mark.network

PHONE = "+447911123456"
HTTP_TIMEOUT = 15.0  # one exchange: above the gateway's deadline


@pytest.fixture
def smsc() -> Iterator[Smsc]:
    """node-smpp's SMSC, stopped afterwards."""
    with running_smsc() as running:
        yield running


class Callbacks:
    """An HTTP listener on 127.0.0.1 keeping the JSON body of every callback."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                owner.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cb"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def statuses(self) -> list[tuple[str, str]]:
        """(type, status) of each callback received."""
        return [(item["type"], item["status"]) for body in self.bodies for item in body["data"]]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def callbacks() -> Iterator[Callbacks]:
    """A callback receiver, stopped afterwards."""
    receiver = Callbacks()
    try:
        yield receiver
    finally:
        receiver.close()


def smpp_env(workdir: Path, smsc: Smsc, **settings: str) -> dict[str, str]:
    """`tfa` settings for the smpp gateway on ``smsc``, with private callbacks allowed."""
    return local_environ(workdir, **{
        "TFA_GATEWAY": "smpp", "TFA_SMPP_HOST": smsc.host, "TFA_SMPP_PORT": str(smsc.port),
        "TFA_SMPP_SYSTEM_ID": SYSTEM_ID, "TFA_SMPP_PASSWORD": PASSWORD,
        "TFA_SMPP_DEADLINE": "2", "TFA_CALLBACK_ALLOW_PRIVATE": "true",
        "TFA_CALLBACK_KEY": "smpp-e2e-callback-key-0123456789", **settings,
    })


def request_code(base_url: str, token: str, client_ref: str,
                 callback_url: str | None = None) -> tuple[int, dict[str, Any]]:
    """POST /1/2fa: (HTTP status, JSON answer)."""
    body: dict[str, Any] = {"client_ref": client_ref, "phone_number": PHONE}
    if callback_url:
        body["callback_url"] = callback_url
    request = urllib.request.Request(  # noqa: S310 - the server on 127.0.0.1
        f"{base_url}/1/2fa", data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def served(tmp_path: Path, smsc: Smsc) -> Iterator[tuple[TfaProcess, str]]:
    """`tfa serve` with the smpp gateway on ``smsc``, and a token's string."""
    env = smpp_env(tmp_path, smsc)
    token = create_token_json(tmp_path, env, "shop")["token"]
    service = start_serve(tmp_path, env)
    try:
        wait_for(lambda: smsc.binds())  # the bind of the check tfa serve makes as it starts
        yield service, token
    finally:
        service.stop()


def test_a_code_goes_to_the_smsc_as_sent(served: tuple[TfaProcess, str], smsc: Smsc) -> None:
    """A code request answers 201, and the SMSC decoded one submit_sm with the code in
    GSM 03.38, from the sender TFA (TON 5) to the number (TON 1, NPI 1)."""
    service, token = served
    status, answer = request_code(service.base_url, token, "r1")
    assert status == 201, answer
    (got,) = smsc.submits()
    assert (got["source_addr_ton"], got["source_addr"], got["dest_addr_ton"],
            got["dest_addr_npi"], got["destination_addr"], got["data_coding"]) == (
        5, "TFA", 1, 1, "447911123456", 0)
    assert got["text"].startswith("Your")


def test_a_silent_smsc_gives_65_and_leaves_the_client_ref_free(
    served: tuple[TfaProcess, str], smsc: Smsc
) -> None:
    """An SMSC that never answers the submit_sm: -65 within the 2 s deadline (a generous
    bound: the HTTP client waits 15 s), then the same client_ref is taken."""
    service, token = served
    smsc.behave(delay_ms=-1)
    status, answer = request_code(service.base_url, token, "r1")
    assert (status, answer["result_info"]["status_code"]) == (400, -65)
    smsc.behave(delay_ms=0)
    status, answer = request_code(service.base_url, token, "r1")
    assert status == 201, answer


def test_throttled_twice_then_one_201(served: tuple[TfaProcess, str], smsc: Smsc) -> None:
    """Throttled twice, the third submit_sm is taken: one 201, one SMS."""
    service, token = served
    smsc.behave(throttle=2)
    status, answer = request_code(service.base_url, token, "r1")
    assert status == 201, answer
    assert [got["answer"]["command_status"] for got in smsc.submits()] == [0x58, 0x58, 0]


def test_after_a_drop_the_next_code_is_sent_on_a_new_bind(
    served: tuple[TfaProcess, str], smsc: Smsc
) -> None:
    """The SMSC drops the session; the next request binds again and gets its 201."""
    service, token = served
    assert request_code(service.base_url, token, "r1")[0] == 201
    smsc.drop()
    wait_for(lambda: smsc.state()["sessions"] == 0)
    status, answer = request_code(service.base_url, token, "r2")
    assert status == 201, answer
    # The start-up check's bind, the first send's, and the one after the drop.
    assert [bind["accepted"] for bind in smsc.binds()] == [True, True, True]


def test_a_delivrd_receipt_becomes_an_sms_callback(
    served: tuple[TfaProcess, str], smsc: Smsc, callbacks: Callbacks
) -> None:
    """The SMSC's DELIVRD receipt reaches the client as an SMS callback."""
    service, token = served
    smsc.behave(receipt="DELIVRD")
    assert request_code(service.base_url, token, "r1", callbacks.url)[0] == 201
    wait_for(lambda: ("SMS", "DELIVRD") in callbacks.statuses())


def test_a_receipt_ahead_of_the_answer_still_becomes_a_callback(
    served: tuple[TfaProcess, str], smsc: Smsc, callbacks: Callbacks
) -> None:
    """A receipt the SMSC sends before its submit_sm_resp is kept and passed on."""
    service, token = served
    smsc.behave(receipt="UNDELIV", receipt_first=True)
    assert request_code(service.base_url, token, "r1", callbacks.url)[0] == 201
    wait_for(lambda: ("SMS", "UNDELIV") in callbacks.statuses())


def test_check_with_a_wrong_password_says_so(tmp_path: Path, smsc: Smsc) -> None:
    """`tfa check` exits 1 with one line naming the refused bind's status."""
    env = smpp_env(tmp_path, smsc, TFA_SMPP_PASSWORD="wrong")
    done = subprocess.run([*tfa_command(), "check"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=COMMAND_TIMEOUT, check=False)
    assert done.returncode == 1
    assert (f"gateway smpp: FAILED: SMPP bind to 127.0.0.1:{smsc.port} refused: "
            "ESME_RINVPASWD (wrong system_id or password)") in done.stdout.splitlines()



@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_with_a_wrong_password_says_so_once_at_start(
    tmp_path: Path, smsc: Smsc, workers: str
) -> None:
    """`tfa serve` (one process, or two workers) with a wrong SMPP password logs one line
    naming the refused bind's status as it starts, before any code is asked for."""
    env = smpp_env(tmp_path, smsc, TFA_SMPP_PASSWORD="wrong", TFA_WORKERS=workers,
                   TFA_PEPPER="smpp-e2e-pepper-0123456789")
    service = start_serve(tmp_path, env)
    try:
        refused = (f"gateway smpp: SMPP bind to 127.0.0.1:{smsc.port} refused: "
                   "ESME_RINVPASWD (wrong system_id or password)")
        service.wait_for(re.escape(refused), 10.0)
        assert sum(refused in line for line in service.lines) == 1, service.output
    finally:
        service.stop()
