"""Attack: a stolen or misused token sending where it should not (SMS pumping to premium
and satellite ranges), and draining a token's SMS budget.

A token limited to ``GB`` gets -75 (HTTP 422) for US, satellite (+881) and Guernsey
numbers, with no gateway call and its client_ref still free; a token whose budget is
3 SMS a day gets -76 (HTTP 429, Retry-After) for the fourth, with no gateway call. With
no allowlist at all, numbers of no country (satellite and international networks,
libphonenumber's region ``001``) are -75 until an allowlist names them.
"""

from __future__ import annotations

import falcon.testing
import pytest
from attack_collector import COLLECTED
from attack_kit import CODE_FIELDS, IP, gateway_of, issue, make_engine
from fake_clock import FakeClock

from tfa_engine import Engine, RateLimit
from tfa_engine._phones import to_e164
from tfa_engine.adapters.falcon import create_app
from tfa_engine.store import Store

GB_MOBILE = "+447400100002"
# Valid numbers (libphonenumber accepts each as one that takes an SMS, from the lowest
# phonenumbers setup.py allows on: +8816 numbers of 13 digits only later) outside GB.
FOREIGN = [
    pytest.param("+12015550123", id="US"),
    pytest.param("+881612345678", id="satellite-8816"),
    pytest.param("+881712345678", id="satellite-8817"),
    pytest.param("+881212345678", id="satellite-8812"),
    # +44 but Guernsey: libphonenumber's GB leaves out GG, JE and IM.
    pytest.param("+447911123456", id="GG-shares-44"),
]
DAY = 86400
# Numbers libphonenumber takes for mobiles of no country (region 001).
NO_COUNTRY = [
    pytest.param("+881612345678", id="iridium-8816"),
    pytest.param("+881712345678", id="iridium-8817"),
    pytest.param("+881212345678", id="globalstar-8812"),
    pytest.param("+870773111632", id="inmarsat-870"),
    pytest.param("+8823421234", id="international-networks-882"),
]


class Api:
    """The HTTP API of ``engine`` through falcon.testing, as 127.0.0.1 with ``token``."""

    def __init__(self, engine: Engine, token: str) -> None:
        self.client = falcon.testing.TestClient(create_app(engine))
        self.token = token

    def request(self, ref: str, phone: str) -> falcon.testing.Result:
        COLLECTED.phone(phone)
        return self.client.simulate_post(
            "/1/2fa", json={"client_ref": ref, "phone_number": phone, **CODE_FIELDS},
            headers={"Authorization": f"Token {self.token}"}, remote_addr=IP,
        )


def outcome(result: falcon.testing.Result) -> tuple[int, int]:
    """(HTTP status, status_code)."""
    return result.status_code, result.json["result_info"]["status_code"]


@pytest.mark.parametrize("phone", FOREIGN)
def test_gb_token_cannot_send_abroad(backend: Store, clock: FakeClock, phone: str) -> None:
    """-75 HTTP 422 with no gateway call; the same client_ref then works for a GB number."""
    assert to_e164(phone) == phone  # a valid number: only the allowlist refuses it
    engine = make_engine(backend, clock=clock)
    api = Api(engine, issue(engine, "gb-only", allowed_destinations=["GB"]).token)

    assert outcome(api.request("abroad", phone)) == (422, -75)
    assert gateway_of(engine).attempts == 0
    assert outcome(api.request("abroad", GB_MOBILE)) == (201, 0)
    assert gateway_of(engine).attempts == 1


@pytest.mark.parametrize("phone", NO_COUNTRY)
def test_numbers_of_no_country_are_refused_without_an_allowlist(
    backend: Store, clock: FakeClock, phone: str
) -> None:
    """With the defaults (no allowlist anywhere), a satellite or international-network
    number is -75 with no gateway call; a number of a country is sent."""
    assert to_e164(phone) == phone
    engine = make_engine(backend, clock=clock)
    api = Api(engine, issue(engine, "defaults").token)
    assert outcome(api.request("no-country", phone)) == (422, -75)
    assert gateway_of(engine).attempts == 0
    assert outcome(api.request("country", "+12015550123")) == (201, 0)


