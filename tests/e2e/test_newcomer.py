"""A newcomer's path works as the README's Set-up section says, word for word.

In an empty working directory, with no configuration and no TFA_* variable: ``tfa serve``,
then ``tfa token create --name demo`` while it runs, then the README's two curl commands
(run with the real curl, the token, port and code filled in).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tfa_processes import clean_environ

from tfa_engine import catalogue
from tfa_engine.adapters.cli import CREATE_HINT

pytestmark = pytest.mark.network

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")
COMMAND_TIMEOUT = 30.0  # seconds for `tfa token create` or one curl run
CURL_MAX_TIME = "10"  # seconds curl may spend on one request
HINT_TIMEOUT = 10.0  # seconds for the server's start-up hint to appear
UUID_LINE = re.compile(r"\s*([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\s*")


# -- what the README says --------------------------------------------------------------------
def setup_blocks() -> list[str]:
    """The ```sh blocks of the README's Set-up section."""
    section = README.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.DOTALL)


@dataclass(frozen=True)
class Walkthrough:
    """The Set-up section read as commands: what to run and what the console shows."""

    serve: list[str]  # `tfa serve` as written
    readme_base_url: str  # where the README says it listens
    token_create: list[str]
    request_curl: list[str]
    validate_curl: list[str]
    console_line: str  # the SMS line the README shows, with its example code
    example_code: str


def read_walkthrough() -> Walkthrough:
    """Parse the two Set-up blocks (continuation lines joined, comments kept apart)."""
    install, trial = setup_blocks()
    serve_line = next(line for line in install.splitlines() if "tfa serve" in line)
    words = shlex.split(serve_line, comments=True)
    serve = words[words.index("tfa"):]
    base_url = re.search(r"http://\S+", serve_line)
    assert base_url is not None, serve_line
    commands, comments = [], []
    for line in trial.replace("\\\n", " ").splitlines():
        if line.startswith("#"):
            comments.append(line.lstrip("# "))
        elif line.strip():
            commands.append(shlex.split(line, comments=True))
    token_create = next(c for c in commands if c[:3] == ["tfa", "token", "create"])
    request_curl, validate_curl = [c for c in commands if c[0] == "curl"]
    console_line = next(c for c in comments if "SMS to" in c).split("shows: ", 1)[1]
    code = re.search(r"(\d+)$", console_line)
    assert code is not None, console_line
    return Walkthrough(
        serve, base_url[0], token_create, request_curl, validate_curl, console_line, code[1]
    )


# -- running it ----------------------------------------------------------------------------
def tfa_executable() -> tuple[list[str], dict[str, str]]:
    """How to run `tfa` here, and the environment it needs on top of a clean one.

    The console script sits next to the interpreter when the package is installed (tox).
    A development environment may lack it: then the same entry point runs as a module.
    """
    script = Path(sys.executable).parent / "tfa"
    if script.exists():
        return [str(script)], {}
    return [sys.executable, "-m", "tfa_engine.adapters.cli"], {}


def newcomer_environ(extra: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment without a single TFA_* variable: every default applies."""
    env = clean_environ()
    for name, value in extra.items():
        env[name] = os.pathsep.join(filter(None, [value, env.get(name)]))
    return env


def run_curl(words: list[str]) -> tuple[int, dict[str, Any]]:
    """Run a README curl command with the real curl: (HTTP status, JSON body)."""
    curl = shutil.which("curl")
    if curl is None:
        pytest.fail("the newcomer path runs the README's curl commands: install curl")
    done = subprocess.run(
        [curl, *words[1:], "--max-time", CURL_MAX_TIME, "--write-out", "\n%{http_code}"],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    body, _, status = done.stdout.rpartition("\n")
    return int(status), json.loads(body)


def filled_in(words: list[str], **values: str) -> list[str]:
    """``words`` with each key replaced by its value."""
    result = []
    for word in words:
        for old, new in values.items():
            word = word.replace(old, new)
        result.append(word)
    return result


@dataclass(frozen=True)
class Walk:
    """What happened along the newcomer's path."""

    workdir: Path
    base_url: str
    output_before_token: str
    token_output: str
    token: str
    request: tuple[int, dict[str, Any]]
    sms_line: str
    code: str
    validate: tuple[int, dict[str, Any]]


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory, launch: Callable[..., Any]) -> Walk:
    """Follow the README in an empty directory, with the defaults only."""
    readme = read_walkthrough()
    workdir = tmp_path_factory.mktemp("newcomer")
    tfa, extra_env = tfa_executable()
    env = newcomer_environ(extra_env)
    # --port 0: the README's default 8080 may be taken on a test machine.
    server = launch([*tfa, *readme.serve[1:], "--port", "0"], workdir, env)
    with contextlib.suppress(AssertionError):  # the hint's own test shows what was printed
        server.wait_for(re.escape(CREATE_HINT), HINT_TIMEOUT)
    output_before_token = server.output()

    created = subprocess.run(
        [*tfa, *readme.token_create[1:]],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    assert created.returncode == 0, created.stderr
    tokens = [m[1] for line in created.stdout.splitlines() if (m := UUID_LINE.fullmatch(line))]
    assert len(tokens) == 1, created.stdout

    base = {readme.readme_base_url: server.base_url, "<token>": tokens[0]}
    request = run_curl(filled_in(readme.request_curl, **base))
    prefix = readme.console_line[: -len(readme.example_code)]
    sms = server.wait_for("^" + re.escape(prefix) + r"(\w+)$")
    code = sms[1]
    validate = run_curl(
        filled_in(readme.validate_curl, **base, **{"<code>": code})
    )
    return Walk(
        workdir, server.base_url, output_before_token, created.stdout, tokens[0], request,
        sms[0], code, validate,
    )


def test_readme_set_up_has_the_commands_this_path_runs() -> None:
    """The Set-up section shows tfa serve, tfa token create and the two curl calls."""
    readme = read_walkthrough()
    assert readme.serve == ["tfa", "serve"]
    assert readme.token_create[:3] == ["tfa", "token", "create"]
    assert [c[:4] for c in (readme.request_curl, readme.validate_curl)] == [
        ["curl", "-s", "-X", "POST"]
    ] * 2


def test_readme_validates_with_the_code_of_the_console_not_an_example() -> None:
    """The validate command names a placeholder for the code, not the example's digits, so
    that it is not copied as written."""
    readme = read_walkthrough()
    assert readme.validate_curl[4].endswith("/1/2fa/login-1/<code>")
    assert readme.example_code not in " ".join(readme.validate_curl)


def test_server_listens_on_the_default_host(walk: Walk) -> None:
    """With no configuration the server listens on 127.0.0.1, as the README says."""
    assert walk.base_url.startswith("http://127.0.0.1:")


def test_server_says_how_to_create_a_token_before_one_exists(walk: Walk) -> None:
    """A server started with no token prints the command that creates one."""
    assert CREATE_HINT in walk.output_before_token, walk.output_before_token


def test_token_create_prints_the_token_once(walk: Walk) -> None:
    """`tfa token create --name demo` prints a UUID-form token exactly once."""
    assert walk.token_output.count(walk.token) == 1


def test_readme_request_answers_201_with_a_message_id(walk: Walk) -> None:
    """The README's first curl gets 201 Success with result.message_id."""
    status, body = walk.request
    assert (status, body["result_info"]) == (
        catalogue.SUCCESS.http, catalogue.SUCCESS.as_result_info(),
    )
    assert body["result"]["message_id"]


def test_console_shows_the_sms_as_the_readme_does(walk: Walk) -> None:
    """The server console prints the SMS line the README shows, with a six-digit code."""
    assert re.fullmatch(r"\d{6}", walk.code), walk.sms_line


def test_readme_validate_answers_valid(walk: Walk) -> None:
    """The README's second curl, with the code from the console, gets 200 Valid."""
    status, body = walk.validate
    assert (status, body["result_info"]) == (catalogue.VALID.http, {
        "status_code": 0, "description": "Valid",
    })


def test_data_is_kept_in_tfa_db_in_the_working_directory(walk: Walk) -> None:
    """With no configuration the data lives in ./tfa.db, as the README says."""
    assert (walk.workdir / "tfa.db").is_file()
