"""Secrets never rest in clear: not in the SQLite file, its WAL, or the logs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tfa_engine import Engine, IssuedToken, MemoryGateway, SQLiteStore, catalogue
from tfa_engine._access import token_digest
from tfa_engine._hashing import CodeHasher
from tfa_engine.gateways import GatewayError

MakeEngine = Callable[..., Engine]  # the ``make_engine`` fixture
SendCode = Callable[..., tuple[str, str]]  # the ``send_code`` fixture

IP = "127.0.0.1"
PHONES = ("+447911123456", "+4915123456789", "+33612345678", "+12015550123")
CONFIG_TOKEN = "config-declared-token-0f3a9c2e71"
# Codes of 10+ characters: a 6-digit code could turn up by chance inside a 20-digit
# message id or a phone number, which would make the scan flaky, not stricter.
CODE_REQUESTS: tuple[dict[str, Any], ...] = (
    {"code_length": 10},
    {"code_length": 12, "code_type": "alpha"},
    {"code_length": 12, "code_type": "alphanumeric"},
    {"code_length": 14, "code_type": "alpha", "case_sensitive": True},
    {"code_length": 16, "code_type": "alphanumeric", "case_sensitive": True},
    {"code_length": 20},
)


@dataclass
class Run:
    """What a realistic run handed out in clear."""

    tokens: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    client_refs: list[tuple[str, str]] = field(default_factory=list)  # (token id, ref)

    def secrets(self) -> list[str]:
        """Every clear secret of the run."""
        return self.tokens + self.codes


def do_run(engine: Engine, send_code: SendCode, gateway: MemoryGateway) -> Run:
    """Create and declare tokens, send codes of every kind, validate right and wrong."""
    run = Run()
    first = engine.create_token("first")
    second = engine.create_token("second", allowed_ips=["127.0.0.0/8"])
    declared = engine.declare_token("from-config", CONFIG_TOKEN)
    run.tokens += [first.token, second.token, CONFIG_TOKEN]
    for number, fields in enumerate(CODE_REQUESTS):
        issued = first if number % 2 else second
        ref = f"ref-{number}"
        # One phone per (token, code): a second code to the same phone would supersede.
        phone = PHONES[(number // 2) % len(PHONES)]
        _, code = send_code(engine, issued.token, ref, phone, **fields)
        run.codes.append(code)
        run.client_refs.append((issued.record.id, ref))
    # Right on some, wrong on others, lowercase on a case-insensitive one.
    assert engine.validate_code(second.token, IP, "ref-0", run.codes[0]).ok
    assert engine.validate_code(first.token, IP, "ref-1", run.codes[1].lower()).ok
    assert engine.validate_code(second.token, IP, "ref-2", "WRONGWRONG12").status == (
        catalogue.DECLINED
    )
    assert engine.validate_code(first.token, IP, "ref-3", run.codes[3].swapcase()).status == (
        catalogue.DECLINED
    )
    _, code = send_code(engine, CONFIG_TOKEN, "cfg-ref", PHONES[0], code_length=11)
    run.codes.append(code)
    run.client_refs.append((declared.id, "cfg-ref"))
    gateway.failure = GatewayError("refused by the operator")
    refused = engine.request_code(first.token, IP, {"client_ref": "x", "phone_number": PHONES[1]})
    assert refused.status == catalogue.SYSTEM_ERROR
    gateway.failure = None
    return run


def raw_files(directory: Path) -> dict[str, bytes]:
    """The bytes of every file under ``directory``."""
    return {str(p): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def leaks(files: dict[str, bytes], secrets: list[str]) -> list[tuple[str, str]]:
    """Every (file, secret) pair where the secret's UTF-8 bytes occur in the file."""
    return [
        (name, secret)
        for name, data in files.items()
        for secret in secrets
        if secret.encode("utf-8") in data
    ]


@pytest.fixture
def run(engine: Engine, send_code: SendCode, gateway: MemoryGateway) -> Run:
    """A realistic run on the ``engine`` fixture's SQLite file."""
    return do_run(engine, send_code, gateway)


