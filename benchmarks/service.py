"""``tfa`` as its users run it: ``tfa token create`` and ``tfa serve`` in child processes."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from .loadgen import TFA_OK_REGEX, RequestCodes
from .procs import REPO, Server, clean_environ

CLI = [sys.executable, "-m", "tfa_engine.adapters.cli"]


CONTROLS_VARIABLE = "TFA_BENCH_CONTROLS"  # "off": every limit, budget and the guard off
# Every control on, as users run the service, with limits so far above what a run sends
# that the load is never refused: what is measured is what the controls cost. (The phones
# of the load repeat from run to run, hence the phone's limit too.)
LIMITS_ABOVE_LOAD = {
    "TFA_LIMIT_TOKEN_REQUESTS": "100000000/60",
    "TFA_LIMIT_TOKEN_SMS": "100000000/86400",
    "TFA_LIMIT_SERVICE_SMS": "100000000/86400",
    "TFA_LIMIT_PHONE_SENDS": "1000000/600",
    "TFA_FRAUD_MIN_SENDS": "1000000000",
}


def controls_on() -> bool:
    """True unless the run was asked for the controls-off diagnostic (``--controls off``)."""
    return os.environ.get(CONTROLS_VARIABLE, "on") != "off"


def controls_environ() -> dict[str, str]:
    """The service's variables for the controls: on with raised limits, or all off."""
    return dict(LIMITS_ABOVE_LOAD) if controls_on() else {"TFA_RATE_LIMITS": "off"}


def tfa_environ(database: Path | str, profile: str, pepper: str, *, gateway: str = "memory",
                **extra: str) -> dict[str, str]:
    """The service's variables: every control on (limits above the load, see
    :func:`controls_environ`), the memory gateway unless told otherwise."""
    return clean_environ(
        {
            "TFA_DATABASE": str(database),
            "TFA_ARGON2_PROFILE": profile,
            "TFA_PEPPER": pepper,
            **controls_environ(),
            "TFA_GATEWAY": gateway,
            **extra,
        }
    )


def create_token(env: dict[str, str]) -> str:
    """``tfa token create --name bench --json`` on the environment's database; the token."""
    done = subprocess.run(
        [*CLI, "token", "create", "--name", "bench", "--json"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"tfa token create failed: {done.stderr.strip()[-300:]}")
    token: str = json.loads(done.stdout)["token"]
    return token


def tfa_server(name: str, env: dict[str, str], logdir: Path, threads: int,
               workers: int = 1) -> Server:
    """``tfa serve`` on a free loopback port (not started yet)."""
    argv = [*CLI, "serve", "--host", "127.0.0.1", "--port", "0", "--threads", str(threads),
            "--workers", str(workers)]
    return Server(name, argv, env, logdir)


def probe_request_code(base_url: str, token: str, tag: str) -> str | None:
    """None when one request-code succeeds, else the answer (for a "skipped" reason)."""
    parts = urlsplit(base_url)
    source = RequestCodes(token, tag)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    try:
        conn.request("POST", "/1/2fa", source.body(0), source.headers)
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as exc:
        return f"request-code failed: {exc!r}"
    finally:
        conn.close()
    if response.status == 201 and re.search(TFA_OK_REGEX, body):
        return None
    return f"request-code answered HTTP {response.status}: {body[:300].decode(errors='replace')}"
