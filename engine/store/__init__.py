"""Storage backends behind one contract (:class:`Store`)."""

from .base import (
    CodeRecord,
    CodeState,
    DuplicateClientRef,
    DuplicateMessageId,
    DuplicateToken,
    NewCode,
    Store,
    StoreError,
)
from .memory import MemoryStore
from .sqlite import SQLiteStore

__all__ = [
    "CodeRecord",
    "CodeState",
    "DuplicateClientRef",
    "DuplicateMessageId",
    "DuplicateToken",
    "MemoryStore",
    "NewCode",
    "SQLiteStore",
    "Store",
    "StoreError",
]