@pytest.mark.parametrize(("entries", "phone"), [
    pytest.param(["+8816"], "+881612345678", id="token-prefix"),
    pytest.param(["001"], "+870773111632", id="token-001"),
    pytest.param(["GB", "+881"], "+881212345678", id="beside-a-country"),
])
def test_an_allowlist_naming_numbers_of_no_country_admits_them(
    backend: Store, clock: FakeClock, entries: list[str], phone: str
) -> None:
    """A token whose allowlist names the range (a prefix, or ``001``) sends there."""
    engine = make_engine(backend, clock=clock)
    api = Api(engine, issue(engine, "satellite", allowed_destinations=entries).token)
    assert outcome(api.request("named", phone)) == (201, 0)
    assert gateway_of(engine).attempts == 1


def test_the_service_allowlist_can_name_numbers_of_no_country(
    backend: Store, clock: FakeClock
) -> None:
    """TFA_ALLOWED_DESTINATIONS=+870: every token may send to Inmarsat, to nowhere else."""
    engine = make_engine(backend, clock=clock, allowed_destinations=("+870",))
    api = Api(engine, issue(engine, "any").token)
    assert outcome(api.request("inmarsat", "+870773111632")) == (201, 0)
    assert outcome(api.request("iridium", "+881612345678")) == (422, -75)


def test_service_allowlist_holds_for_every_token(backend: Store, clock: FakeClock) -> None:
    """TFA_ALLOWED_DESTINATIONS=+4474: a token without a list of its own is held to it."""
    engine = make_engine(backend, clock=clock, allowed_destinations=("+4474",))
    api = Api(engine, issue(engine, "any").token)
    assert outcome(api.request("sat", "+881612345678")) == (422, -75)
    assert outcome(api.request("gg", "+447911123456")) == (422, -75)
    assert gateway_of(engine).attempts == 0
    assert outcome(api.request("gb", GB_MOBILE)) == (201, 0)


def test_fourth_sms_of_a_3_per_day_budget_is_76(backend: Store, clock: FakeClock) -> None:
    """Budget 3/86400: three sends, then -76 HTTP 429 with Retry-After until the first
    leaves the day, no gateway call for it; a day after the first, it is sent."""
    engine = make_engine(backend, clock=clock)
    api = Api(engine, issue(engine, "budget", sms_budget=RateLimit(3, DAY)).token)
    first = clock()
    for number in range(3):
        clock.set(first + 3600 * number)
        assert outcome(api.request(f"budget-{number}", f"+44740010001{number}")) == (201, 0)
    clock.set(first + 3 * 3600)
    fourth = api.request("budget-3", "+447400100013")
    assert outcome(fourth) == (429, -76)
    assert fourth.headers["Retry-After"] == str(DAY - 3 * 3600)
    assert gateway_of(engine).attempts == 3

    clock.set(first + DAY - 1)
    assert outcome(api.request("budget-3", "+447400100013")) == (429, -76)
    clock.set(first + DAY)
    assert outcome(api.request("budget-3", "+447400100013")) == (201, 0)
    assert gateway_of(engine).attempts == 4


def test_refused_destinations_do_not_spend_the_budget(backend: Store, clock: FakeClock) -> None:
    """Sends refused -75 use up none of a 3/day budget: three GB sends still go out."""
    engine = make_engine(backend, clock=clock)
    api = Api(engine, issue(engine, "both", allowed_destinations=["GB"],
                            sms_budget=RateLimit(3, DAY)).token)
    for number in range(10):
        assert outcome(api.request(f"sat-{number}", "+881612345678")) == (422, -75)
    for number in range(3):
        assert outcome(api.request(f"gb-{number}", f"+44740010002{number}")) == (201, 0)
    assert outcome(api.request("gb-3", "+447400100023")) == (429, -76)
    assert gateway_of(engine).attempts == 3


def test_callback_to_an_internal_address_is_refused(backend: Store, clock: FakeClock) -> None:
    """SSRF through callback_url: -61, no SMS sent (and an audit record, callback.refused)."""
    engine = make_engine(backend, clock=clock)
    api = Api(engine, issue(engine, "ssrf").token)
    COLLECTED.phone(GB_MOBILE)
    result = api.client.simulate_post(
        "/1/2fa",
        json={"client_ref": "ssrf", "phone_number": GB_MOBILE, **CODE_FIELDS,
              "callback_url": "http://169.254.169.254/latest/meta-data/"},
        headers={"Authorization": f"Token {api.token}"}, remote_addr=IP,
    )
    assert outcome(result) == (422, -61)
    assert gateway_of(engine).attempts == 0
    events = [r.audit["event"] for r in COLLECTED.audit_records()]  # type: ignore[attr-defined]
    assert "callback.refused" in events
