"""The kinds of SMS gateway the server builds from its settings, each with its options.

A gateway is configured either by flat settings (``TFA_GATEWAY=smpp`` and the kind's
options as ``TFA_SMPP_HOST``..., or ``smpp_host`` in the file) or as a named table of the
file (``[[gateways]]`` with ``name``, ``type`` and the same options without the prefix).
Both come to a :class:`GatewaySpec`; each kind's options are written here once, and the
setting keys, the checks, the README's table and ``tfa check`` derive from them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tfa_engine.config import (
    ConfigError,
    non_empty_text,
    parse_bool,
    secret_text,
    whole_number,
)
from tfa_engine.gateways import ConsoleGateway, Gateway, MediariverGateway, MemoryGateway

from .declared import optional_text
from .http_kind import body_template, build_http, choice, scalar, status_map, statuses

Convert = Callable[[Any, str], Any]  # (raw value, label naming where it came from) -> value


@dataclass(frozen=True)
class Option:
    """One setting of a kind of gateway."""

    convert: Convert
    required: bool = False
    secret: bool = False  # a password or key: never shown
    default: Any = None
    doc: str = ""  # one line for the README's table of settings


@dataclass(frozen=True)
class GatewayKind:
    """A kind of gateway: its options and how to build one from them.

    ``build(name, options)`` gets every option (defaults filled in, each converted) and
    returns the gateway, whose :attr:`~tfa_engine.gateways.Gateway.name` is ``name``.
    """

    kind: str
    options: Mapping[str, Option]
    build: Callable[[str, Mapping[str, Any]], Gateway]
    # Sends wait on the network (a bulkhead bounds them); False for console and memory.
    remote: bool = True
    # Checked as the server starts (one line when it fails): for kinds whose check costs
    # the provider nothing it would not see anyway (an SMPP bind).
    check_at_start: bool = False


@dataclass(frozen=True)
class GatewaySpec:
    """One configured gateway: its name, kind and checked options."""

    name: str
    kind: str
    options: Mapping[str, Any] = field(repr=False)  # may hold passwords

    def build(self) -> Gateway:
        """The gateway these settings describe (not yet connected)."""
        return KINDS[self.kind].build(self.name, self.options)

    @property
    def remote(self) -> bool:
        """True when a send waits on the network."""
        return KINDS[self.kind].remote

    @property
    def check_at_start(self) -> bool:
        """True when the server checks this gateway as it starts."""
        return KINDS[self.kind].check_at_start


def gateway_spec(name: str, kind: str, raw: Mapping[str, tuple[Any, str]],
                 label: Callable[[str], str]) -> GatewaySpec:
    """Check ``raw`` (option -> (value, where it came from)) against the kind's options.

    ``label(option)`` names an option in errors (``TFA_SMPP_HOST``, or ``host`` of the
    gateway ``eu`` in a file). Raises ConfigError for an unknown kind or option, a
    missing required option, or a value its option refuses."""
    known = KINDS.get(kind)
    if known is None:
        raise ConfigError(f"gateway {name!r}: type must be one of {', '.join(KINDS)}, "
                          f"not {kind!r}")
    unknown = sorted(set(raw) - set(known.options))
    if unknown:
        raise ConfigError(f"gateway {name!r}: {kind} has no setting {unknown[0]!r} "
                          f"(it has {', '.join(known.options) or 'none'})")
    missing = [label(key) for key, option in known.options.items()
               if option.required and key not in raw]
    if missing:
        raise ConfigError(f"the {kind} gateway needs {', '.join(missing)}")
    options = {key: option.default for key, option in known.options.items()}
    options.update({key: known.options[key].convert(value, where)
                    for key, (value, where) in raw.items()})
    return GatewaySpec(name, kind, options)


def http_url(raw: Any, label: str) -> str:
    """An ``http://`` or ``https://`` URL."""
    url = non_empty_text(raw, label)
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{label} must be an http(s) URL")
    return url


def seconds(low: int, high: int) -> Convert:
    """A whole number of seconds from ``low`` to ``high``."""
    return lambda raw, label: whole_number(raw, label, low, high)


def smpp_text(longest: int, *, empty: bool = False) -> Convert:
    """An SMPP 3.4 C-octet string field: ASCII of at most ``longest`` characters (which
    the protocol would otherwise cut short without a word)."""

    def convert(raw: Any, label: str) -> str:
        if empty and raw == "":
            return ""
        text = non_empty_text(raw, label)
        if not text.isascii() or len(text) > longest:
            raise ConfigError(f"{label} must be ASCII of at most {longest} characters")
        return text

    return convert


