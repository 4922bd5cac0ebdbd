"""``tfa`` as its users run it: ``tfa token create`` and ``tfa serve`` in child processes."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from .loadgen import TFA_OK_REGEX, RequestCodes
from .procs import REPO, Server, clean_environ

CLI = [sys.executable, "-m", "tfa_engine.adapters.cli"]


def tfa_environ(database: Path | str, profile: str, pepper: str, *, gateway: str = "memory",
                **extra: str) -> dict[str, str]:
    """The service's variables: rate limits off, the memory gateway unless told otherwise."""
    return clean_environ(
        {
            "TFA_DATABASE": str(database),
            "TFA_ARGON2_PROFILE": profile,
            "TFA_PEPPER": pepper,
            "TFA_RATE_LIMITS": "off",
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
