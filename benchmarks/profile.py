"""``python -m benchmarks.profile``: where a request's CPU goes, per endpoint, argon2
profile, store and face (the engine in process, or a real ``tfa serve`` under load).

A sampling profiler (py-spy, from outside the process: nothing in the measured process
changes) records every thread that is on a CPU while the load runs; each sample's stack is
put in one bucket (argon2, SQL, metrics, logging, audit, phone parsing, JSON, validation,
the HTTP server and framework, the engine's own code, other) by the first rule below that
one of its frames matches, and the leaf frames are ranked by their own samples. With the
process's CPU time and the requests served in the same window, each bucket's share becomes
CPU milliseconds per request. Every control is on with limits above the load, as in
``python -m benchmarks`` (``--controls off`` for the diagnostic).

Writes ``benchmarks/results/profile.json`` and prints the markdown table that
benchmarks/README.md shows. Needs py-spy (``pip install py-spy``; tox's bench environment
has it) and, for PostgreSQL, a server (``TFA_BENCH_DATABASE_URL`` or the installed one).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from . import inprocess, postgres
from .loadgen import LoadSettings, RequestCodes, ValidateCodes, run_load
from .procs import REPO, process_counters
from .service import CONTROLS_VARIABLE, create_token, tfa_environ, tfa_server

RESULTS = Path(__file__).resolve().parent / "results"
PEPPER = "profile-pepper-0123456789abcdef0123"
# (bucket, pattern a frame "function (file:line)" matches), the first match of a stack wins:
# a library called from a feature counts for the feature (JSON inside logging is logging).
BUCKETS = (
    ("argon2", re.compile(r"argon2|_hashing\.py")),
    ("SQL", re.compile(r"sqlite3|psycopg|/store/")),
    ("metrics", re.compile(r"adapters/metrics\.py|prometheus")),
    ("audit", re.compile(r"_audit\.py")),
    ("logging", re.compile(r"logging/|access_log|_access_log")),
    ("phone parsing", re.compile(r"phonenumbers|_phones\.py")),
    ("JSON", re.compile(r"json/|_json|media/json")),
    ("validation", re.compile(r"_requests\.py|_values\.py|_netguard\.py")),
    ("HTTP server", re.compile(r"waitress|gunicorn|falcon|socketserver|wsgi")),
    ("engine", re.compile(r"tfa_engine|/engine/|/adapters/")),
)
OTHER = "other"
TOP = 12  # leaf frames listed per case
# Leaf frames of threads that wait rather than run (py-spy counts a thread blocked in C on
# a lock or a poll as active): a lock's or a condition's wait, the writers' queue (the
# thread lock and the file lock of SQLiteStore._writing), waitress's poll loop, psycopg
# waiting for PostgreSQL (whose own CPU is another process's). Left out of
# the shares, which are then shares of the CPU the process spends. An fsync inside COMMIT
# cannot be told apart this way: it stays in SQL.
IDLE = re.compile(r"^(Condition\.wait|Event\.wait|Thread\.join|poll2?|select) |"
                  r"^SQLiteStore\._writing \(engine/store/sqlite\.py:(201|209)\)|"
                  r"^Connection\.wait \(psycopg/")  # psycopg waiting for the server's answer


def classify(stack: Sequence[str]) -> str:
    """The bucket of one sampled stack (frames outermost first)."""
    for bucket, pattern in BUCKETS:
        if any(pattern.search(frame) for frame in stack):
            return bucket
    return OTHER


def read_samples(path: Path) -> Counter[tuple[str, ...]]:
    """py-spy's raw output (collapsed stacks: ``frame;frame;... count``)."""
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            frames = tuple(stack.split(";"))
            # The first frame is py-spy's thread label, not code.
            stacks[frames[1:] if frames[0].startswith(("process ", "thread ")) else frames] \
                += int(count)
    return stacks


def summarize(stacks: Counter[tuple[str, ...]], cpu_ms_per_request: float | None
              ) -> dict[str, Any]:
    """Shares per bucket (and CPU ms per request when known), and the top leaf frames."""
    total = sum(stacks.values())
    buckets: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    idle = sum(count for stack, count in stacks.items() if stack and IDLE.search(stack[-1]))
    stacks = Counter({stack: count for stack, count in stacks.items()
                      if not (stack and IDLE.search(stack[-1]))})
    total -= idle
    for stack, count in stacks.items():
        buckets[classify(stack)] += count
        if stack:
            leaves[stack[-1]] += count
    shares = {name: buckets[name] / total if total else 0.0
              for name in [*(b for b, _ in BUCKETS), OTHER]}
    return {
        "samples": total,
        "idle_samples": idle,
        "cpu_ms_per_request": cpu_ms_per_request,
        "shares": shares,
        "ms_per_request": ({name: share * cpu_ms_per_request for name, share in shares.items()}
                           if cpu_ms_per_request else None),
        "top_frames": [(frame, count / total) for frame, count in leaves.most_common(TOP)]
        if total else [],
    }