def _smpp_password(raw: Any, label: str) -> str | None:
    password = secret_text(raw, label)
    if password is not None and (not password.isascii() or len(password) > 8):
        raise ConfigError(f"{label} must be ASCII of at most 8 characters (SMPP 3.4)")
    return password


def _mediariver(name: str, options: Mapping[str, Any]) -> Gateway:
    deadline = options["deadline"]
    gateway = MediariverGateway(options["url"], options["username"], options["password"],
                                deadline=deadline, read_timeout=min(5.0, deadline))
    gateway.name = name
    return gateway


def _smpp(name: str, options: Mapping[str, Any]) -> Gateway:
    # Imported here: smpplib is needed only where an smpp gateway is configured.
    from tfa_engine.gateways.smpp import SmppGateway

    gateway = SmppGateway(options["host"], options["system_id"], options["password"],
                          port=options["port"], system_type=options["system_type"],
                          tls=options["tls"], deadline=options["deadline"])
    gateway.name = name
    return gateway


def _memory(name: str, options: Mapping[str, Any]) -> Gateway:
    return MemoryGateway(name=name)


def _console(name: str, options: Mapping[str, Any]) -> Gateway:
    gateway = ConsoleGateway()
    gateway.name = name
    return gateway


KINDS: dict[str, GatewayKind] = {
    "console": GatewayKind("console", {}, _console, remote=False),
    "memory": GatewayKind("memory", {}, _memory, remote=False),
    "mediariver": GatewayKind("mediariver", {
        "url": Option(http_url, required=True, doc="mediariver's base URL"),
        "username": Option(optional_text, required=True, doc="the account's user name"),
        "password": Option(secret_text, required=True, secret=True,
                           doc="the account's password"),
        "deadline": Option(seconds(1, 60), default=10,
                           doc="seconds one send may take, retries included"),
    }, _mediariver),
    "http": GatewayKind("http", {
        "url": Option(http_url, required=True, doc="the provider's API URL"),
        "method": Option(choice("method"), default="POST", doc="`POST`, `PUT` or `PATCH`"),
        "auth": Option(choice("auth"), default="none",
                       doc="`none`, `basic`, `bearer` or `header`"),
        "username": Option(optional_text, doc="user name of basic auth (or `{username}`)"),
        "password": Option(secret_text, secret=True,
                           doc="password of basic auth (or `{password}`)"),
        "token": Option(secret_text, secret=True,
                        doc="token of bearer or header auth (or `{token}`)"),
        "auth_header": Option(optional_text, doc="the header carrying `token` (auth `header`)"),
        "format": Option(choice("format"), default="json", doc="body as `json` or `form`"),
        "body": Option(body_template, required=True,
                       doc="the body template: a TOML table or JSON text with placeholders"),
        "accept_status": Option(statuses, default=(200, 201, 202),
                                doc="HTTP statuses of acceptance"),
        "accept_field": Option(optional_text, doc="dotted path of the answer that must hold "
                               "`accept_value`"),
        "accept_value": Option(scalar, doc="the value of `accept_field` on acceptance"),
        "id_field": Option(optional_text, doc="dotted path of the provider's message id"),
        "deadline": Option(seconds(1, 60), default=10,
                           doc="seconds one send may take, retries included"),
        "report_id_field": Option(optional_text,
                                  doc="dotted path of the message id in a delivery report"),
        "report_status_field": Option(optional_text,
                                      doc="dotted path of the status in a delivery report"),
        "report_status_map": Option(status_map, doc="provider status = DELIVRD, UNDELIV, "
                                    "REJECTD, EXPIRED or UNKNOWN"),
    }, build_http),
    "smpp": GatewayKind("smpp", {
        "host": Option(non_empty_text, required=True, doc="the SMSC's host name or address"),
        "port": Option(lambda raw, label: whole_number(raw, label, 1, 65535), default=2775,
                       doc="the SMSC's SMPP port"),
        "system_id": Option(smpp_text(15), required=True, doc="the bind's system_id"),
        "password": Option(_smpp_password, required=True, secret=True,
                           doc="the bind's password"),
        "system_type": Option(smpp_text(12, empty=True), default="",
                              doc="the bind's system_type, if the SMSC wants one"),
        "tls": Option(parse_bool, default=False,
                      doc="connect with TLS (the SMSC's certificate is checked)"),
        "deadline": Option(seconds(1, 60), default=10,
                           doc="seconds one send may take, binding and retries included"),
    }, _smpp, check_at_start=True),
}
"""Every kind of gateway, by the name ``TFA_GATEWAY`` and ``type`` give it."""
