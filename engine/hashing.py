"""Codes at rest: argon2id PHC strings, optionally peppered with HMAC-SHA256."""

from __future__ import annotations

import hashlib
import hmac
import os
import threading

from argon2 import Parameters, PasswordHasher, Type, profiles
from argon2.exceptions import InvalidHashError, VerificationError

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
    cores only add memory, not throughput.
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

    def _secret(self, code: str) -> bytes:
        if self._pepper:
            return hmac.new(self._pepper, code.encode(), hashlib.sha256).digest()
        return code.encode()

    def hash(self, code: str) -> str:
        """An argon2id PHC string for ``code``."""
        secret = self._secret(code)
        with self._slots:
            return self._hasher.hash(secret)

    def verify(self, phc: str, code: str) -> bool:
        """True when ``code`` is the one hashed into ``phc``."""
        secret = self._secret(code)
        try:
            with self._slots:
                return self._hasher.verify(phc, secret)
        except VerificationError:
            return False
        except InvalidHashError:
            raise ValueError("stored code hash is not an argon2 PHC string") from None
