"""Attack: API tokens guessed, used from the wrong place, or stolen and then revoked,
against a real ``tfa serve`` process. Each refusal is an audit line of the service's
JSON log (TFA_LOG_FORMAT=json), which never holds the token that was tried."""

from __future__ import annotations

import json
import uuid
from typing import Any

from attack_collector import COLLECTED
from attack_kit import Served, call, create_token_cli, request_code, run_cli, validate

PHONE = "+447400400001"


def audit_lines(served: Served, event: str, since: int, count: int) -> list[dict[str, Any]]:
    """The first ``count`` audit lines of ``event`` the service logged after ``since``."""

    def found(lines: list[str]) -> list[dict[str, Any]] | None:
        entries = [json.loads(line) for line in lines[since:] if line.startswith("{")]
        hits = [e for e in entries if e.get("logger") == "tfa.audit" and e["event"] == event]
        return hits[:count] if len(hits) >= count else None

    return served.process.wait_until(found, f"{count} audit line(s) {event}")


def test_guessed_tokens_are_refused_and_logged_without_the_guess(served: Served) -> None:
    """30 random tokens in the UUID form real ones have: each -50 (HTTP 401), and one
    token.invalid line each, naming no token."""
    mark = served.process.mark()
    guesses = [str(uuid.uuid4()) for _ in range(30)]
    for guess in guesses:
        COLLECTED.token(guess)  # the final scan checks no log holds it
        reply = request_code(served.url, guess, "guess", PHONE)
        assert (reply.status, reply.code) == (401, -50)
    lines = audit_lines(served, "token.invalid", mark, 30)
    assert all(line["client_ip"] == "127.0.0.1" and "token_id" not in line for line in lines)


def test_forwarded_for_from_an_untrusted_peer_does_not_pass_an_allowlist(
    served: Served,
) -> None:
    """A token allowed from 10.0.0.0/8, used from 127.0.0.1 with X-Forwarded-For:
    10.1.2.3 (no trusted proxy configured): -67 (HTTP 400), logged as ip.refused from
    127.0.0.1."""
    created = create_token_cli(served.workdir, served.env, "fenced", "--allow-ip", "10.0.0.0/8")
    mark = served.process.mark()
    reply = call(
        served.url, "POST", "/1/2fa", token=created["token"],
        body={"client_ref": "spoof", "phone_number": PHONE},
        headers={"X-Forwarded-For": "10.1.2.3", "Forwarded": "for=10.1.2.3"},
    )
    assert (reply.status, reply.code) == (400, -67)
    (line,) = audit_lines(served, "ip.refused", mark, 1)
    assert (line["token_id"], line["client_ip"]) == (created["id"], "127.0.0.1")


def test_revoked_token_is_refused_at_once(served: Served) -> None:
    """A stolen token revoked with ``tfa token revoke`` while the service runs: its very
    next request and validation are -50; the revocation is an audit line."""
    created = create_token_cli(served.workdir, served.env, "stolen")
    token = created["token"]
    sent = request_code(served.url, token, "stolen-0", PHONE)
    assert (sent.status, sent.code) == (201, 0)
    run_cli(served.workdir, served.env, "token", "revoke", created["id"])
    assert validate(served.url, token, "stolen-0", "ABCDEFGHJKLM").code == -50
    assert request_code(served.url, token, "stolen-1", PHONE).code == -50
    revoked = [json.loads(line) for source, line in COLLECTED.process_lines()
               if source == "tfa token revoke" and line.startswith("{")]
    assert [(e["event"], e["token_id"]) for e in revoked if e.get("logger") == "tfa.audit"] == [
        ("token.revoked", created["id"])]


def test_a_leaked_token_rotated_and_narrowed_is_dead_at_once(served: Served) -> None:
    """A leaked token is rotated (and its allowlist narrowed) with the CLI while the service
    runs: the leaked value is -50 on its very next request, the new value works from the
    allowed place only, and both changes are audit lines naming no token."""
    created = create_token_cli(served.workdir, served.env, "leaked")
    rotated = json.loads(run_cli(served.workdir, served.env, "token", "rotate", "leaked",
                                 "--json"))
    COLLECTED.token(rotated["token"])
    assert rotated["id"] == created["id"] and rotated["token"] != created["token"]
    assert request_code(served.url, created["token"], "leak-0", PHONE).code == -50
    assert request_code(served.url, rotated["token"], "leak-1", PHONE).code == 0
    run_cli(served.workdir, served.env, "token", "update", "leaked", "--allow-ip", "10.9.9.9")
    assert request_code(served.url, rotated["token"], "leak-2", PHONE).code == -67
    events = [json.loads(line) for source, line in COLLECTED.process_lines()
              if source.startswith("tfa token") and line.startswith("{")]
    audit = [(e["event"], e["token_id"]) for e in events if e.get("logger") == "tfa.audit"]
    assert ("token.rotated", created["id"]) in audit
    assert ("token.updated", created["id"]) in audit
