"""Mediariver gateways a test makes (account ``sim``/``sim``), each closed when it ends.

Importable from every test directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from tfa_engine.gateways.mediariver import MediariverGateway


class MakeGateway(Protocol):
    """The signature of a ``make_gateway`` fixture."""

    def __call__(self, base_url: str | None = None, **options: Any) -> MediariverGateway: ...


@contextmanager
def closing_gateways(base_url: str, **defaults: Any) -> Iterator[MakeGateway]:
    """``make(base_url=None, **options)``: a gateway at ``base_url`` unless told otherwise,
    with ``options`` over ``defaults``; every gateway made is closed when the block ends."""
    made: list[MediariverGateway] = []

    def make(url: str | None = None, **options: Any) -> MediariverGateway:
        gateway = MediariverGateway(url or base_url, "sim", "sim", **{**defaults, **options})
        made.append(gateway)
        return gateway

    try:
        yield make
    finally:
        for gateway in made:
            gateway.close()
