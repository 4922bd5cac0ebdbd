"""What every engine call returns: a status and, on success, a result."""

from __future__ import annotations

import uuid
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
    ``api_job_id`` identifies the call; a sent code's callbacks repeat it.
    """

    status: Status
    result: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    retry_after: int | None = None
    api_job_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def ok(self) -> bool:
        """True for ``Success`` and ``Valid``."""
        return self.status.ok

    def envelope(self, api_job_id: str | None = None) -> dict[str, Any]:
        """The Fortytwo response body for this outcome (its own ``api_job_id`` unless
        another is given)."""
        body: dict[str, Any] = {
            "api_job_id": api_job_id or self.api_job_id,
            "result_info": self.status.as_result_info(),
        }
        if self.result:
            body["result"] = dict(self.result)
        return body
