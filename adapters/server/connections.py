"""How ``tfa serve`` has waitress treat connections: how many, for how long, how large a
body, which headers reach the app, and the envelope on what waitress refuses itself.

* Forwarding headers reach the app untouched: waitress 3 would drop them from every
  peer it does not trust itself, and the app's own rule (the rightmost address that is
  not a trusted proxy, headers believed from trusted proxies only) must be the judge.
* Many connections, each given a deadline: a client has ``channel_timeout`` seconds,
  from connecting or from the end of its previous answer, to send a whole request
  (waitress's own timeout counts from the last byte, so one byte a second keeps a
  connection for ever). Waiting connections cost a socket, not a thread: waitress
  hands a request to a thread only once it has arrived whole.
* ``poll()`` instead of ``select()``, which cannot watch descriptors past 1023.
* Bodies stop at ``max_body``: waitress refuses a larger Content-Length before reading
  the body, and cuts a chunked upload off there.
* What waitress refuses before the app sees it (a malformed request line, header or
  Content-Length, an unsupported Transfer-Encoding, a body over the limit) is answered
  in the API's JSON envelope, like everything else.
"""

from __future__ import annotations

import json
import logging
import select
import time
from http import HTTPStatus
from typing import Any

from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer
from waitress.task import ErrorTask

from tfa_engine import Outcome, Status, catalogue

from .settings import Settings

log = logging.getLogger("tfa.server")

# Descriptors beyond the connections: the listening sockets, the waitress trigger, the
# database files of each thread's connection, logs.
SPARE_FILES_PER_THREAD = 4
SPARE_FILES = 64


def waitress_options(settings: Settings) -> dict[str, Any]:
    """The waitress adjustments for ``settings``."""
    return {
        "threads": settings.threads,
        "clear_untrusted_proxy_headers": False,
        "connection_limit": settings.connection_limit,
        "channel_timeout": settings.channel_timeout,
        "cleanup_interval": 1,  # seconds between waitress's own idle sweeps
        "asyncore_use_poll": hasattr(select, "poll"),  # not on Windows
        # waitress refuses a body of this size or more; the app takes max_body itself.
        # Bodies under inbuf_overflow (512 KiB, left as it is) stay in memory.
        "max_request_body_size": settings.max_body + 1,
    }


def status_for_refusal(http: int) -> Status:
    """The catalogue status for an HTTP error waitress raised on its own."""
    if http == HTTPStatus.REQUEST_ENTITY_TOO_LARGE:
        return catalogue.TOO_LARGE
    if http == HTTPStatus.INTERNAL_SERVER_ERROR:
        return catalogue.INTERNAL_ERROR
    return catalogue.MALFORMED  # unparsable request, headers too large, unknown coding


class EnvelopeErrorTask(ErrorTask):  # type: ignore[misc]
    """waitress's answer to a request it refused, written as the API's envelope."""

    def execute(self) -> None:
        status = status_for_refusal(int(self.request.error.code))
        body = json.dumps(
            Outcome(status).envelope(), ensure_ascii=False, separators=(",", ":")
        ).encode("utf-8")
        self.status = f"{status.http} {HTTPStatus(status.http).phrase}"
        self.response_headers.extend(
            [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
        )
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class GuardedChannel(HTTPChannel):  # type: ignore[misc]
    """A waitress connection that must send each request whole within ``channel_timeout``
    seconds of its previous answer (or of connecting), and answers refusals in the
    envelope."""

    error_task_class = EnvelopeErrorTask

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.waiting_since: float = self.creation_time

    def readable(self) -> bool:
        # The event loop asks every connection this at least once a second.
        now = time.time()
        if self.requests or self.total_outbufs_len:
            self.waiting_since = now  # our turn (serving, answering): the client waits
        elif now - self.waiting_since > self.adj.channel_timeout:
            self.will_close = True  # writable() now says so, and the loop closes it
        return bool(super().readable())


def guard_connections(sockets: dict[int, Any]) -> None:
    """Make the waitress servers in the socket map ``sockets`` open
    :class:`GuardedChannel` connections (before their loop runs)."""
    for dispatcher in sockets.values():
        if isinstance(dispatcher, BaseWSGIServer):
            dispatcher.channel_class = GuardedChannel


def raise_open_files_limit(settings: Settings) -> None:
    """Raise this process's soft limit on open files to what ``connection_limit``
    connections need, as far as the hard limit allows (a warning says when it does not)."""
    try:
        import resource
    except ImportError:  # not on this platform (Windows): nothing to raise
        return
    needed = settings.connection_limit + SPARE_FILES_PER_THREAD * settings.threads + SPARE_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        log.warning(
            "open files are limited to %d (ulimit -n); TFA_CONNECTION_LIMIT=%d needs "
            "about %d: lower it, or raise the limit",
            target, settings.connection_limit, needed,
        )
