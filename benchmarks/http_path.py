"""``python -m benchmarks.http_path``: what the HTTP path costs beside the engine, and each
of its parts: metrics, the access log, the audit records, and the rest (Falcon's routing,
request parsing and validation, the envelope and its JSON).

    python -m benchmarks.http_path [--profile test] [--rounds 9] [--batch 300]

The app ``tfa serve`` runs (built by the same function from the same settings, every
control on with limits above the load, JSON logs written to a file) is called in process as
a WSGI server calls it, and the engine it serves is called directly with the same requests;
the CPU each takes per request (``time.process_time``: every thread of the process, the
hasher's included) is compared. One app per variant, each on a database of its own: all
on, and with metrics, the access log or the audit records off, and all three off. Rounds
go over the variants in turn, in a new order each round, so that the machine's other work
falls on all of them alike; each figure is the median of the rounds. A part's cost is all
on minus all on but that part; "framework" is all three off minus the engine called
directly. No waitress here: the sockets, the HTTP parsing and the threads are the
``http`` group's of ``python -m benchmarks``.

A diagnostic: it prints a table, writes nothing and asserts nothing.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

from tfa_engine import catalogue
from tfa_engine.adapters.server.app import Service, build_service
from tfa_engine.adapters.server.settings import load_settings

from .inprocess import CLIENT_IP, issue_codes
from .loadgen import phone_number
from .service import tfa_environ

PEPPER = "http-path-pepper-0123456789abcdef01"
AUDIT = logging.getLogger("tfa.audit")
# name -> (metrics, access log, audit records)
VARIANTS = {
    "all on": (True, True, True),
    "metrics off": (False, True, True),
    "access log off": (True, False, True),
    "audit off": (True, True, False),
    "all three off": (False, False, False),
}
REQUEST_PHONES = 50_000  # the index of the first phone request-codes go to
ENGINE = "engine alone"  # a service with all on, its engine called directly


@dataclass
class Variant:
    """One service built as ``tfa serve`` builds it, and its token."""

    name: str
    service: Service
    database: Path
    token: str
    audit: bool
    served: int = 0  # request-codes so far: each batch takes new refs and phones


def _environ(path: str, body: bytes, token: str) -> dict[str, Any]:
    """The WSGI environ of a JSON POST, as waitress makes it."""
    return {
        "REQUEST_METHOD": "POST", "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8080", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": CLIENT_IP, "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json", "HTTP_AUTHORIZATION": f"Token {token}",
        "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }


def _call(app: Any, path: str, body: dict[str, Any], token: str) -> str:
    """One request to the WSGI app; its status line (the body read and closed)."""
    status: list[str] = []

    def start_response(line: str, headers: Any, exc_info: Any = None) -> Any:
        status.append(line)
        return lambda data: None

    result = app(_environ(path, json.dumps(body).encode(), token), start_response)
    try:
        for _chunk in result:
            pass
    finally:
        getattr(result, "close", lambda: None)()
    return status[0]


@contextmanager
def _audit(on: bool) -> Iterator[None]:
    """The audit records written (as ``tfa serve`` writes them) or not."""
    level = AUDIT.level
    AUDIT.setLevel(logging.NOTSET if on else logging.ERROR)
    try:
        yield
    finally:
        AUDIT.setLevel(level)


def _timed(call: Callable[[], bool]) -> float:
    """CPU seconds one call took (every thread of the process); it must succeed."""
    began = time.process_time()
    if not call():
        raise RuntimeError("a measured request did not succeed")
    return time.process_time() - began


def _request_code(variant: Variant, direct: bool) -> Callable[[], bool]:
    """The variant's next request-code (a new client_ref and phone each time)."""
    index = variant.served
    variant.served += 1
    # Phones apart from those of the codes issued for validation (from the first on), which
    # a new code to the same phone would supersede.
    body = {"client_ref": f"ref-{index}", "phone_number": phone_number(REQUEST_PHONES + index)}
    if direct:
        return lambda: variant.service.engine.request_code(
            variant.token, CLIENT_IP, body).status == catalogue.SUCCESS
    return lambda: _call(variant.service.app, "/1/2fa", body, variant.token) == "201 Created"


