"""Facts about the database itself that every process using it must agree on (the
fingerprint of the pepper codes are hashed with), as named text values."""

from __future__ import annotations

from abc import ABC, abstractmethod


class MetaStore(ABC):
    """Named values kept in the database beside its tables."""

    @abstractmethod
    def settle_meta(self, name: str, value: str) -> str:
        """Record ``value`` under ``name`` unless a value is recorded there already, and
        return the one recorded: of several processes settling at once, the first wins and
        the others get its value."""

    @abstractmethod
    def read_meta(self, name: str) -> str | None:
        """The value recorded under ``name``, None when there is none."""

    @abstractmethod
    def replace_meta(self, name: str, value: str) -> str | None:
        """Record ``value`` under ``name`` whatever was there, and return what was (None
        when nothing was)."""
