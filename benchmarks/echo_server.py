"""The floor of the HTTP stack: a bare Falcon app on waitress answering a fixed JSON body.

Routed like the service (``POST /1/2fa`` and ``POST /1/2fa/{client_ref}/{code}``), with
the body read and a Fortytwo-style success envelope sent back, so the load generator sees
the same shape of exchange as with ``tfa serve``. Run as ``python -m benchmarks.echo_server``.
"""

from __future__ import annotations

import argparse
import json

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
    args = parser.parse_args()
    server = waitress.create_server(
        create_app(), host="127.0.0.1", port=args.port, threads=args.threads
    )
    serve(server, "echo")


if __name__ == "__main__":
    main()
