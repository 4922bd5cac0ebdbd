"""The three providers of docs/gateways/http.md as the tests drive them: each one's fake
built from the page's credentials, its words for delivered and undelivered, and what its
documentation says a request for one SMS holds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fake_infobip import FakeInfobip
from fake_provider import FakeProvider, Received
from fake_twilio import FakeTwilio
from fake_vonage import FakeVonage
from http_gateway_doc import SECRET

PROVIDERS = ("twilio", "vonage", "infobip")
FAKES: dict[str, Callable[[dict[str, Any]], FakeProvider]] = {
    "twilio": lambda table: FakeTwilio(table["username"], table["password"]),
    "vonage": lambda table: FakeVonage(table["username"], table["password"]),
    "infobip": lambda table: FakeInfobip(table["token"].removeprefix("App ")),
}
DELIVERED = {"twilio": "delivered", "vonage": "delivered", "infobip": "DELIVERED"}
UNDELIVERED = {"twilio": "undelivered", "vonage": "failed", "infobip": "UNDELIVERABLE"}


def sent_number(provider: str, e164: str) -> str:
    """The number as the page's configuration of ``provider`` sends it."""
    return e164 if provider == "twilio" else e164.lstrip("+")


def fields_of(provider: str, received: Received) -> Any:
    """The fields of a request, as the provider reads them."""
    return received.form() if provider == "twilio" else received.json()


def text_of(provider: str, fields: Any) -> str:
    """The SMS text in a request's fields."""
    if provider == "twilio":
        return str(fields["Body"])
    return str(fields["text"] if provider == "vonage" else fields["messages"][0]["text"])


def expected_request(provider: str, service: str, to: str, text: str, message_id: str) -> Any:
    """What the provider's documentation says the page's request holds for one SMS to
    ``to``, the reports going to the service at ``service``."""
    report_url = f"{service}/1/delivery/{provider}?secret={SECRET}"
    if provider == "twilio":
        return {"To": to, "From": "+15017122661", "Body": text, "StatusCallback": report_url}
    if provider == "vonage":
        return {"api_key": "abcd1234", "api_secret": "ABCDEFGHIJ123456", "from": "AcmeInc",
                "to": to.lstrip("+"), "text": text, "client-ref": message_id,
                "callback": report_url}
    return {"messages": [{"destinations": [{"to": to.lstrip("+")}], "from": "InfoSMS",
                          "text": text, "notifyUrl": report_url,
                          "notifyContentType": "application/json"}]}
