"""Reading a provider's delivery reports (its status webhook) into :class:`DeliveryReport`.

A provider posts its reports as a form (Twilio) or as JSON, one report per body (Vonage)
or an array of them (Infobip's ``results``). Where the message id and the status are is
configured as dotted paths; ``[]`` in a path (``results[].messageId``) says the body holds
an array of reports. Statuses are mapped onto the SMPP final states; a status the map does
not name (Twilio's ``queued`` or ``sent``) is a step on the way, not a final state, and is
left out rather than recorded as ``UNKNOWN``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from .._requests import decode_json, is_json_media_type
from .._values import ConfigError
from ._base import DELIVERY_STATUSES, DeliveryReport
from ._http_shape import FieldPath, scalar_text

FORM = "application/x-www-form-urlencoded"


class HttpReports:
    """How the delivery reports of the gateway named ``gateway`` read.

    Args:
        gateway: the gateway's name (what its :class:`~.Accepted` answers carried).
        id_field: the dotted path of the provider's message id in a report.
        status_field: the dotted path of its status.
        statuses: provider status (any case) -> one of :data:`DELIVERY_STATUSES`.

    Raises ConfigError for a path that is not one, paths that iterate different arrays,
    an empty map or a state that is not an SMPP final state.
    """

    def __init__(self, gateway: str, id_field: str, status_field: str,
                 statuses: Mapping[str, str]) -> None:
        id_path, status_path = FieldPath(id_field), FieldPath(status_field)
        self._items, self._id = _split(id_path)
        items, self._status = _split(status_path)
        if items != self._items:
            raise ConfigError(
                f"report_id_field {id_field!r} and report_status_field {status_field!r} "
                "must name fields of the same report (the same array before the last [])"
            )
        if not statuses:
            raise ConfigError("report_status_map must map at least one provider status")
        wrong = sorted(set(statuses.values()) - set(DELIVERY_STATUSES))
        if wrong:
            raise ConfigError(f"report_status_map: {wrong[0]!r} is not one of "
                              f"{', '.join(DELIVERY_STATUSES)}")
        self.gateway = gateway
        self.statuses = {str(key).lower(): value for key, value in statuses.items()}

    def read(self, body: bytes, content_type: str, at: float) -> list[DeliveryReport]:
        """The final reports of one posted body, each dated ``at``. Raises ValueError when
        the body is neither JSON nor a form, or holds no report with an id and a status."""
        data = _decode(body, content_type)
        items = [data] if self._items is None else self._items.every(data)
        reports: list[DeliveryReport] = []
        readable = 0
        for item in items:
            provider_id = scalar_text(self._id.one(item))
            status = scalar_text(self._status.one(item))
            if provider_id is None or status is None:
                continue
            readable += 1
            final = self.statuses.get(status.lower())
            if final is not None:
                reports.append(DeliveryReport(self.gateway, provider_id, final, at))
        if not readable:
            raise ValueError("not a delivery report of this gateway")
        return reports


def _split(path: FieldPath) -> tuple[FieldPath | None, FieldPath]:
    """(the array of reports, the path inside one report): up to the last ``[]``."""
    parts = path.parts
    last = max((i for i, part in enumerate(parts) if part.endswith("[]")), default=-1)
    if last == -1:
        return None, path
    if last == len(parts) - 1:
        raise ConfigError(f"{path.text!r} must name a field of each item after the []")
    return FieldPath(".".join(parts[: last + 1])), FieldPath(".".join(parts[last + 1:]))


def _decode(body: bytes, content_type: str) -> Any:
    if is_json_media_type(content_type):
        return decode_json(body)
    if content_type.split(";", 1)[0].strip().lower() == FORM:
        try:
            text = body.decode("utf-8")
            return dict(parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text)))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ValueError("body is not a form") from exc
    raise ValueError("a delivery report must be JSON or a form")
