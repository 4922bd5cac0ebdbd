"""Codes at rest: argon2id PHC strings, optionally peppered with HMAC-SHA256."""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import Parameters, PasswordHasher, Type, profiles
from argon2.exceptions import InvalidHashError, VerificationError

T = TypeVar("T")

# Profiles using at least this much memory (KiB) hash on dedicated threads; see CodeHasher.
DEDICATED_THREADS_FROM_KIB = 1024

# Named parameter sets. ``owasp`` is the OWASP minimum for argon2id (m=19 MiB, t=2, p=1):
# ~30 ms a hash here, cheap enough for a per-request path; ``test`` is argon2's cheapest.
PROFILES = {
    "owasp": Parameters(
        type=Type.ID,
        version=19,
        salt_len=16,
        hash_len=32,
        time_cost=2,
        memory_cost=19 * 1024,
        parallelism=1,
    ),
    "test": profiles.CHEAPEST,
    "rfc9106-low-memory": profiles.RFC_9106_LOW_MEMORY,
}


class CodeHasher:
    """Hashes and verifies codes with one argon2 parameter set, built once.

    With a pepper, the code is first MACed with it, so a stolen database alone cannot be
    brute-forced even though codes are short.

    At most ``max_concurrent`` hashes run at once (default: one per CPU). A server keeps
    many threads so that requests waiting on the SMS gateway do not hold up others, but
    argon2 is CPU- and memory-bound (19 MiB each at ``owasp``): more parallel hashes than
    cores only add memory, not throughput. Memory-hard profiles hash on that many
    dedicated threads: glibc keeps a freed buffer in the arena of the thread that used
    it, so hashing on any of 32 request threads left up to 16 arenas holding 19 MiB each
    (server RSS 570-720 MiB measured); on a few dedicated threads the buffers are reused.
    """

    def __init__(
        self,
        profile: str = "owasp",
        pepper: str | bytes | None = None,
        *,
        max_concurrent: int | None = None,
    ) -> None:
        try:
            parameters = PROFILES[profile]
        except KeyError:
            names = ", ".join(sorted(PROFILES))
            raise ValueError(f"unknown argon2 profile {profile!r} (known: {names})") from None
        self.profile = profile
        self._hasher = PasswordHasher.from_parameters(parameters)
        self._pepper = pepper.encode() if isinstance(pepper, str) else pepper
        limit = max_concurrent if max_concurrent is not None else (os.cpu_count() or 2)
        if limit < 1:
            raise ValueError("max_concurrent must be at least 1")
        self._slots = threading.BoundedSemaphore(limit)
        self._pool = (
            ThreadPoolExecutor(max_workers=limit, thread_name_prefix="argon2")
            if parameters.memory_cost >= DEDICATED_THREADS_FROM_KIB
            else None
        )

    def _run(self, work: Callable[..., T], *args: object) -> T:
        if self._pool is not None:
            return self._pool.submit(work, *args).result()
        with self._slots:
            return work(*args)

    def close(self) -> None:
        """Stop the dedicated hashing threads, if any."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def _secret(self, code: str) -> bytes:
        if self._pepper:
            return hmac.new(self._pepper, code.encode(), hashlib.sha256).digest()
        return code.encode()

    def hash(self, code: str) -> str:
        """An argon2id PHC string for ``code``."""
        return self._run(self._hasher.hash, self._secret(code))

    def verify(self, phc: str, code: str) -> bool:
        """True when ``code`` is the one hashed into ``phc``."""
        try:
            return self._run(self._hasher.verify, phc, self._secret(code))
        except VerificationError:
            return False
        except InvalidHashError:
            raise ValueError("stored code hash is not an argon2 PHC string") from None
