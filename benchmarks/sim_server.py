"""The mediariver simulator as a process, with a fixed latency and no rate limit.

Run as ``python -m benchmarks.sim_server --latency 0.1``; the credentials are ``sim``/``sim``.
"""

from __future__ import annotations

import argparse

from .serving import serve


def main() -> None:
    """Serve the simulator on 127.0.0.1 until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per send")
    args = parser.parse_args()
    # Imported here so that a missing module is a clean exit with the reason on stderr.
    from tfa_engine.adapters.gateway_sim import MediariverSimulator, serve_simulator

    sim = MediariverSimulator(username="sim", password="sim", rate_limit=None)
    sim.faults.latency = args.latency
    server = serve_simulator(sim, port=args.port, threads=args.threads)
    try:
        serve(server, "simulator")
    finally:
        sim.close()


if __name__ == "__main__":
    main()