def py_spy() -> str:
    """The py-spy executable (beside this Python, or on PATH)."""
    beside = Path(sys.executable).with_name("py-spy")
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        raise SystemExit("py-spy is needed: pip install py-spy")
    return found


@contextmanager
def recording(pid: int, seconds: float, rate: int, out: Path) -> Iterator[None]:
    """py-spy records ``pid`` (and its threads) for ``seconds`` while the block runs."""
    argv = [py_spy(), "record", "--pid", str(pid), "--duration", str(int(seconds)),
            "--rate", str(rate), "--format", "raw", "--output", str(out),
            "--subprocesses"]
    spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.5)  # py-spy attaches before the load starts
    try:
        yield
    finally:
        try:
            _, err = spy.communicate(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            spy.kill()
            _, err = spy.communicate()
        if spy.returncode != 0 and not out.exists():
            raise RuntimeError(f"py-spy failed: {err.decode(errors='replace')[-300:]}")


# -- the engine in process: a child python looping over one endpoint ------------------------
def child(database: str, profile: str, endpoint: str, seconds: float) -> None:
    """Run one endpoint in a loop for ``seconds`` once ``ready`` is printed; print the calls
    and the process's CPU seconds at the start and end of the loop."""
    from tfa_engine import Engine, MemoryGateway, catalogue
    from tfa_engine.store import open_store

    gateway = MemoryGateway()
    engine = Engine(open_store(database), gateway, inprocess.engine_config(profile, PEPPER))
    token = engine.create_token(f"profile-{os.getpid()}").token
    pairs: list[tuple[str, str]] = []
    if endpoint == "validate":
        issued = [inprocess.request_one(engine, token, "pv", i) for i in range(5000)]
        pairs = inprocess.with_codes([i for i in issued if i is not None], gateway.messages)
    print("ready", flush=True)
    sys.stdin.readline()  # the profiler is attached
    calls, began, cpu = 0, time.monotonic(), time.process_time()
    while time.monotonic() - began < seconds:
        if endpoint == "request":
            ok = inprocess.request_one(engine, token, f"pr{os.getpid()}", calls) is not None
        else:
            if calls >= len(pairs):
                break
            ref, code = pairs[calls]
            ok = engine.validate_code(token, "127.0.0.1", ref, code).status == catalogue.VALID
        if not ok:
            raise SystemExit(f"{endpoint} failed at call {calls}")
        calls += 1
    print(json.dumps({"calls": calls, "cpu_s": time.process_time() - cpu}), flush=True)
    engine.close()


def profile_inprocess(database: str, profile: str, endpoint: str, seconds: float, rate: int,
                      out: Path) -> dict[str, Any]:
    """Profile the engine in a child process; the summary."""
    argv = [sys.executable, "-m", "benchmarks.profile", "--child", database, profile, endpoint,
            str(seconds)]
    with subprocess.Popen(argv, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          text=True) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the in-process child did not start")
        with recording(proc.pid, seconds, rate, out):
            proc.stdin.write("go\n")
            proc.stdin.flush()
            result = json.loads(proc.stdout.readline())
        proc.wait(timeout=60)
    calls = max(result["calls"], 1)
    return {**summarize(read_samples(out), 1000 * result["cpu_s"] / calls), "requests": calls}


def profile_http(database: str, profile: str, endpoint: str, seconds: float, rate: int,
                 out: Path, workdir: Path, connections: int) -> dict[str, Any]:
    """Profile a real ``tfa serve`` under load (the Python client); the summary."""
    env = tfa_environ(database, profile, PEPPER)
    token = create_token(env)
    source: Any = RequestCodes(token, f"p{os.getpid()}{int(time.time())}")
    if endpoint == "validate":
        pairs = inprocess.issue_codes(database, profile, PEPPER, token,
                                      f"pv{int(time.time())}", 4000 if profile == "test" else 600)
        source = ValidateCodes(token, pairs)
    with tfa_server(f"profile-{profile}-{endpoint}", env, workdir, 32) as server:
        assert server.process is not None
        run_load(server.url, RequestCodes(token, f"warm{time.time()}"),
                 LoadSettings(connections, 1, 200, "python"))
        before = process_counters(server.process.pid)
        with recording(server.process.pid, seconds, rate, out):
            run = run_load(server.url, source,
                           LoadSettings(connections, int(seconds) - 1, 1_000_000, "python"))
        after = process_counters(server.process.pid)
    requests = int(run.get("requests", 0))
    cpu = None
    if before and after and requests:
        cpu = 1000 * (after["user_s"] + after["sys_s"] - before["user_s"] - before["sys_s"]) \
            / requests
    return {**summarize(read_samples(out), cpu), "requests": requests, "rps": run.get("rps")}


# -- the table -----------------------------------------------------------------------------
def table(cases: dict[str, dict[str, Any]]) -> str:
    """A markdown table: CPU ms per request, then each bucket's share (and ms)."""
    names = [*(b for b, _ in BUCKETS), OTHER]
    lines = ["| case | CPU ms/req | " + " | ".join(names) + " |",
             "|---|---:|" + "---:|" * len(names)]
    for case, summary in cases.items():
        if "error" in summary:
            lines.append(f"| {case} | {summary['error']} |" + " |" * len(names))
            continue
        cpu = summary["cpu_ms_per_request"]
        cells = []
        for name in names:
            share = summary["shares"][name]
            cells.append(f"{100 * share:.0f}%" + (f" ({share * cpu:.2f})" if cpu else ""))
        lines.append(f"| {case} | {cpu:.2f} | " + " | ".join(cells) + " |"
                     if cpu else f"| {case} | ? | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per case")
    parser.add_argument("--rate", type=int, default=250, help="samples per second")
    parser.add_argument("--profiles", default="test,owasp")
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--endpoints", default="request,validate")
    parser.add_argument("--faces", default="inprocess,http")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--controls", choices=("on", "off"), default="on")
    parser.add_argument("--output", type=Path, default=RESULTS / "profile.json")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Profile every case asked for; print the table, write the JSON."""
    args = parse(argv)
    unknown = set(args.stores.split(",")) - {"sqlite", "postgres"}
    if unknown and not args.child:
        raise SystemExit(f"--stores: {', '.join(sorted(unknown))}: not sqlite or postgres")
    if args.child:
        database, profile, endpoint, seconds = args.child
        child(database, profile, endpoint, float(seconds))
        return 0
    os.environ[CONTROLS_VARIABLE] = args.controls
    cases: dict[str, dict[str, Any]] = {}
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tfa-prof-")))
        pg_url: str | None = None
        for store in args.stores.split(","):
            if store == "postgres":
                try:
                    pg_url = stack.enter_context(postgres.database())
                except Exception as exc:
                    for case in _cases(args, store):
                        cases[case] = {"error": f"no PostgreSQL: {exc}"}
                    continue
            for face in args.faces.split(","):
                for profile in args.profiles.split(","):
                    for endpoint in args.endpoints.split(","):
                        case = f"{face} {store} {profile} {endpoint}-code"
                        name = re.sub(r"\W+", "-", case)
                        database = (str(workdir / f"{name}.db") if store == "sqlite"
                                    else _schema(pg_url, name))
                        out = workdir / f"{name}.txt"
                        print(f"profiling {case} ...", file=sys.stderr, flush=True)
                        try:
                            if face == "inprocess":
                                cases[case] = profile_inprocess(
                                    database, profile, endpoint, args.duration, args.rate, out)
                            else:
                                cases[case] = profile_http(
                                    database, profile, endpoint, args.duration, args.rate,
                                    out, workdir, args.connections)
                        except Exception as exc:
                            cases[case] = {"error": str(exc)[:200]}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"controls": args.controls, "cases": cases}, indent=1))
    print(table(cases))
    for case, summary in cases.items():
        if summary.get("top_frames"):
            print(f"\n{case}: top frames (own samples)")
            for frame, share in summary["top_frames"]:
                print(f"  {100 * share:5.1f}%  {frame}")
    print(f"\nwritten: {args.output}")
    return 0


def _cases(args: argparse.Namespace, store: str) -> list[str]:
    return [f"{face} {store} {profile} {endpoint}-code" for face in args.faces.split(",")
            for profile in args.profiles.split(",") for endpoint in args.endpoints.split(",")]


def _schema(url: str | None, name: str) -> str:
    assert url is not None
    schema = "p_" + name.lower().replace("-", "_")[:50]
    postgres.create_schema(url, schema)
    return postgres.in_schema(url, schema)


if __name__ == "__main__":
    raise SystemExit(main())
