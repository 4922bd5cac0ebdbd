"""Serve privacyIDEA with waitress on 127.0.0.1; run with the peer venv's Python, by path.

    benchmarks/.peer-venv/bin/python benchmarks/peer_server.py --config pi.cfg --port 0

The peer venv has privacyIDEA and waitress, not tfa-engine: run by path, this file's folder
is on ``sys.path``, so it takes the stdlib-only ``serving`` module beside it by that name.
"""

from __future__ import annotations

import argparse

from serving import serve  # type: ignore[import-not-found,unused-ignore]


def main() -> None:
    """Create the privacyIDEA app from ``--config`` and serve it until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True, help="privacyIDEA configuration file")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    import waitress
    from privacyidea.app import create_app  # type: ignore[import-not-found,unused-ignore]

    app = create_app(config_name="production", config_file=args.config, silent=True)
    server = waitress.create_server(app, host="127.0.0.1", port=args.port, threads=args.threads)
    serve(server, "peer")


if __name__ == "__main__":
    main()
