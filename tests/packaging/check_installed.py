"""Checks what ``pip install .`` (a wheel, no extra) puts into an environment.

Run by ``tox -e wheel`` in an environment holding the package as a wheel and nothing else:

* exactly one import package at the top level of site-packages, ``tfa_engine`` (no
  ``engine``, no ``adapters``, no ``tests``, no ``benchmarks``);
* no web framework, waitress or TOML parser installed, and importing ``tfa_engine`` loads
  none of them;
* the engine works in-process: a code is sent and validated once.

Exits 0 when every check holds, else 1 with one line per failed check.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys

FORBIDDEN = ("falcon", "waitress", "flask", "django", "tomli")


def top_level_entries() -> set[str]:
    """The first path component of every file the distribution installed into site-packages."""
    files = importlib.metadata.distribution("tfa-engine").files or []
    return {str(path).split("/", 1)[0] for path in files if not str(path).startswith("..")}


def main() -> int:
    failures = []
    entries = top_level_entries()
    packages = {e for e in entries if not e.endswith((".dist-info", ".pth"))}
    if packages != {"tfa_engine"}:
        failures.append(f"top-level entries are {sorted(entries)}, not tfa_engine alone")
    if any(e.endswith(".pth") for e in entries):
        failures.append("installed as editable (a .pth file): build a wheel")
    installed = [name for name in FORBIDDEN if importlib.util.find_spec(name) is not None]
    if installed:
        failures.append(f"installed without extras, yet present: {installed}")

    import tfa_engine
    from tfa_engine import Engine, EngineConfig, MemoryGateway, MemoryStore

    loaded = [n for n in (*FORBIDDEN, "tomllib") if n in sys.modules]
    if loaded:
        failures.append(f"import tfa_engine loaded {loaded}")
    gateway = MemoryGateway()
    engine = Engine(MemoryStore(), gateway, EngineConfig(argon2_profile="test"), resolver=None)
    token = engine.create_token("wheel-check").token
    body = {"client_ref": "r1", "phone_number": "+447911123456"}
    if not engine.request_code(token, "127.0.0.1", body).ok:
        failures.append("request_code failed")
    code = gateway.last_to("+447911123456").text.rsplit(" ", 1)[1]
    verdicts = [engine.validate_code(token, "127.0.0.1", "r1", code).status.code for _ in "ab"]
    if verdicts != [0, -53]:
        failures.append(f"validating the code twice gave {verdicts}, not [0, -53]")
    engine.close()
    for failure in failures:
        print(f"check_installed: {failure}", file=sys.stderr)
    print(f"check_installed: {tfa_engine.__name__} from {tfa_engine.__file__}: "
          + ("FAILED" if failures else "ok"))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
