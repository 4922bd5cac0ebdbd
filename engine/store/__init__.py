"""Storage backends behind one contract (:class:`Store`)."""

from .base import (
    CallbackFactory,
    CallbackJob,
    CodeRecord,
    CodeState,
    DuplicateClientRef,
    DuplicateMessageId,
    DuplicateToken,
    NewCallback,
    NewCode,
    Store,
    StoreError,
    StoreUnavailable,
)
from .memory import MemoryStore
from .sqlite import SQLiteStore

__all__ = [
    "CallbackFactory",
    "CallbackJob",
    "CodeRecord",
    "CodeState",
    "DuplicateClientRef",
    "DuplicateMessageId",
    "DuplicateToken",
    "MemoryStore",
    "NewCallback",
    "NewCode",
    "SQLiteStore",
    "Store",
    "StoreError",
    "StoreUnavailable",
]
