"""After the attack suite (the ``attack_scan`` mark: tests/attacks/conftest.py runs this
module after every other attack test, on the same worker): what the attacks left behind
holds no secret, and the audit trail is complete and well formed.

* No SQLite file any attack wrote (with its -wal and -shm) holds an issued code or token.
* No log record of this process, no line any ``tfa`` process printed, holds an issued
  code, a token (issued or guessed) or a full phone number.
* Every event of ``tfa_engine.audit.EVENTS`` was logged, and every audit record formats
  through ``JsonFormatter`` as one JSON line with its fields (processes ran with
  TFA_LOG_FORMAT=json: their audit lines are parsed as they are).

When the whole attack suite ran, it alone must have produced every event. When this
module runs alone (or with part of the suite), it first produces what is missing itself:
an in-process run that triggers every event on a SQLite file, and a short ``tfa serve``
run for log lines of a process.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import pytest
from attack_collector import Collector, database_files, find_leaks, keeping_logs
from attack_kit import (
    CODE_FIELDS,
    IP,
    create_token_cli,
    gateway_of,
    issue,
    make_engine,
    request_code,
    send,
    service_env,
    start_service,
    stopping,
    validate,
)
from fake_clock import FakeClock

from tfa_engine import RateLimit, SQLiteStore, catalogue
from tfa_engine.adapters.server.logs import JsonFormatter
from tfa_engine.audit import EVENTS

pytestmark = pytest.mark.attack_scan

MASKED = re.compile(r"^(\+\d\d\*+\d\d|\*+)$")
THIS = Path(__file__).name


def whole_suite_ran(request: pytest.FixtureRequest) -> bool:
    """True when every attack module was part of this session."""
    here = Path(__file__).parent
    modules = {p.name for p in here.glob("test_*.py")}
    selected = {item.path.name for item in request.session.items if item.path.parent == here}
    return selected >= modules


def produce_every_event(workdir: Path) -> None:
    """Every audit event, in this process, on a SQLite file (reported to the collector)."""
    clock = FakeClock()
    engine = make_engine(
        SQLiteStore(workdir / "every-event.db"), clock=clock, max_attempts=2,
        limit_phone_sends=RateLimit(1, 600), fraud_min_sends=2,
    )
    try:
        issued = issue(engine, "every-event")  # token.created
        token = issued.token
        sent = send(engine, token, "right", "+447400900001")  # code.sent
        code = gateway_of(engine).code_of(sent.result["message_id"])
        assert engine.validate_code(token, IP, "right", code).ok  # code.valid
        assert engine.validate_code(token, IP, "right", code).status == (
            catalogue.INVALID)  # code.replayed
        assert engine.validate_code(token, IP, "nowhere", code).status == (
            catalogue.CODE_NOT_FOUND)  # ref.unknown
        send(engine, token, "guessed", "+447400900002")
        for _ in range(2):  # code.declined, then code.locked
            engine.validate_code(token, IP, "guessed", "A" * 12)
        assert engine.validate_code(token, IP, "guessed", "A" * 12).status == (
            catalogue.INVALID)  # code.dead
        assert send(engine, token, "again", "+447400900002").status == (
            catalogue.RATE_LIMITED)  # rate.limited
        assert engine.validate_code("not-a-token", IP, "x", "y").status == (
            catalogue.TOKEN_INVALID)  # token.invalid
        fenced = issue(engine, "fenced", allowed_ips=["10.0.0.0/8"]).token
        assert engine.validate_code(fenced, IP, "x", "y").status == (
            catalogue.IP_NOT_ALLOWED)  # ip.refused
        gb = issue(engine, "gb", allowed_destinations=["GB"]).token
        assert send(engine, gb, "sat", "+881612345678").status == (
            catalogue.DESTINATION_REFUSED)  # destination.refused
        thrifty = issue(engine, "thrifty", sms_budget=RateLimit(1, 600)).token
        assert send(engine, thrifty, "b-0", "+447400900003").ok
        assert send(engine, thrifty, "b-1", "+447400900004").status == (
            catalogue.BUDGET_EXHAUSTED)  # budget.exhausted
        assert send(engine, token, "callback", "+447400900005",
                    callback_url="http://127.0.0.1/hook").status == (
            catalogue.CALLBACK_INVALID)  # callback.refused
        for number in (6, 7):
            assert send(engine, token, f"pump-{number}", f"+44791110000{number}").ok
        assert send(engine, token, "pump-8", "+447911100008").status == (
            catalogue.FRAUD_HELD)  # fraud.held
        assert engine.release_range(issued.record.id, "+44791")  # fraud.released
        engine.update_token("thrifty", sms_budget=RateLimit(2, 600))  # token.updated
        engine.rotate_token("thrifty")  # token.rotated
        assert engine.revoke_token(issued.record.id)  # token.revoked
    finally:
        engine.store.close()


def produce_service_logs(workdir: Path) -> None:
    """A ``tfa serve`` run with JSON logs: a token created by the command line, a code
    sent, guessed at twice and validated against with a bad token."""
    env = service_env(workdir, TFA_GATEWAY="memory")
    token = create_token_cli(workdir, env, "zz")["token"]
    service = start_service(workdir, env)
    with stopping(service):
        assert request_code(service.base_url, token, "zz", "+447400900009").code == 0
        for _ in range(2):
            assert validate(service.base_url, token, "zz", "A" * 12).code == -54
        assert validate(service.base_url, "00000000-0000-4000-8000-000000000000", "zz",
                        "A" * 12).code == -50


@pytest.fixture(scope="module")
def evidence(collected: Collector, request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> Collector:
    """What the suite left, completed here when only part of the suite ran."""
    if whole_suite_ran(request):
        return collected
    if set(EVENTS) - collected.events() or not collected.databases:
        with keeping_logs():
            produce_every_event(tmp_path_factory.mktemp("zz-every-event"))
    if not collected.audit_lines():
        produce_service_logs(tmp_path_factory.mktemp("zz-service"))
    return collected


def test_every_audit_event_was_logged(evidence: Collector) -> None:
    missing = set(EVENTS) - evidence.events()
    assert not missing, f"never logged: {sorted(missing)}"


def test_every_audit_record_is_one_json_line_with_its_fields(evidence: Collector) -> None:
    """Records of this process through JsonFormatter, and the processes' own lines: each
    one JSON object on one line, with UTC ``time``, ``event`` and the masked ``phone``."""
    formatter = JsonFormatter()
    entries = []
    for record in evidence.audit_records():
        line = formatter.format(record)
        assert "\n" not in line and "\r" not in line
        entry = json.loads(line)
        assert entry["event"] == record.audit["event"]  # type: ignore[attr-defined]
        entries.append(entry)
    entries += evidence.audit_lines()
    assert entries
    for entry in entries:
        assert entry["logger"] == "tfa.audit" and entry["event"] in EVENTS, entry
        assert entry["time"].endswith("Z")
        assert datetime.fromisoformat(entry["time"].replace("Z", "+00:00")).utcoffset() == (
            datetime.fromisoformat("2000-01-01T00:00:00+00:00").utcoffset())
        if "phone" in entry:
            assert MASKED.match(entry["phone"]), entry
        if entry["event"].startswith("code."):
            assert entry.get("token_id") and entry.get("message_id"), entry
    assert {entry["event"] for entry in entries} >= set(EVENTS)


def test_no_database_file_holds_a_code_or_a_token(evidence: Collector) -> None:
    codes, tokens, phones = evidence.snapshot()
    assert codes and tokens
    files = [f for database in sorted(evidence.databases) for f in database_files(database)]
    assert files, "no database file to look at"
    leaks = []
    holding_a_phone = 0
    for file in files:
        text = file.read_bytes().decode("latin-1")
        leaks += find_leaks(str(file), text, codes, tokens, set())
        holding_a_phone += bool(find_leaks(str(file), text, set(), set(), phones))
    assert leaks == [], leaks[:10]
    # The scan reads real data: phones are stored in clear (they must be), and found.
    assert holding_a_phone > 0


def test_no_log_holds_a_code_a_token_or_a_phone(evidence: Collector) -> None:
    codes, tokens, phones = evidence.snapshot()
    formatter = JsonFormatter()
    records = "\n".join(
        f"{formatter.format(r)}\n{r.getMessage()}" for r in list(evidence.records)
    )
    lines = "\n".join(line for _, line in evidence.process_lines())
    assert "message_id=" in records + lines and "+44*" in records + lines
    leaks = find_leaks("records", records, codes, tokens, phones)
    leaks += find_leaks("process output", lines, codes, tokens, phones)
    assert leaks == [], leaks[:10]


def test_the_scan_finds_what_it_looks_for() -> None:
    """The leak finder sees a code inside a longer word, in lower case, a token, and a
    phone with or without its plus, and nothing in a masked phone."""
    code, token, phone = "K7QX2MZP9WAB", "5f1c0a9e-1d2f-4a6c-8e0b-2f4d6a8c0e1b", "+447400900001"
    text = f"x{code.lower()}y token={token.upper()} to=447400900001 to=+44*******01"
    kinds = sorted(leak.kind for leak in find_leaks("t", text, {code}, {token}, {phone}))
    assert kinds == ["code", "phone", "token"]
    assert find_leaks("t", "to=+44*******01 id=12345678901234567890", {code}, {token},
                      {phone}) == []
    assert CODE_FIELDS["code_length"] >= 10
