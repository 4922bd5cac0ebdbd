"""The benchmark plan: which figures, in which order, and the targets read off them."""

from __future__ import annotations

import math
import secrets
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from tfa_engine import EngineConfig

from . import floors, inprocess, peer, scaling
from .loadgen import LoadSettings, RequestCodes, Source, ValidateCodes, run_load
from .procs import Server, ServerFailed, clean_environ, database_server_seconds
from .service import create_token, probe_request_code, tfa_environ, tfa_server
from .stats import Figure, Target

GROUPS = ("floors", "inprocess", "http", "gateway", "peer", "single", "stores", "workers")
PROFILES = ("owasp", "test")
REQUEST_LIMIT = 500_000  # requests per load run at most: a bound far above what 2 cores serve
# privacyIDEA at its best thread count: with 32 waitress threads its SQLite writes (an
# audit row per request) stall and wrk saw no answer within 3 s; with 4 it answers.
PEER_THREADS = 4
MIB_BASE = 100  # the memory target: MIB_BASE + threads x MIB_PER_THREAD
MIB_PER_THREAD = 19
GATEWAY_LATENCIES = (0.0, 0.1)
CONFIGURED_PROFILE = EngineConfig().argon2_profile


@dataclass(frozen=True)
class Options:
    """What the command line asked for."""

    runs: int
    duration: int
    connections: int
    rss_connections: int
    threads: int
    client: str  # "wrk" or "python"
    groups: tuple[str, ...]
    warmup: bool
    install_peer: bool
    peer_timeout: float


def log(message: str) -> None:
    """Progress, on stderr (the table goes to stdout)."""
    print(message, file=sys.stderr, flush=True)


def targets(threads: int, rss_connections: int = 64) -> list[Target]:
    """The targets of the issue, as ratios between figures of one invocation."""
    owasp = CONFIGURED_PROFILE
    return [
        Target(f"request-code ({owasp}) / argon2 floor, 2 processes",
               f"http.{owasp}.request_code", "floor.argon2.2p", 0.90, True),
        Target(f"validate-code ({owasp}) / argon2 floor, 2 processes",
               f"http.{owasp}.validate_code", "floor.argon2.2p", 0.90, True),
        Target("request-code (test) / bare Falcon echo",
               "http.test.request_code", "floor.echo", 0.40, True),
        Target("validate-code (test) / bare Falcon echo",
               "http.test.validate_code", "floor.echo", 0.50, True),
        Target("in-process request_code outside argon2 and gateway",
               "inproc.request_code", None, 1.0, False, unit="ms"),
        Target("in-process validate_code outside argon2 and gateway",
               "inproc.validate_code", None, 1.0, False, unit="ms"),
        Target("request-code, 100 ms gateway / 0 ms gateway",
               "gateway.100ms", "gateway.0ms", 0.90, True),
        Target(f"validate-code ({owasp}) / privacyIDEA /validate/check",
               f"http.{owasp}.validate_code", "peer.validate_check", 4.0, True, unit="x"),
        Target(f"server peak RSS at {rss_connections} connections ({owasp}), MiB",
               f"http.{owasp}.rss", None, MIB_BASE + threads * MIB_PER_THREAD, False,
               unit="MiB"),
    ]


def diagnostics() -> list[Target]:
    """Not targets: the test-profile ratios again with one server thread for both servers,
    where requests cannot hand the GIL to each other (see the ``single`` group)."""
    return [
        Target("request-code (test) / echo, both with 1 server thread",
               "single.test.request_code", "single.echo", 0.40, True),
        Target("validate-code (test) / echo, both with 1 server thread",
               "single.test.validate_code", "single.echo", 0.50, True),
        *scaling.diagnostics(),
    ]


