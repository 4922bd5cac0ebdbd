"""One pepper per database: every process hashing codes into a database must use the same.

A process whose pepper differs from the others' hashes codes that no other process can
verify, and verifies none of theirs: each correct code sent through one node is declined
by the other. So the database records a fingerprint of the pepper (never the pepper: an
HMAC-SHA256 keyed with it over a fixed label) the first time a process starts on it, and
every later process compares its own before it serves. Changing the pepper on purpose is
:func:`adopt_pepper` (``tfa pepper adopt``).
"""

from __future__ import annotations

import hashlib
import hmac

from .._values import ConfigError
from ._base import Store
from ._meta import MetaStore

SETTING = "TFA_PEPPER"
NAME = "pepper"  # where the fingerprint is recorded (see MetaStore)
NO_PEPPER = "none"  # the fingerprint of "codes are hashed without a pepper"
_LABEL = b"tfa-engine pepper fingerprint v1"
_ADOPT = "tfa pepper adopt"


class PepperMismatch(ConfigError):
    """This process's pepper is not the one the database's codes are hashed with."""

    def __init__(self, message: str) -> None:
        super().__init__(message, key="pepper")


def fingerprint(pepper: str | None) -> str:
    """What the database records of ``pepper``: it tells peppers apart, and does not give
    the pepper away (given a pepper of at least 16 random bytes)."""
    if not pepper:
        return NO_PEPPER
    digest = hmac.new(pepper.encode(), _LABEL, hashlib.sha256).hexdigest()
    return f"hmac-sha256:{digest}"


def settle_pepper(store: Store, pepper: str | None) -> None:
    """Record the fingerprint of ``pepper`` if the database has none yet (the first of
    several processes starting together wins), then raise :class:`PepperMismatch` unless
    the recorded one is this pepper's. What every process that hashes codes calls before
    it serves. A store without :class:`MetaStore` (an embedder's own) is not checked."""
    if isinstance(store, MetaStore):
        _compare(store.settle_meta(NAME, fingerprint(pepper)), pepper)


def verify_pepper(store: Store, pepper: str | None) -> None:
    """Raise :class:`PepperMismatch` when the database records another pepper; record
    nothing (for commands that hash no code: a command run with a forgotten pepper must
    not decide the pepper of every server started after it)."""
    if isinstance(store, MetaStore):
        recorded = store.read_meta(NAME)
        if recorded is not None:
            _compare(recorded, pepper)


def adopt_pepper(store: Store, pepper: str | None) -> bool | None:
    """Record ``pepper`` as the database's, whatever was recorded: codes hashed with
    another pepper stop validating, and processes with another pepper refuse to start.
    True when the recorded pepper changed, False when it was this one already, None when
    none was recorded."""
    if not isinstance(store, MetaStore):
        raise ConfigError("this store keeps no pepper fingerprint")
    previous = store.replace_meta(NAME, fingerprint(pepper))
    return None if previous is None else not _same(previous, fingerprint(pepper))


def _same(recorded: str, mine: str) -> bool:
    return hmac.compare_digest(recorded.encode(), mine.encode())


def _compare(recorded: str, pepper: str | None) -> None:
    if _same(recorded, fingerprint(pepper)):
        return
    if not pepper:
        message = (f"{SETTING} is unset, but this database's codes are hashed with a pepper: "
                   f"set the same {SETTING} as the other processes on it (or drop the "
                   f"pepper on purpose with `{_ADOPT}`)")
    elif recorded == NO_PEPPER:
        message = (f"{SETTING} is set, but this database's codes are hashed without a "
                   f"pepper: unset {SETTING}, or adopt this pepper on purpose with "
                   f"`{_ADOPT}`")
    else:
        message = (f"{SETTING} differs from the pepper this database's codes are hashed "
                   f"with: set the same {SETTING} as the other processes on it, or adopt "
                   f"this pepper on purpose with `{_ADOPT}`")
    raise PepperMismatch(message)
