"""``python -m benchmarks.range_traffic``: what one request-code costs as the fraud guard's
number range fills up.

    python -m benchmarks.range_traffic [--step 2500] [--steps 8] [--profile test]

The engine in process on an SQLite file, every control on with limits above the load (as
``python -m benchmarks`` runs it), sends codes to the benchmark's phones, all of them in
one range (``+44791``), and prints the CPU milliseconds per request-code of each step
against the codes already in the guard's window. The guard reads the token's codes of the
range in the window (and the validated ones among them) at each send from the running totals
the database keeps per 16-second slice, and counts only the codes of the slice the window
begins in: the cost should not grow with the range's traffic (it did while the guard counted
every code of the window from the index).

A diagnostic: it prints a table, writes nothing and asserts nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from tfa_engine import Engine, MemoryGateway, SQLiteStore

from .inprocess import engine_config, request_one

PEPPER = "range-traffic-pepper-0123456789abcd"


def measure(profile: str, step: int, steps: int) -> list[tuple[int, float]]:
    """(codes in the window before the step, CPU ms per request-code of the step)."""
    found = []
    with tempfile.TemporaryDirectory() as directory:
        engine = Engine(SQLiteStore(Path(directory) / "range.db"), MemoryGateway(),
                        engine_config(profile, PEPPER))
        try:
            token = engine.create_token("range-traffic").token
            sent = 0
            for _ in range(steps):
                began = time.process_time()
                for index in range(sent, sent + step):
                    if request_one(engine, token, "range", index) is None:
                        raise RuntimeError(f"request-code {index} was refused")
                found.append((sent, 1000 * (time.process_time() - began) / step))
                sent += step
        finally:
            engine.close()
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.range_traffic",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="test", choices=("test", "owasp"))
    parser.add_argument("--step", type=int, default=2500, help="request-codes per step")
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args(argv)
    print("| codes of the range in the window | CPU ms per request-code |")
    print("|---:|---:|")
    for before, ms in measure(args.profile, args.step, args.steps):
        print(f"| {before:,} to {before + args.step:,} | {ms:.2f} |", flush=True)


if __name__ == "__main__":
    main()
