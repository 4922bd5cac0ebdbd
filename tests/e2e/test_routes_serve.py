"""Routes and delivery-aware resend through a real `tfa serve`: two mediariver simulators as
the `[[gateways]]` ``eu`` and ``backup`` of a settings file, the default route trying them in
that order, the simulators posting delivery reports back to the server over HTTP.

* a refused send goes on to ``backup``, and the metrics count it there;
* an SMS ``eu`` reports undelivered leaves the user's resend free (sent (201) within the
  phone's one-send window) and sends it through ``backup``; a delivered one keeps the resend -70;
* the metrics count the delivery reports by gateway and status.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import loopback
import pytest
from tfa_processes import (
    TfaProcess,
    create_token_json,
    local_environ,
    start_serve,
)

from tfa_engine import catalogue
from tfa_engine.adapters.gateway_sim import MediariverSimulator

pytestmark = pytest.mark.network

PHONE = "+4915112345678"
DLR_SECRET = "routes-dlr-secret"
SUCCESS = catalogue.SUCCESS.code
RATE_LIMITED = catalogue.RATE_LIMITED.code
HTTP_TIMEOUT = 15.0
REPORT_TIMEOUT = 10.0
GATEWAY_NAMES = ("eu", "backup")


@dataclass
class Gateways:
    """The two simulators, by name, and where each is served."""

    sims: dict[str, MediariverSimulator]
    urls: dict[str, str]

    def messages_to(self, name: str) -> list[dict[str, Any]]:
        """What the simulator ``name`` accepted for PHONE."""
        return [m for m in self.sims[name].messages if m["recipient"] in (PHONE, PHONE[1:])]


def settings_file(workdir: Path, urls: dict[str, str]) -> Path:
    """A settings file declaring the two gateways and the route through them."""
    tables = "".join(
        f'[[gateways]]\nname = "{name}"\ntype = "mediariver"\nurl = "{urls[name]}"\n'
        f'username = "{name}"\npassword = "{name}-password"\n\n'
        for name in GATEWAY_NAMES
    )
    path = workdir / "tfa.toml"
    path.write_text(tables + '[[routes]]\ndestination = "default"\ngateways = ["eu", "backup"]\n',
                    encoding="utf-8")
    return path


@pytest.fixture
def gateways(request: pytest.FixtureRequest) -> Iterator[Gateways]:
    """Two simulators, ``eu`` reporting each SMS with the status the test's ``eu_status``
    parameter names (DELIVRD by default), ``backup`` with DELIVRD."""
    statuses = {"eu": getattr(request, "param", "DELIVRD"), "backup": "DELIVRD"}
    sims, servers, urls = {}, [], {}
    try:
        for name in GATEWAY_NAMES:
            sims[name] = MediariverSimulator(username=name, password=f"{name}-password",
                                             rate_limit=None, dlr_statuses=(statuses[name],))
            server, thread, urls[name] = loopback.serve_in_thread(sims[name], name=name)
            servers.append((server, thread))
        yield Gateways(sims, urls)
    finally:
        for sim in sims.values():
            sim.close()
        for server, thread in servers:
            loopback.stop_in_thread(server, thread, 15.0)


@dataclass
class Served:
    """`tfa serve` on the two gateways and a token of it."""

    process: TfaProcess
    token: str

    def request_code(self, client_ref: str) -> int:
        """POST /1/2fa for PHONE: the envelope's status_code (0 with HTTP 201: sent)."""
        body = json.dumps({"phone_number": PHONE, "client_ref": client_ref})
        answer = self._exchange("POST", "/1/2fa", body, {
            "Authorization": f"Token {self.token}", "Content-Type": "application/json"})
        return int(json.loads(answer)["result_info"]["status_code"])

    def metrics(self) -> str:
        """The text of GET /metrics."""
        return self._exchange("GET", "/metrics", None, {})

    def _exchange(self, method: str, path: str, body: str | None,
                  headers: dict[str, str]) -> str:
        address = urlsplit(self.process.base_url)
        connection = http.client.HTTPConnection(address.hostname or "", address.port,
                                                timeout=HTTP_TIMEOUT)
        try:
            connection.request(method, path, body=body, headers=headers)
            return connection.getresponse().read().decode()
        finally:
            connection.close()


@pytest.fixture
def served(gateways: Gateways, tmp_path: Path) -> Iterator[Served]:
    """`tfa serve` with the settings file, one SMS per phone per 10 minutes, the
    simulators' reports pointed at its delivery-report endpoint."""
    env = local_environ(tmp_path, TFA_LIMIT_PHONE_SENDS="1/600", TFA_DLR_SECRET=DLR_SECRET,
                        TFA_CONFIG=str(settings_file(tmp_path, gateways.urls)))
    del env["TFA_GATEWAY"]  # the file's [[gateways]] choose
    token = create_token_json(tmp_path, env, "shop")["token"]
    process = start_serve(tmp_path, env)
    try:
        for sim in gateways.sims.values():
            sim.dlr_url = f"{process.base_url}/1/dlr/{DLR_SECRET}"
        yield Served(process, token)
    finally:
        process.stop()


def reports_posted(gateways: Gateways) -> None:
    """Wait until every delivery report the simulators scheduled was posted (and so
    stored: the server answers once it has)."""
    for sim in gateways.sims.values():
        assert sim.drain(REPORT_TIMEOUT)


def counter(metrics: str, name: str, **labels: str) -> float:
    """The value of one sample of ``metrics`` (0 when absent)."""
    wanted = "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
    for line in metrics.splitlines():
        if line.startswith(name + wanted + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_send_eu_refuses_leaves_through_backup(gateways: Gateways, served: Served) -> None:
    """eu answers 500 (three times: its retries): the code still goes out, through backup,
    and the metrics count the SMS under backup."""
    gateways.sims["eu"].faults.fail_next = 3
    assert served.request_code("first") == SUCCESS
    assert [len(gateways.messages_to(n)) for n in GATEWAY_NAMES] == [0, 1]
    assert counter(served.metrics(), "tfa_sms_sent_total", gateway="backup") == 1


@pytest.mark.parametrize("gateways", ["UNDELIV"], indirect=True)
def test_an_undelivered_sms_leaves_the_resend_free_through_backup(
    gateways: Gateways, served: Served
) -> None:
    """eu reports the first SMS UNDELIV: the resend within the one-send window is 201 and
    leaves through backup; the metrics count eu's UNDELIV."""
    assert served.request_code("first") == SUCCESS
    reports_posted(gateways)
    assert served.request_code("again") == SUCCESS
    assert [len(gateways.messages_to(n)) for n in GATEWAY_NAMES] == [1, 1]
    reports_posted(gateways)
    metrics = served.metrics()
    assert counter(metrics, "tfa_sms_delivery_reports_total", gateway="eu",
                   status="UNDELIV") == 1
    assert counter(metrics, "tfa_sms_delivery_reports_total", gateway="backup",
                   status="DELIVRD") == 1


def test_a_delivered_sms_keeps_the_resend_limited(gateways: Gateways, served: Served) -> None:
    """eu reports the first SMS DELIVRD: the resend within the window is -70, as without
    routes."""
    assert served.request_code("first") == SUCCESS
    reports_posted(gateways)
    assert served.request_code("again") == RATE_LIMITED
    assert [len(gateways.messages_to(n)) for n in GATEWAY_NAMES] == [1, 0]
