"""Attack: limits counted at the right moment and for the right party, through a real
``tfa serve`` (and, where only a count tells, in process).

* Every authenticated request counts against its token's request limit right after the
  IP allowlist: a request over the limit costs no body parsing, no DNS lookup of a
  callback host and no hash (SPEC 2.1).
* Failed validations are capped per (token, phone): one tenant's guesses never lock the
  phone out for another tenant's users.
"""

from __future__ import annotations

from pathlib import Path

from attack_kit import (
    CODE_FIELDS,
    RecordingGateway,
    code_in,
    create_token_cli,
    issue,
    request_code,
    service_env,
    sim_messages,
    start_service,
    start_simulator,
    stopping,
    validate,
)
from fake_clock import FakeClock

from tfa_engine import Engine, EngineConfig, RateLimit, catalogue
from tfa_engine.store import Store

GATEWAY = ("limits", "limits-gateway-pass")
PHONE = "+447400600001"
RATE_LIMITED = (catalogue.RATE_LIMITED.http, catalogue.RATE_LIMITED.code)
CALLBACK_REFUSED = (catalogue.CALLBACK_INVALID.http, catalogue.CALLBACK_INVALID.code)


def test_requests_over_the_token_limit_are_refused_before_their_body_is_checked(
    tmp_path: Path,
) -> None:
    """TFA_LIMIT_TOKEN_REQUESTS=1/60 and five requests whose callback_url is refused:
    the first is -61, the four after it are -70 (they were never looked at)."""
    env = service_env(tmp_path, TFA_GATEWAY="memory", TFA_LIMIT_TOKEN_REQUESTS="1/60")
    token = create_token_cli(tmp_path, env, "limited")["token"]
    service = start_service(tmp_path, env)
    with stopping(service):
        replies = [
            request_code(service.base_url, token, f"hook-{n}", PHONE,
                         callback_url="http://10.0.0.1/hook")
            for n in range(5)
        ]
    assert [(r.status, r.code) for r in replies] == [CALLBACK_REFUSED] + [RATE_LIMITED] * 4
    assert all(r.headers.get("retry-after") for r in replies[1:])


def test_a_request_over_the_token_limit_makes_no_dns_lookup(
    backend: Store, clock: FakeClock
) -> None:
    """In process, with a resolver that counts: five requests with a callback host under a
    1/60 limit make one lookup, the first request's."""
    lookups: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["10.0.0.1"]  # a private address: the request is refused -61

    engine = Engine(backend, RecordingGateway(),
                    EngineConfig(argon2_profile="test", limit_token_requests=RateLimit(1, 60)),
                    clock=clock, resolver=resolver)
    token = issue(engine, "counted").token
    answers = [
        engine.request_code(token, "127.0.0.1", {
            "client_ref": f"hook-{n}", "phone_number": PHONE, **CODE_FIELDS,
            "callback_url": "https://hooks.example.com/tfa"})
        for n in range(5)
    ]
    assert [a.status for a in answers] == (
        [catalogue.CALLBACK_INVALID] + [catalogue.RATE_LIMITED] * 4)
    assert lookups == ["hooks.example.com"]


def test_one_tenants_failed_guesses_do_not_lock_out_another_tenants_user(
    tmp_path: Path,
) -> None:
    """TFA_LIMIT_PHONE_FAILURES=2/3600: token A's client guesses wrong until -70 on a
    phone; token B's code to the same phone still validates."""
    sim = start_simulator(tmp_path, *GATEWAY)
    with stopping(sim):
        env = service_env(
            tmp_path, TFA_GATEWAY="mediariver", TFA_MEDIARIVER_URL=sim.base_url,
            TFA_MEDIARIVER_USERNAME=GATEWAY[0], TFA_MEDIARIVER_PASSWORD=GATEWAY[1],
            TFA_LIMIT_PHONE_FAILURES="2/3600",
        )
        tenant_a = create_token_cli(tmp_path, env, "tenant-a")["token"]
        tenant_b = create_token_cli(tmp_path, env, "tenant-b")["token"]
        service = start_service(tmp_path, env)
        with stopping(service):
            url = service.base_url
            assert request_code(url, tenant_a, "a-1", PHONE).code == 0
            guesses = [validate(url, tenant_a, "a-1", "A" * 12).code for _ in range(3)]
            assert guesses == [catalogue.DECLINED.code] * 2 + [catalogue.RATE_LIMITED.code]
            assert request_code(url, tenant_b, "b-1", PHONE).code == 0
            code = code_in(sim_messages(sim.base_url)[-1]["message"])
            assert validate(url, tenant_b, "b-1", code).code == catalogue.VALID.code
