"""The peer: privacyIDEA's ``/validate/check`` with a ``spass`` token, PIN hashed like our codes.

privacyIDEA lives in its own virtual environment (``benchmarks/.peer-venv``, created once
and reused), uses SQLite and is served by waitress with the same thread count as ``tfa``.
Its PIN hashes get the argon2 parameters of the profile under test (``PI_HASH_ALGO_PARAMS``).
"""

from __future__ import annotations

import http.client
import json
import secrets
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tfa_engine._hashing import PROFILES

from .loadgen import Fixed, Request
from .procs import REPO, Server, ServerFailed, clean_environ

VENV = REPO / "benchmarks" / ".peer-venv"
REQUIREMENTS = ["privacyidea>=3.10,<4", "waitress>=3.0"]
SERVER_SCRIPT = REPO / "benchmarks" / "peer_server.py"
CONFIG_VARIABLE = "PRIVACYIDEA_CONFIGFILE"
SERIAL = "BENCHSPASS"
ADMIN = "admin"
SETUP_TIMEOUT = 300
OK_REGEX = rb'"authentication":\s*"ACCEPT"'
OK_LUA = '"authentication":%s*"ACCEPT"'


class PeerUnavailable(RuntimeError):
    """privacyIDEA cannot be installed, set up or started; the message says why."""


def python() -> Path:
    """The peer venv's interpreter."""
    return VENV / "bin" / "python"


def installed() -> str | None:
    """None when the peer venv can import privacyIDEA and waitress, else why not."""
    if not python().exists():
        return f"no peer venv at {VENV.relative_to(REPO)}"
    probe = "import privacyidea, waitress; from importlib.metadata import version; " \
            "print(version('privacyidea'))"
    done = subprocess.run([str(python()), "-c", probe], capture_output=True, text=True,
                          timeout=120, check=False)
    if done.returncode != 0:
        return f"the peer venv cannot import privacyidea: {done.stderr.strip()[-300:]}"
    return None


def version() -> str:
    """The installed privacyIDEA version."""
    probe = "from importlib.metadata import version; print(version('privacyidea'))"
    done = subprocess.run([str(python()), "-c", probe], capture_output=True, text=True,
                          timeout=120, check=False)
    return done.stdout.strip() or "unknown"


def install(timeout: float) -> None:
    """Create the peer venv and install privacyIDEA into it, within ``timeout`` seconds."""
    VENV.mkdir(parents=True, exist_ok=True)
    # Keeps git, ruff and other tree walkers out of the venv, whatever the repo's ignores say.
    (VENV / ".gitignore").write_text("*\n", encoding="ascii")
    log = VENV / "install.log"
    steps = [
        [sys.executable, "-m", "venv", str(VENV)],
        [str(python()), "-m", "pip", "install", "--disable-pip-version-check", *REQUIREMENTS],
    ]
    with log.open("w", encoding="utf-8") as out:
        for step in steps:
            try:
                done = subprocess.run(step, stdout=out, stderr=subprocess.STDOUT,
                                      timeout=timeout, check=False)
            except subprocess.TimeoutExpired:
                raise PeerUnavailable(
                    f"installing privacyIDEA took over {timeout:.0f} s (see {log})"
                ) from None
            if done.returncode != 0:
                raise PeerUnavailable(f"installing privacyIDEA failed (see {log})")


def _hash_params(profile: str) -> dict[str, int]:
    """passlib's names for the argon2 parameters of one of our profiles."""
    parameters = PROFILES[profile]
    return {
        "argon2__rounds": parameters.time_cost,
        "argon2__memory_cost": parameters.memory_cost,
        "argon2__parallelism": parameters.parallelism,
        "argon2__salt_size": parameters.salt_len,
        "argon2__digest_size": parameters.hash_len,
    }


def _write_config(workdir: Path, profile: str) -> Path:
    config = workdir / "pi.cfg"
    values: dict[str, Any] = {
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir / 'pi.sqlite'}",
        "SECRET_KEY": secrets.token_hex(24),
        "PI_PEPPER": secrets.token_hex(16),
        "PI_ENCFILE": str(workdir / "enckey"),
        "PI_AUDIT_KEY_PRIVATE": str(workdir / "private.pem"),
        "PI_AUDIT_KEY_PUBLIC": str(workdir / "public.pem"),
        "PI_LOGFILE": str(workdir / "privacyidea.log"),
        "PI_LOGLEVEL": 30,  # warnings only: no log line per request (tfa logs at INFO)
        "PI_HASH_ALGO_LIST": ["argon2"],
        "PI_HASH_ALGO_PARAMS": _hash_params(profile),
    }
    config.write_text("".join(f"{key} = {value!r}\n" for key, value in values.items()),
                      encoding="utf-8")
    return config


def _post(url: str, fields: dict[str, str], headers: dict[str, str] | None = None) -> Any:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    try:
        conn.request("POST", parts.path, urllib.parse.urlencode(fields),
                     {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})})
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


@contextmanager
def serve(workdir: Path, profile: str, threads: int) -> Iterator[tuple[Server, Fixed]]:
    """A configured privacyIDEA with one spass token; the server and its check request."""
    config = _write_config(workdir, profile)
    env = clean_environ({CONFIG_VARIABLE: str(config)})
    manage = VENV / "bin" / "pi-manage"
    password = secrets.token_urlsafe(16)
    pin = secrets.token_urlsafe(12)
    for args in (
        ["setup", "create_enckey"],
        ["setup", "create_audit_keys"],
        ["setup", "create_tables"],
        ["admin", "add", ADMIN, "-p", password],
    ):
        done = subprocess.run([str(manage), *args], env=env, cwd=workdir, capture_output=True,
                              text=True, timeout=SETUP_TIMEOUT, check=False)
        if done.returncode != 0:
            reason = (done.stderr or done.stdout).strip()[-300:]
            raise PeerUnavailable(f"pi-manage {' '.join(args[:2])} failed: {reason}")
    argv = [str(python()), str(SERVER_SCRIPT), "--config", str(config), "--port", "0",
            "--threads", str(threads)]
    server = Server("privacyidea", argv, env, workdir, cwd=workdir)
    try:
        server.start()
    except ServerFailed as exc:
        raise PeerUnavailable(str(exc)) from None
    try:
        yield server, _spass_check(server.url, password, pin)
    finally:
        server.stop()


def _spass_check(url: str, password: str, pin: str) -> Fixed:
    """Create the spass token through the admin API; the check request, probed once."""
    try:
        auth = _post(f"{url}/auth", {"username": ADMIN, "password": password})
        admin_token = auth["result"]["value"]["token"]
        _post(f"{url}/token/init", {"type": "spass", "pin": pin, "serial": SERIAL},
              {"Authorization": admin_token})
        answer = _post(f"{url}/validate/check", {"serial": SERIAL, "pass": pin})
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise PeerUnavailable(f"privacyIDEA set-up over HTTP failed: {exc!r}") from None
    if answer.get("result", {}).get("authentication") != "ACCEPT":
        raise PeerUnavailable(f"the probe /validate/check was not accepted: {answer}")
    check = Request(
        "POST", "/validate/check",
        urllib.parse.urlencode({"serial": SERIAL, "pass": pin}).encode(),
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    return Fixed(check, ok_regex=OK_REGEX, ok_lua=OK_LUA)
