"""Codes at rest: argon2id PHC strings, optionally peppered with HMAC-SHA256."""

from __future__ import annotations

import hashlib
import hmac

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
    """

    def __init__(self, profile: str = "owasp", pepper: str | bytes | None = None) -> None:
        try:
            parameters = PROFILES[profile]
        except KeyError:
            names = ", ".join(sorted(PROFILES))
            raise ValueError(f"unknown argon2 profile {profile!r} (known: {names})") from None
        self.profile = profile
        self._hasher = PasswordHasher.from_parameters(parameters)
        self._pepper = pepper.encode() if isinstance(pepper, str) else pepper

    def _secret(self, code: str) -> bytes:
        if self._pepper:
            return hmac.new(self._pepper, code.encode(), hashlib.sha256).digest()
        return code.encode()

    def hash(self, code: str) -> str:
        """An argon2id PHC string for ``code``."""
        return self._hasher.hash(self._secret(code))

    def verify(self, phc: str, code: str) -> bool:
        """True when ``code`` is the one hashed into ``phc``."""
        try:
            return self._hasher.verify(phc, self._secret(code))
        except VerificationError:
            return False
        except InvalidHashError:
            raise ValueError("stored code hash is not an argon2 PHC string") from None