def _validate_code(variant: Variant, direct: bool, ref: str, code: str) -> Callable[[], bool]:
    """A validate-code of a code issued to the variant's database."""
    if direct:
        return lambda: variant.service.engine.validate_code(
            variant.token, CLIENT_IP, ref, code).status == catalogue.VALID
    return lambda: _call(variant.service.app, f"/1/2fa/{ref}/{code}", {},
                         variant.token) == "200 OK"


def _build(name: str, flags: tuple[bool, bool, bool], directory: Path,
           profile: str) -> Variant:
    metrics, access_log, audit = flags
    database = directory / f"{name.replace(' ', '-')}.db"
    env = tfa_environ(database, profile, PEPPER, TFA_LOG_FORMAT="json",
                      TFA_METRICS="on" if metrics else "off",
                      TFA_ACCESS_LOG="on" if access_log else "off")
    service = build_service(load_settings(None, env))
    token = service.engine.create_token(f"bench-{name}").token
    return Variant(name, service, database, token, audit)


def measure(profile: str, rounds: int, batch: int) -> dict[str, dict[str, float]]:
    """Median CPU ms per request of each variant and the engine alone, per endpoint."""
    figures: dict[str, dict[str, list[float]]] = {}
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        log = stack.enter_context((directory / "tfa.log").open("w", encoding="utf-8"))
        saved, sys.stderr = sys.stderr, log  # where tfa serve's records go
        stack.callback(setattr, sys, "stderr", saved)
        variants = {name: _build(name, flags, directory, profile)
                    for name, flags in {**VARIANTS, ENGINE: VARIANTS["all on"]}.items()}
        for variant in variants.values():
            stack.callback(variant.service.engine.close)
        # Each case on a database of its own, all growing alike: one request of each in
        # turn (a new order each time), so that drift and the machine's other work fall on
        # every case alike.
        names = list(variants)
        order = random.Random(20)
        for round_ in range(rounds + 1):  # the first round warms up and is not counted
            issued = {name: issue_codes(variants[name].database, profile, PEPPER,
                                        variants[name].token, f"r{round_}", batch)
                      for name in names}
            spent = {name: {"request-code": 0.0, "validate-code": 0.0} for name in names}
            for index in range(batch):
                order.shuffle(names)
                for name in names:
                    variant = variants[name]
                    ref, code = issued[name][index]
                    with _audit(variant.audit):
                        spent[name]["request-code"] += _timed(
                            _request_code(variant, name == ENGINE))
                        spent[name]["validate-code"] += _timed(
                            _validate_code(variant, name == ENGINE, ref, code))
            if round_:
                for name, seconds in spent.items():
                    runs = figures.setdefault(name, {"request-code": [], "validate-code": []})
                    for endpoint, total in seconds.items():
                        runs[endpoint].append(1000 * total / batch)
            print(f"round {round_}/{rounds} done", file=saved, flush=True)
    return {label: {endpoint: median(values) for endpoint, values in runs.items()}
            for label, runs in figures.items()}


def table(figures: dict[str, dict[str, float]]) -> str:
    """The markdown table of the figures and each part's cost."""
    lines = ["| endpoint | engine alone | all on | HTTP path | metrics | access log | audit"
             " | framework, envelope, JSON |", "|---|" + "---:|" * 7]
    for endpoint in ("request-code", "validate-code"):
        def ms(label: str, endpoint: str = endpoint) -> float:
            return figures[label][endpoint]
        path = ms("all on") - ms(ENGINE)
        parts = [ms("all on") - ms(name) for name in
                 ("metrics off", "access log off", "audit off")]
        rest = ms("all three off") - ms(ENGINE)
        cells = [ms(ENGINE), ms("all on"), path, *parts, rest]
        lines.append(f"| {endpoint} | " + " | ".join(f"{cell:.3f}" for cell in cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http_path",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="test", choices=("test", "owasp"))
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--batch", type=int, default=300, help="requests per round and case")
    args = parser.parse_args(argv)
    if args.rounds * args.batch > REQUEST_PHONES:
        parser.error(f"at most {REQUEST_PHONES} requests per case")
    for key in [key for key in os.environ if key.startswith("TFA_")]:
        del os.environ[key]  # the settings are the ones above, whatever the shell has
    figures = measure(args.profile, args.rounds, args.batch)
    print(f"CPU ms per request, {args.profile} profile, SQLite, medians of {args.rounds}"
          f" rounds of {args.batch}:\n")
    print(table(figures))


if __name__ == "__main__":
    main()
