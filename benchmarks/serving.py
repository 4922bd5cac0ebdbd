"""Run a WSGI app on waitress until SIGTERM or SIGINT, announcing where it listens."""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def serve(server: Any, name: str, *, announce: bool = True) -> None:
    """Print ``NAME serving on http://HOST:PORT`` and run ``server`` until a signal stops it."""
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    if announce:
        print(f"{name} serving on http://{server.effective_host}:{server.effective_port}",
              flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
