"""The floor of the HTTP stack: a bare Falcon app on waitress answering a fixed JSON body.

Routed like the service (``POST /1/2fa`` and ``POST /1/2fa/{client_ref}/{code}``), with
the body read and a Fortytwo-style success envelope sent back, so the load generator sees
the same shape of exchange as with ``tfa serve``. Run as ``python -m benchmarks.echo_server``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket

import falcon
import waitress

from .serving import serve

BODY = json.dumps(
    {
        "api_job_id": "00000000-0000-4000-8000-000000000000",
        "result_info": {"status_code": 0, "description": "Success"},
        "result": {"message_id": "10000000000000000000"},
    },
    separators=(",", ":"),
).encode()


class Echo:
    """Reads the request body, answers the fixed envelope."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, **params: str) -> None:
        """Drain the body and answer."""
        req.bounded_stream.read()
        resp.status = falcon.HTTP_200
        resp.content_type = falcon.MEDIA_JSON
        resp.data = BODY


def create_app() -> falcon.App[falcon.Request, falcon.Response]:
    """The echo app."""
    app = falcon.App()
    echo = Echo()
    app.add_route("/1/2fa", echo)
    app.add_route("/1/2fa/{client_ref}/{code}", echo)
    return app


def main() -> None:
    """Serve the echo app on 127.0.0.1 with waitress."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1,
                        help="processes sharing one listening socket (as tfa serve --workers)")
    args = parser.parse_args()
    if args.workers == 1:
        server = waitress.create_server(
            create_app(), host="127.0.0.1", port=args.port, threads=args.threads
        )
        serve(server, "echo")
        return
    sock = socket.create_server(("127.0.0.1", args.port), backlog=1024)
    sock.set_inheritable(True)
    print(f"echo serving on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    pids = []
    for _ in range(args.workers):
        pid = os.fork()
        if pid == 0:
            server = waitress.create_server(create_app(), sockets=[sock], threads=args.threads)
            serve(server, "echo worker", announce=False)
            os._exit(0)
        pids.append(pid)
    stop = lambda signum, frame: [os.kill(pid, signal.SIGTERM) for pid in pids]  # noqa: E731
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for pid in pids:
        os.waitpid(pid, 0)


if __name__ == "__main__":
    main()
