"""Name lookups with a deadline, for the threads that answer requests.

``getaddrinfo`` takes no timeout: a slow or unreachable DNS server holds the calling
thread for as long as the system resolver retries (often 10-30 s), and a client that
names such a host in every ``callback_url`` could hold every server thread that way.
:func:`resolve_within` runs the lookup in a daemon thread of its own and stops waiting
at the deadline; the lookup may go on in the background, but at most
:data:`MAX_PENDING_LOOKUPS` at once, so a stalled resolver cannot pile up threads either.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

RESOLVE_TIMEOUT = 2.0  # seconds a request waits for a callback host's addresses
MAX_PENDING_LOOKUPS = 32  # lookups running at once, finished or not

Resolver = Callable[[str, int], list[str]]

_slots = threading.BoundedSemaphore(MAX_PENDING_LOOKUPS)


def system_resolver(host: str, port: int) -> list[str]:
    """Resolve with getaddrinfo; unique address strings in resolver order."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError as exc:  # the idna codec rejects empty or over-long labels
        raise OSError(f"cannot resolve {host!r}: {exc}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class LookupTimeout(Exception):
    """No answer came within the deadline (or every lookup slot is held by a stalled one)."""


def resolve_within(resolver: Resolver, host: str, port: int, timeout: float) -> list[str]:
    """``resolver(host, port)``, or :class:`LookupTimeout` after ``timeout`` seconds.

    The resolver's own exceptions (``OSError`` for a name that does not exist) reach the
    caller as they are.
    """
    deadline = time.monotonic() + timeout
    if not _slots.acquire(timeout=timeout):
        raise LookupTimeout(f"too many lookups pending; {host!r} not looked up")
    done = threading.Event()
    answers: list[str] = []
    failures: list[Exception] = []

    def look_up() -> None:
        try:
            answers.extend(resolver(host, port))
        except Exception as exc:  # handed to the waiting caller, if it still waits
            failures.append(exc)
        finally:
            _slots.release()
            done.set()

    threading.Thread(target=look_up, name="tfa-lookup", daemon=True).start()
    if not done.wait(max(0.0, deadline - time.monotonic())):
        raise LookupTimeout(f"no address for {host!r} within {timeout:g} s")
    if failures:
        raise failures[0]
    return answers
