"""``python -m benchmarks``: measure, write results/latest.json and latest.png, print a table."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tfa_engine.adapters.server.settings import Settings

from . import loadgen, report
from .runner import CONFIGURED_PROFILE, GROUPS, Bench, Options, diagnostics, log, scratch, targets
from .service import CONTROLS_VARIABLE

RESULTS = Path(__file__).resolve().parent / "results"


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="tfa-engine benchmarks: floors, in-process, over HTTP, and a peer. "
        "Every figure is a median of --runs bounded runs of --duration seconds.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="one run of 1 s per figure, no warm-up, no peer install (smoke test)")
    parser.add_argument("--runs", type=int, help="runs per figure (default 5; --quick: 1)")
    parser.add_argument("--duration", type=int, help="seconds per run (default 3; --quick: 1)")
    parser.add_argument("--connections", type=int, default=16,
                        help="concurrent keep-alive connections for throughput runs (default 16)")
    parser.add_argument("--rss-connections", type=int, default=64,
                        help="connections for the peak-memory runs (default 64)")
    parser.add_argument(
        "--threads", type=int, default=Settings().threads,
        help=f"server threads, every server alike (default: tfa serve's, {Settings().threads})",
    )
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto",
                        help="load generator: wrk when on PATH (auto), or the Python client")
    parser.add_argument("--only", default=",".join(GROUPS),
                        help=f"comma-separated groups to run (default: {','.join(GROUPS)})")
    parser.add_argument("--no-peer-install", action="store_true",
                        help="skip the peer instead of installing privacyIDEA when it is missing")
    parser.add_argument("--peer-install-timeout", type=float, default=900,
                        help="seconds the privacyIDEA install may take (default 900)")
    parser.add_argument("--controls", choices=("on", "off"), default="on",
                        help="rate limits, budgets and the fraud guard: on with limits above "
                             "the load (default), or off (a diagnostic)")
    parser.add_argument("--output", type=Path, default=RESULTS,
                        help="where latest.json and latest.png go (default benchmarks/results)")
    args = parser.parse_args(argv)
    groups = tuple(name.strip() for name in args.only.split(",") if name.strip())
    unknown = [name for name in groups if name not in GROUPS]
    if unknown:
        parser.error(f"unknown group {unknown[0]!r} (known: {', '.join(GROUPS)})")
    args.groups = groups
    args.runs = args.runs or (1 if args.quick else 5)
    args.duration = args.duration or (1 if args.quick else 3)
    if args.runs < 1 or args.duration < 1 or args.connections < 1 or args.rss_connections < 1:
        parser.error("--runs, --duration and the connection counts must be at least 1")
    if args.client == "auto":
        args.client = "wrk" if loadgen.wrk_path() else "python"
    elif args.client == "wrk" and not loadgen.wrk_path():
        parser.error("--client wrk: wrk is not on PATH")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks; 0 when they ran (targets missed or not), 1 when nothing was measured."""
    args = parse(argv)
    os.environ[CONTROLS_VARIABLE] = args.controls  # read by every service and engine started
    controls = ("every control ON, limits above the load (--controls off: all off)"
                if args.controls == "on" else "rate limits, budgets, fraud guard: OFF")
    options = Options(
        runs=args.runs,
        duration=args.duration,
        connections=args.connections,
        rss_connections=args.rss_connections,
        threads=args.threads,
        client=args.client,
        groups=args.groups,
        warmup=not args.quick,
        install_peer=not (args.quick or args.no_peer_install),
        peer_timeout=args.peer_install_timeout,
    )
    client = loadgen.wrk_version() if options.client == "wrk" else "Python keep-alive client"
    header = [
        "tfa-engine benchmarks" + ("  [--quick: smoke test, figures not meaningful]"
                                   if args.quick else ""),
        f"controls: {controls}",
        f"{options.runs} run(s) x {options.duration} s per figure, medians; load: {client}, "
        f"{options.connections} connections ({options.rss_connections} for peak RSS); "
        f"server threads {options.threads}, 127.0.0.1; configured argon2 profile "
        f"{CONFIGURED_PROFILE}",
    ]
    for line in header:
        log(line)
    started = time.time()
    host = report.machine()
    document: dict[str, Any] = {
        "schema": report.SCHEMA,
        "command": [sys.executable, "-m", "benchmarks", *(sys.argv[1:] if argv is None else argv)],
        "machine": host,
        "settings": {
            "quick": args.quick,
            "runs": options.runs,
            "duration_s": options.duration,
            "connections": options.connections,
            "rss_connections": options.rss_connections,
            "server_threads": options.threads,
            "client": client,
            "groups": list(options.groups),
            "configured_profile": CONFIGURED_PROFILE,
            "rate_limits": "off" if args.controls == "off" else "on, above the load",
            "host": "127.0.0.1",
        },
    }
    with scratch() as workdir:
        bench = Bench(options, workdir)
        try:
            bench.run()
        except KeyboardInterrupt:
            log("interrupted: writing what was measured so far")
            document["interrupted"] = True
    chosen = targets(options.threads, options.rss_connections)
    results = [target.evaluate(bench.figures) for target in chosen]
    diagnosed = [target.evaluate(bench.figures) for target in diagnostics()]
    document["elapsed_s"] = round(time.time() - started, 1)
    document["figures"] = {name: figure.to_json() for name, figure in bench.figures.items()}
    document["targets"] = results
    document["diagnostics"] = diagnosed
    document["skipped"] = {
        name: figure.skipped for name, figure in bench.figures.items() if figure.skipped
    }
    json_path = args.output / "latest.json"
    report.write_json(json_path, document)
    print(report.table(bench.figures, results, header, diagnosed))
    png_path = args.output / "latest.png"
    title = (f"tfa-engine, {host['date']}, {host['nproc']} CPUs, "
             f"{options.runs}x{options.duration} s, controls {args.controls}"
             + (" (quick: not meaningful)" if args.quick else ""))
    problem = report.plot(png_path, bench.figures, results, title)
    print()
    print(f"results: {json_path}")
    print(f"plot:    {png_path}" if problem is None else f"plot:    not drawn: {problem}")
    measured = any(not figure.skipped and figure.runs for figure in bench.figures.values())
    return 0 if measured else 1


if __name__ == "__main__":
    raise SystemExit(main())