class Bench:
    """Runs the groups asked for; every figure ends up in ``figures`` (run or skipped)."""

    def __init__(self, options: Options, workdir: Path) -> None:
        self.options = options
        self.workdir = workdir
        self.pepper = secrets.token_hex(16)
        self.figures: dict[str, Figure] = {}

    # -- helpers -------------------------------------------------------------------------
    def figure(self, name: str, label: str, unit: str, value_key: str) -> Figure:
        figure = Figure(name, label, unit, value_key)
        self.figures[name] = figure
        return figure

    def load(self, connections: int | None = None, duration: int | None = None,
             limit: int = REQUEST_LIMIT) -> LoadSettings:
        return LoadSettings(
            connections=connections or self.options.connections,
            duration=duration or self.options.duration,
            limit=limit,
            client=self.options.client,
        )

    def repeat(self, figure: Figure, one_run: Callable[[int], dict[str, Any]]) -> None:
        """Run ``one_run`` ``runs`` times into ``figure``; an error marks the figure skipped."""
        try:
            for index in range(self.options.runs):
                self._record(figure, index, one_run(index))
        except Exception as exc:  # one figure's failure must not stop the others
            figure.skipped = f"error: {exc}"
            log(f"  {figure.label}: {figure.skipped}")

    def _record(self, figure: Figure, index: int, run: dict[str, Any], detail: str = "") -> None:
        """Keep one run of ``figure``: log it and note what went wrong in it."""
        figure.runs.append(run)
        value = run.get(figure.value_key)
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        log(f"  {figure.label}: run {index + 1}/{self.options.runs}: {shown} {figure.unit}"
            + detail)
        if run.get("bad") or run.get("errors"):
            figure.notes.append(
                f"run {index + 1}: {run.get('bad', 0)} failed answers, "
                f"{run.get('errors', 0)} connection errors"
            )
        if run.get("exhausted") and run.get("client") == "wrk":
            figure.notes.append(
                f"run {index + 1}: pre-issued codes ran out; throughput is a lower bound"
            )
        if run.get("failures"):
            figure.notes.append(f"run {index + 1}: {run['failures']} calls failed")

    @staticmethod
    def skip(figures: list[Figure], reason: str) -> None:
        """Mark the figures that have no run yet as skipped for ``reason``."""
        for figure in figures:
            if not figure.runs:
                figure.skipped = figure.skipped or reason
        log(f"  skipped ({reason})")

    def warm_up(self, server: Server, source: Source) -> None:
        if self.options.warmup:
            run_load(server.url, source, self.load(duration=1, limit=2_000))

    def http_run(self, server: Server, source: Source, settings: LoadSettings, *,
                 database_server: bool = False) -> dict[str, Any]:
        """One load run; with ``database_server``, the CPU of this machine's PostgreSQL
        processes per request too (it shares the cores with the service)."""
        before, database_before = server.counters(), None
        if database_server:
            database_before = database_server_seconds()
        run = run_load(server.url, source, settings)
        after = server.counters()
        database_after = database_server_seconds() if database_server else None
        run["peak_rss_mib"] = server.peak_rss_mib()
        run.update(per_request(before, after, run.get("requests", 0)))
        if database_before is not None and database_after is not None and run.get("requests"):
            run["database_cpu_ms_per_req"] = (
                1000 * (database_after - database_before) / run["requests"])
        return run

    def _argon2_run(self, profile: str, processes: int, seconds: int, index: int) -> dict[str, Any]:
        return floors.argon2_verify_rate(profile, self.pepper, processes, seconds)

    # -- the groups ------------------------------------------------------------------------
    def run(self) -> None:
        for group in self.options.groups:
            log(f"[{group}]")
            getattr(self, f"run_{group}")()

    def run_floors(self) -> None:
        profile, seconds = CONFIGURED_PROFILE, self.options.duration
        for processes in (1, 2):
            figure = self.figure(f"floor.argon2.{processes}p",
                                 f"argon2 verify ({profile}), {processes} process"
                                 + ("es" if processes > 1 else ""), "verify/s", "rate")
            self.repeat(figure, partial(self._argon2_run, profile, processes, seconds))
        self._echo("floor.echo", "bare Falcon echo (waitress)", self.options.threads)
        database = self.workdir / "floor-sqlite.db"
        self.repeat(self.figure("floor.sqlite", "SQLite insert+commit (WAL, NORMAL)",
                                "commit/s", "rate"),
                    lambda _: floors.sqlite_commit_rate(database, seconds))

    def _echo(self, name: str, label: str, threads: int, workers: int = 1) -> None:
        echo = self.figure(name, label, "req/s", "rps")
        argv = [sys.executable, "-m", "benchmarks.echo_server", "--threads", str(threads),
                "--workers", str(workers)]
        try:
            with Server(name, argv, clean_environ({}), self.workdir) as server:
                self.warm_up(server, RequestCodes("echo", f"{name}-warm"))
                self.repeat(echo, lambda i: self.http_run(
                    server, RequestCodes("echo", f"{name}-{i}"), self.load()))
        except ServerFailed as exc:
            echo.skipped = str(exc)

    def run_inprocess(self) -> None:
        profile = CONFIGURED_PROFILE
        requested = self.figure("inproc.request_code",
                                f"in-process request_code ({profile}), outside argon2+gateway",
                                "ms/call", "outside_ms_per_call")
        validated = self.figure("inproc.validate_code",
                                f"in-process validate_code ({profile}), outside argon2+gateway",
                                "ms/call", "outside_ms_per_call")
        bench: inprocess.InProcess | None = None
        try:
            bench = inprocess.InProcess(self.workdir / "inprocess.db", profile, self.pepper)
            for index in range(self.options.runs):
                runs = bench.run(self.options.duration)
                for figure, run in zip((requested, validated), runs, strict=True):
                    self._record(figure, index, run, f" outside, {run.get('ms_per_call', 0):.2f}"
                                 f" ms in all, {run['calls']} calls")
        except Exception as exc:  # one group's failure must not stop the others
            for figure in (requested, validated):
                figure.skipped = f"error: {exc}"
            log(f"  in-process: error: {exc}")
        finally:
            if bench is not None:
                bench.close()

    def run_http(self) -> None:
        for profile in PROFILES:
            env, token = self._http_profile(profile)
            if profile == CONFIGURED_PROFILE:
                self._rss(profile, env, token)

    def run_single(self) -> None:
        """The echo and the test profile again with one server thread each: the cost that
        many threads add to a request (GIL hand-offs at every SQLite step, argon2 call and
        socket write) shows as the gap between these ratios and the targets' ones."""
        self._echo("single.echo", "bare Falcon echo (waitress), 1 server thread", 1)
        self._http_profile("test", threads=1, prefix="single", suffix=", 1 server thread")

    def _http_profile(self, profile: str, *, threads: int | None = None, prefix: str = "http",
                      suffix: str = "", database: Path | str | None = None, workers: int = 1,
                      **extra: str) -> tuple[dict[str, str], str | None]:
        """Request-code and validate-code figures for ``profile`` (on an SQLite file of its
        own unless ``database`` names one, or a PostgreSQL URL; ``extra`` variables for the
        service); the service's environment and token (None when it could not be created)."""
        threads = threads or self.options.threads
        request = self.figure(f"{prefix}.{profile}.request_code",
                              f"request-code over HTTP ({profile}){suffix}", "req/s", "rps")
        validate = self.figure(f"{prefix}.{profile}.validate_code",
                               f"validate-code over HTTP ({profile}){suffix}", "req/s", "rps")
        database = database or self.workdir / f"{prefix}-{profile}.db"
        on_postgres = str(database).startswith(("postgresql:", "postgres:"))
        env = tfa_environ(database, profile, self.pepper, **extra)
        token: str | None = None
        try:
            token = create_token(env)
            with tfa_server(f"tfa-{prefix}-{profile}", env, self.workdir, threads,
                            workers) as server:
                self.warm_up(server, RequestCodes(token, f"{profile}-warm"))
                self.repeat(request, lambda i: self.http_run(
                    server, RequestCodes(token, f"{profile}-rc{i}"), self.load(),
                    database_server=on_postgres))

                count = self._codes_needed(profile, request)

                def validate_run(index: int) -> dict[str, Any]:
                    pairs = inprocess.issue_codes(database, profile, self.pepper, token,
                                                  f"{profile}-vc{index}", count)
                    run = self.http_run(server, ValidateCodes(token, pairs),
                                        self.load(limit=len(pairs)),
                                        database_server=on_postgres)
                    run["codes_issued"] = len(pairs)
                    return run

                self.repeat(validate, validate_run)
        except (RuntimeError, ServerFailed) as exc:
            for figure in (request, validate):
                figure.skipped = figure.skipped or str(exc)
        return env, token

    def _codes_needed(self, profile: str, request: Figure) -> int:
        """Codes for one validate run: thrice request-code's pace, capped by argon2's."""
        rates = [float(run["rps"]) for run in request.runs] or [50.0]
        pace = 3 * max(rates)
        floor = self.figures.get("floor.argon2.2p")
        if profile == CONFIGURED_PROFILE and floor is not None and floor.value:
            pace = min(pace, 1.25 * floor.value)
        return math.ceil(pace * self.options.duration * 1.3) + 4 * self.options.connections

    def _rss(self, profile: str, env: dict[str, str], token: str | None) -> None:
        """Peak RSS of a fresh server under request-code at many connections, per run."""
        figure = self.figure(f"http.{profile}.rss",
                             f"server peak RSS, {self.options.rss_connections} connections "
                             f"({profile})", "MiB", "peak_rss_mib")
        if token is None:
            figure.skipped = "no API token could be created"
            return

        def one_run(index: int) -> dict[str, Any]:
            with tfa_server(f"tfa-rss-{index}", env, self.workdir, self.options.threads) as server:
                return self.http_run(server, RequestCodes(token, f"rss{index}"),
                                     self.load(connections=self.options.rss_connections))

        self.repeat(figure, one_run)

    def run_stores(self) -> None:
        """Both profiles on PostgreSQL (a cluster with fsync on), beside the http group's
        SQLite figures; and the test profile on SQLite with synchronous=NORMAL, which shows
        what the durable default (FULL) costs."""
        scaling.run_stores(self)

    def run_workers(self) -> None:
        """Throughput at 1, 2 and 4 server processes, for both stores and the bare echo."""
        scaling.run_workers(self)

    def run_gateway(self) -> None:
        profile = CONFIGURED_PROFILE
        figures = [
            self.figure(f"gateway.{round(latency * 1000)}ms",
                        f"request-code via simulator, {round(latency * 1000)} ms ({profile})",
                        "req/s", "rps")
            for latency in GATEWAY_LATENCIES
        ]
        database = self.workdir / "gateway.db"
        try:
            token = create_token(tfa_environ(database, profile, self.pepper))
        except RuntimeError as exc:
            self.skip(figures, str(exc))
            return
        for position, (figure, latency) in enumerate(
            zip(figures, GATEWAY_LATENCIES, strict=True)
        ):
            name = figure.name
            argv = [sys.executable, "-m", "benchmarks.sim_server", "--latency", str(latency)]
            try:
                with Server(f"simulator-{name}", argv, clean_environ({}), self.workdir) as sim:
                    env = tfa_environ(
                        database, profile, self.pepper, gateway="mediariver",
                        TFA_MEDIARIVER_URL=sim.url, TFA_MEDIARIVER_USERNAME="sim",
                        TFA_MEDIARIVER_PASSWORD="sim",  # the simulator's development account
                    )
                    with tfa_server(f"tfa-{name}", env, self.workdir,
                                    self.options.threads) as server:
                        problem = probe_request_code(server.url, token, f"{name}-probe")
                        if problem:
                            raise ServerFailed(f"the gateway cannot be used: {problem}")
                        self.warm_up(server, RequestCodes(token, f"{name}-warm"))
                        self.repeat(figure, partial(self._gateway_run, server, token, name))
            except ServerFailed as exc:
                self.skip(figures[position:], f"the mediariver gateway cannot be selected: {exc}")
                return

    def _gateway_run(self, server: Server, token: str, name: str, index: int) -> dict[str, Any]:
        return self.http_run(server, RequestCodes(token, f"{name}-{index}"), self.load())

    def run_peer(self) -> None:
        profile = CONFIGURED_PROFILE
        figure = self.figure("peer.validate_check",
                             f"privacyIDEA /validate/check, spass ({profile})", "req/s", "rps")
        problem = peer.installed()
        if problem and self.options.install_peer:
            log(f"  installing privacyIDEA into {peer.VENV} (at most "
                f"{self.options.peer_timeout:.0f} s)")
            try:
                peer.install(self.options.peer_timeout)
                problem = peer.installed()
            except peer.PeerUnavailable as exc:
                problem = str(exc)
        elif problem:
            problem += "; --quick and --no-peer-install do not install it (run once without them)"
        if problem:
            self.skip([figure], problem)
            return
        workdir = self.workdir / "peer"
        workdir.mkdir()
        try:
            with peer.serve(workdir, profile, PEER_THREADS) as (server, check):
                figure.notes.append(f"privacyIDEA {peer.version()}, SQLite, waitress "
                                    f"threads={PEER_THREADS}")
                self.warm_up(server, check)
                self.repeat(figure, lambda _: self.http_run(server, check, self.load()))
        except peer.PeerUnavailable as exc:
            self.skip([figure], str(exc))


def per_request(before: dict[str, float] | None, after: dict[str, float] | None,
                requests: int) -> dict[str, float]:
    """The server's CPU milliseconds (user, system) and context switches per request
    between two readings of :meth:`Server.counters`; empty when either is missing."""
    if before is None or after is None or requests <= 0:
        return {}
    user, system = after["user_s"] - before["user_s"], after["sys_s"] - before["sys_s"]
    return {
        "server_cpu_ms_per_req": 1000 * (user + system) / requests,
        "server_sys_ms_per_req": 1000 * system / requests,
        "server_switches_per_req": (after["switches"] - before["switches"]) / requests,
    }


@contextmanager
def scratch() -> Iterator[Path]:
    """A temporary directory for databases and server logs, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="tfa-bench-") as tmp:
        yield Path(tmp)
