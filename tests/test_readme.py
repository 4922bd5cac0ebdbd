"""The README and the pages it links are the user's catalogue: every status, setting,
command and tox environment has its row, and what they show runs."""

import configparser
import re
import shlex
from typing import Any

import pytest
from user_docs import README, ROOT, code_blocks, page, section

from tfa_engine import catalogue
from tfa_engine._callbacks import CallbackSigner
from tfa_engine.adapters.server.settings import SETTING_KEYS, variable_name

HTTP_API = page("docs/http-api.md")


@pytest.mark.parametrize("status", catalogue.CATALOGUE, ids=lambda s: s.name)
def test_readme_lists_status(status: catalogue.Status) -> None:
    """Each status has a row of the HTTP API page's catalogue: code, HTTP status, exact text."""
    row = f"| {status.code} | {status.http} | {status.text}"
    assert row in section(HTTP_API, "Status catalogue")


@pytest.mark.parametrize("key", SETTING_KEYS)
def test_configuration_table_documents_setting(key: str) -> None:
    """Every setting has a row of the Configuration table naming its variable in full."""
    rows = [line for line in page("docs/configuration.md").splitlines() if line.startswith("| `")]
    assert any(f"`{variable_name(key)}`" in row.split(" | ")[0] for row in rows)


@pytest.mark.parametrize(
    "command", ["tfa serve", "tfa token create", "tfa token list", "tfa token revoke",
                "tfa purge", "tfa gateway-sim", "tfa audit", "tfa --version"],
)
def test_command_table_lists_command(command: str) -> None:
    """Every command of `tfa` has a row of the command table."""
    assert f"| `{command}" in section(page("docs/operating.md"), "The `tfa` command")


def test_signature_check_of_the_readme_accepts_what_the_service_signs() -> None:
    """The HTTP API page's verification function, given the secret `tfa token create` shows,
    accepts the X-TFA-Signature the service sends and refuses it on another body."""
    snippet = next(
        s for s in code_blocks(HTTP_API, "python")
        if "def signature_is_valid" in s
    )
    namespace: dict[str, Any] = {}
    exec(snippet, namespace)  # noqa: S102 - the page's own example
    signer = CallbackSigner("k" * 32)
    body = b'{"api_job_id":"9a1c","data":[{"type":"SMS","status":"DELIVRD"}]}'
    header = signer.sign("token-id-1", body)
    secret = signer.secret_for("token-id-1")
    assert namespace["signature_is_valid"](body, header, secret)
    assert not namespace["signature_is_valid"](body + b" ", header, secret)
    assert not namespace["signature_is_valid"](body, header, signer.secret_for("token-id-2"))


def test_ci_runs_the_test_command_of_the_set_up_section() -> None:
    """The Set-up section's test command (the one that passes the tests) is a line of
    .ci/run, and the script it names exists."""
    block = re.search(r"^```sh\n(.*?)^```$", section(README, "Set-up"), flags=re.S | re.M)
    assert block is not None
    (line,) = [line for line in block[1].splitlines() if "passes" in line]
    command = line.split("#")[0].strip()
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    assert command in ci
    assert (ROOT / shlex.split(command)[1]).is_file()


def test_development_table_lists_every_tox_environment() -> None:
    """Every environment of tox.ini's envlist has a row of the Development table."""
    tox = configparser.ConfigParser()
    tox.read(ROOT / "tox.ini", encoding="utf-8")
    envs = [env.strip() for env in tox["tox"]["envlist"].split(",")]
    rows = [line for line in page("docs/development.md").splitlines()
            if line.startswith("| `tox")]
    assert len(envs) >= 6
    for env in envs:
        assert any(f"`tox -e {env}`" in row.split(" | ")[0] for row in rows), env