def test_no_clear_secret_in_the_open_database_files(
    run: Run, sqlite_store: SQLiteStore, sqlite_path: Path
) -> None:
    """While the store is open, the .db/-wal/-shm files hold no clear code or token."""
    files = raw_files(sqlite_path.parent)
    assert str(sqlite_path) in files
    assert any(name.endswith("-wal") for name in files)
    # The scan does see clear data: client_refs and phones are stored as text.
    assert leaks(files, ["cfg-ref", PHONES[0]])
    assert leaks(files, run.secrets()) == []


def test_no_clear_secret_in_the_closed_database_files(
    run: Run, sqlite_store: SQLiteStore, sqlite_path: Path
) -> None:
    """After closing the store, no file in its directory holds a clear code or token."""
    sqlite_store.close()
    files = raw_files(sqlite_path.parent)
    assert leaks(files, ["cfg-ref", PHONES[0]])
    assert leaks(files, run.secrets()) == []


def test_code_hashes_are_argon2id(run: Run, sqlite_store: SQLiteStore) -> None:
    """Every stored code is an argon2id PHC string."""
    hashes = []
    for token_id, ref in run.client_refs:
        record = sqlite_store.find_code(token_id, ref)
        assert record is not None
        hashes.append(record.code_hash)
    assert hashes
    assert all(h.startswith("$argon2id$v=19$") for h in hashes), hashes


def test_stored_code_hash_verifies_only_its_code(
    engine: Engine, issued: IssuedToken, send_code: SendCode, sqlite_store: SQLiteStore
) -> None:
    """The stored hash verifies the code sent and nothing else (it is the code's hash)."""
    _, code = send_code(engine, issued.token, "login")
    record = sqlite_store.find_code(issued.record.id, "login")
    assert record is not None
    assert code not in record.code_hash
    hasher = CodeHasher("test")
    assert hasher.verify(record.code_hash, code) is True
    assert hasher.verify(record.code_hash, str((int(code) + 1) % 10**6).zfill(6)) is False


def test_token_is_stored_as_its_digest(engine: Engine, sqlite_store: SQLiteStore) -> None:
    """A token's stored hash is not the token, nor contains it."""
    issued = engine.create_token("shop")
    declared = engine.declare_token("cfg", CONFIG_TOKEN)
    stored = {t.id: t.token_hash for t in sqlite_store.list_tokens()}
    for record_id, clear in ((issued.record.id, issued.token), (declared.id, CONFIG_TOKEN)):
        assert clear not in stored[record_id]
        assert stored[record_id] == token_digest(clear)


def test_peppered_hash_does_not_verify_without_the_pepper(
    make_engine: MakeEngine, send_code: SendCode, sqlite_store: SQLiteStore
) -> None:
    """With a pepper, the stored hash cannot be checked by a hasher lacking it."""
    engine = make_engine(pepper="kitchen-pepper-7d1")
    issued = engine.create_token("shop")
    _, code = send_code(engine, issued.token, "login")
    record = sqlite_store.find_code(issued.record.id, "login")
    assert record is not None
    assert CodeHasher("test").verify(record.code_hash, code) is False
    assert CodeHasher("test", pepper="kitchen-pepper-7d1").verify(record.code_hash, code)
    assert engine.validate_code(issued.token, IP, "login", code).status == catalogue.VALID


def test_logs_hold_no_secret_and_only_masked_phones(
    engine: Engine, send_code: SendCode, gateway: MemoryGateway, caplog: pytest.LogCaptureFixture
) -> None:
    """At DEBUG on every logger: no clear code or token, and no full phone number."""
    caplog.set_level(logging.DEBUG)
    run = do_run(engine, send_code, gateway)
    engine.purge()
    text = caplog.text + "\n".join(
        f"{record.getMessage()} {record.exc_text or ''}" for record in caplog.records
    )
    # The run did log (sends and the gateway refusal), so the checks below can bite.
    assert "message_id=" in text
    assert [s for s in run.secrets() if s in text] == []
    for phone in PHONES:
        national = phone[-9:]  # the subscriber digits, as a log might print them
        assert phone not in text
        assert national not in text
