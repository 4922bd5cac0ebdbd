"""What the attack suite (tests/attacks) leaves behind, gathered for its last check.

Every attack test feeds :data:`COLLECTED`: the codes, tokens and phone numbers it issued,
the SQLite files its engines and services wrote, the log records of the ``tfa`` loggers
in this process, and the output of every ``tfa`` process it ran. ``test_zz_no_secrets_left``
then asserts that no file and no log line holds a code, a token or (in logs) a full phone
number, and that every audit event was logged in a form the JSON formatter writes.

One object per test process (a module attribute), so it outlives every fixture scope;
the attack suite's conftest feeds it through fixtures and a logging handler.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

# Issued codes are long on purpose (``CODE_FIELDS`` of attack_kit): a 6-digit code can
# occur by chance inside a 20-digit message id or any stored number, a 12-character
# alphanumeric one cannot, so a hit is a leak and never luck.
MIN_CODE_LENGTH = 10
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_WORD = re.compile(r"[A-Za-z0-9]+")
_DIGITS = re.compile(r"[0-9]+")


class HasLines(Protocol):
    """A running ``tfa`` process (tfa_processes.TfaProcess): its output lines."""

    lines: list[str]


@dataclass(frozen=True)
class Leak:
    """A secret found where it must not be."""

    where: str
    kind: str
    secret: str


class Collector:
    """Everything issued, written and logged by the attack tests (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.codes: set[str] = set()
        self.tokens: set[str] = set()
        self.phones: set[str] = set()
        self.databases: set[Path] = set()
        self.records: list[logging.LogRecord] = []
        self._processes: list[tuple[str, HasLines]] = []
        self._outputs: list[tuple[str, list[str]]] = []

    # -- feeding ---------------------------------------------------------------------------
    def code(self, code: str) -> None:
        """A code that went out in an SMS."""
        if len(code) < MIN_CODE_LENGTH:
            raise AssertionError(
                f"attack tests issue codes of {MIN_CODE_LENGTH}+ characters, not {code!r}"
            )
        with self._lock:
            self.codes.add(code)

    def token(self, token: str) -> None:
        """An API token handed out in clear."""
        with self._lock:
            self.tokens.add(token)

    def phone(self, phone: str) -> None:
        """A phone number (E.164) a code was requested for."""
        with self._lock:
            self.phones.add(phone)

    def database(self, path: str | Path) -> None:
        """An SQLite file (its -wal and -shm siblings are read too)."""
        with self._lock:
            self.databases.add(Path(path))

    def record(self, record: logging.LogRecord) -> None:
        """A log record of a ``tfa`` logger of this process."""
        with self._lock:
            self.records.append(record)

    def process(self, name: str, process: HasLines) -> None:
        """A ``tfa`` process whose output is read at the end."""
        with self._lock:
            self._processes.append((name, process))

    def output(self, name: str, lines: Iterable[str]) -> None:
        """The output of a finished ``tfa`` command."""
        with self._lock:
            self._outputs.append((name, list(lines)))

    # -- reading ---------------------------------------------------------------------------
    def process_lines(self) -> list[tuple[str, str]]:
        """(source, line) of every line every process and command printed."""
        with self._lock:
            sources = [(name, list(p.lines)) for name, p in self._processes] + list(
                self._outputs
            )
        return [(name, line) for name, lines in sources for line in lines]

    def audit_records(self) -> list[logging.LogRecord]:
        """The in-process records of the ``tfa.audit`` logger."""
        with self._lock:
            return [r for r in self.records if r.name == "tfa.audit"]

    def audit_lines(self) -> list[dict[str, Any]]:
        """The JSON audit lines the processes wrote (TFA_LOG_FORMAT=json)."""
        found = []
        for _, line in self.process_lines():
            if not line.startswith("{"):
                continue
            entry = json.loads(line)
            if entry.get("logger") == "tfa.audit":
                found.append(entry)
        return found

    def events(self) -> set[str]:
        """Every audit event seen, in this process or in a process's JSON lines."""
        seen = {getattr(r, "audit", {}).get("event") for r in self.audit_records()}
        seen |= {entry.get("event") for entry in self.audit_lines()}
        return {event for event in seen if isinstance(event, str)}

    def snapshot(self) -> tuple[set[str], set[str], set[str]]:
        """(codes, tokens, phones) issued so far."""
        with self._lock:
            return set(self.codes), set(self.tokens), set(self.phones)


def find_leaks(
    where: str, text: str, codes: set[str], tokens: set[str], phones: set[str]
) -> list[Leak]:
    """Every code, token and phone of the given sets that ``text`` holds.

    Linear in the text: candidate words are cut out once and looked up in the sets
    (a code hides in any run of letters and digits, so each run's substrings of the
    codes' lengths are looked up, case-insensitively).
    """
    leaks: list[Leak] = []
    if tokens:
        lowered = {t.lower() for t in tokens}
        leaks += [Leak(where, "token", m) for m in _UUID.findall(text) if m.lower() in lowered]
    if codes:
        upper = {c.upper() for c in codes}
        lengths = sorted({len(c) for c in upper})
        for word in _WORD.findall(text):
            if len(word) < lengths[0]:
                continue
            word = word.upper()
            for length in lengths:
                for start in range(len(word) - length + 1):
                    if word[start : start + length] in upper:
                        leaks.append(Leak(where, "code", word[start : start + length]))
    if phones:
        # A full number, with or without its "+"; masked forms keep 2 digits only.
        spelled = {p.lstrip("+"): p for p in phones}
        lengths = sorted({len(s) for s in spelled})
        for run in _DIGITS.findall(text):
            for length in lengths:
                for start in range(len(run) - length + 1):
                    if run[start : start + length] in spelled:
                        leaks.append(Leak(where, "phone", spelled[run[start : start + length]]))
    return leaks


def database_files(path: Path) -> list[Path]:
    """The file of an SQLite database and its -wal/-shm/-journal siblings that exist."""
    return [p for p in (path, *(Path(f"{path}{s}") for s in ("-wal", "-shm", "-journal")))
            if p.exists()]


COLLECTED = Collector()


class _Keeper(logging.Handler):
    """Hands every record to the collector."""

    def emit(self, record: logging.LogRecord) -> None:
        COLLECTED.record(record)


@contextmanager
def keeping_logs() -> Iterator[None]:
    """The ``tfa`` loggers at DEBUG inside the block, every record kept by the collector
    (their level and handlers as they were afterwards)."""
    logger = logging.getLogger("tfa")
    handler = _Keeper(logging.DEBUG)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
