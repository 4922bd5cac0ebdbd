"""What every engine call returns: a status and, on success, a result."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .catalogue import Status

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class Outcome:
    """The decision of the engine; adapters only render it.

    ``result`` is ``{"message_id": ...}`` for a sent code and empty otherwise;
    ``retry_after`` is set (seconds) when a rate limit refused the call.
    """

    status: Status
    result: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    retry_after: int | None = None

    @property
    def ok(self) -> bool:
        """True for ``Success`` and ``Valid``."""
        return self.status.ok

    def envelope(self, api_job_id: str) -> dict[str, Any]:
        """The Fortytwo response body for this outcome."""
        body: dict[str, Any] = {
            "api_job_id": api_job_id,
            "result_info": self.status.as_result_info(),
        }
        if self.result:
            body["result"] = dict(self.result)
        return body
