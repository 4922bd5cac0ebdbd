"""argon2id hashing of codes, with and without a pepper."""

from __future__ import annotations

import pytest
from argon2 import Type

from tfa_engine._hashing import PROFILES, CodeHasher


@pytest.fixture
def hasher() -> CodeHasher:
    """The cheap test profile without a pepper."""
    return CodeHasher("test")


def test_hash_is_an_argon2id_phc_string(hasher: CodeHasher) -> None:
    """A hash is an argon2id PHC string."""
    assert hasher.hash("123456").startswith("$argon2id$v=19$")


def test_hash_does_not_hold_the_code(hasher: CodeHasher) -> None:
    """The clear code does not appear in its hash."""
    assert "482913" not in hasher.hash("482913")


def test_hashes_are_salted(hasher: CodeHasher) -> None:
    """Hashing one code twice gives two different strings."""
    assert hasher.hash("123456") != hasher.hash("123456")


def test_right_code_verifies(hasher: CodeHasher) -> None:
    """The hashed code verifies."""
    assert hasher.verify(hasher.hash("123456"), "123456") is True


@pytest.mark.parametrize("wrong", ["123457", "12345", "1234567", "", "abcdef"])
def test_wrong_code_does_not_verify(hasher: CodeHasher, wrong: str) -> None:
    """Any other code does not verify (False, no exception)."""
    assert hasher.verify(hasher.hash("123456"), wrong) is False


def test_pepper_is_needed_to_verify() -> None:
    """A peppered hash verifies only with the same pepper."""
    phc = CodeHasher("test", "pepper-a").hash("123456")
    assert CodeHasher("test", "pepper-a").verify(phc, "123456") is True
    assert CodeHasher("test", "pepper-b").verify(phc, "123456") is False
    assert CodeHasher("test").verify(phc, "123456") is False


def test_unpeppered_hash_fails_with_a_pepper() -> None:
    """Adding a pepper later makes earlier hashes fail."""
    phc = CodeHasher("test").hash("123456")
    assert CodeHasher("test", "pepper-a").verify(phc, "123456") is False


def test_pepper_as_text_or_bytes_is_the_same() -> None:
    """A pepper given as str verifies what the same bytes hashed."""
    phc = CodeHasher("test", b"pepper-a").hash("123456")
    assert CodeHasher("test", "pepper-a").verify(phc, "123456") is True


@pytest.mark.parametrize(
    ("profile", "parameters"),
    [
        pytest.param("owasp", "m=19456,t=2,p=1", id="owasp"),
        pytest.param("test", "m=8,t=1,p=1", id="test"),
        pytest.param("rfc9106-low-memory", "m=65536,t=3,p=4", id="rfc9106-low-memory"),
    ],
)
def test_profile_parameters_appear_in_the_hash(profile: str, parameters: str) -> None:
    """Each named profile hashes with its documented argon2id parameters."""
    hasher = CodeHasher(profile)
    phc = hasher.hash("123456")
    assert phc.startswith(f"$argon2id$v=19${parameters}$")
    assert hasher.verify(phc, "123456")


def test_owasp_profile_is_the_owasp_minimum() -> None:
    """The default profile is argon2id with m=19 MiB, t=2, p=1."""
    owasp = PROFILES["owasp"]
    assert (owasp.type, owasp.memory_cost, owasp.time_cost, owasp.parallelism) == (
        Type.ID,
        19 * 1024,
        2,
        1,
    )


def test_default_profile_is_owasp() -> None:
    """Without a profile name the OWASP profile is used."""
    assert CodeHasher().profile == "owasp"


def test_unknown_profile_is_a_value_error() -> None:
    """An unknown profile name raises ValueError naming the known ones."""
    with pytest.raises(ValueError, match="owasp"):
        CodeHasher("fastest")


def test_verifying_against_a_non_phc_string_raises(hasher: CodeHasher) -> None:
    """A stored hash that is not a PHC string is a ValueError, not a silent False."""
    with pytest.raises(ValueError, match="PHC"):
        hasher.verify("not-a-hash", "123456")


def test_a_hash_verifies_under_another_profile(hasher: CodeHasher) -> None:
    """Changing the profile keeps old hashes valid (parameters travel in the string)."""
    phc = hasher.hash("123456")
    assert CodeHasher("owasp").verify(phc, "123456") is True


def test_hashes_beyond_the_limit_wait_for_a_slot() -> None:
    """With max_concurrent=1, a second hash starts only when the first has finished."""
    import threading
    import time

    hasher = CodeHasher("test", max_concurrent=1)
    active = 0
    peak = 0
    lock = threading.Lock()
    real = hasher._hasher

    class Tracked:
        def hash(self, secret: bytes) -> str:
            nonlocal active, peak
            with lock:
                active += 1
                peak = max(peak, active)
            time.sleep(0.02)  # hold the slot long enough for the threads to overlap
            with lock:
                active -= 1
            return real.hash(secret)

    hasher._hasher = Tracked()  # type: ignore[assignment]
    threads = [threading.Thread(target=hasher.hash, args=("123456",)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert peak == 1


def test_max_concurrent_below_one_is_refused() -> None:
    """A limit of zero would deadlock every request: it is a ValueError."""
    with pytest.raises(ValueError, match="at least 1"):
        CodeHasher("test", max_concurrent=0)


def test_memory_hard_profile_hashes_on_dedicated_threads() -> None:
    """At owasp cost, hashing runs on the hasher's own threads and still verifies."""
    import threading

    hasher = CodeHasher("owasp", max_concurrent=1)
    seen: list[str] = []
    real = hasher._hasher

    class Recording:
        def hash(self, secret: bytes) -> str:
            seen.append(threading.current_thread().name)
            return real.hash(secret)

        def verify(self, phc: str, secret: bytes) -> bool:
            seen.append(threading.current_thread().name)
            return real.verify(phc, secret)

    hasher._hasher = Recording()  # type: ignore[assignment]
    try:
        phc = hasher.hash("123456")
        assert hasher.verify(phc, "123456")
        assert not hasher.verify(phc, "654321")
    finally:
        hasher.close()
    assert len(seen) == 3
    assert all(name.startswith("argon2") for name in seen)
