"""The store's named values (:class:`._meta.MetaStore`) in memory (see :mod:`._memory`): one
dictionary, which lasts as long as the process."""

from __future__ import annotations

from ._memory import MemoryState
from ._meta import MetaStore


class MemoryMeta(MemoryState, MetaStore):
    """:class:`MetaStore` in memory."""

    def settle_meta(self, name: str, value: str) -> str:
        with self._lock:
            return self._meta.setdefault(name, value)

    def read_meta(self, name: str) -> str | None:
        with self._lock:
            return self._meta.get(name)

    def replace_meta(self, name: str, value: str) -> str | None:
        with self._lock:
            previous = self._meta.get(name)
            self._meta[name] = value
            return previous
