"""A store that can be taken down: every call raises ``StoreUnavailable`` while ``down``.

Importable from every test directory. It stands for a database that is full, read-only
or unreachable, whatever the backend; ``close`` still works, so engines shut down.
"""

from __future__ import annotations

from typing import Any

from tfa_engine import MemoryStore, StoreUnavailable

CAUSE = "database or disk is full"


class OutageStore(MemoryStore):
    """A :class:`MemoryStore` whose methods all raise :class:`StoreUnavailable` while
    ``down`` is true (``close`` excepted)."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.failures = 0  # calls refused so far

    def __getattribute__(self, name: str) -> Any:
        attribute = super().__getattribute__(name)
        if name.startswith("_") or name == "close" or not callable(attribute):
            return attribute
        if not super().__getattribute__("down"):
            return attribute

        def refuse(*args: Any, **kwargs: Any) -> Any:
            self.failures += 1
            raise StoreUnavailable(CAUSE)

        return refuse
