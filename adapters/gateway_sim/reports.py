"""Delivery reports as mediariver posts them: each one when it falls due, from one thread."""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import urllib3

log = logging.getLogger("tfa.gateway.simulator")

Report = dict[str, str]
DlrPayload = Report | list[Report]
DlrPoster = Callable[[str, DlrPayload], object]
# Told of each payload once posted (dated, as sent): the poster's answer, or its exception.
DlrPosted = Callable[[DlrPayload, object], None]


@dataclass(order=True)
class _Due:
    """Delivery reports waiting for their time."""

    at: float
    seq: int  # unique: ties on ``at`` never compare the rest
    url: str
    payload: DlrPayload


class ReportSender:
    """Posts delivery report payloads once their time comes, in a thread of its own.

    ``post(url, payload)`` sends one request (by default a JSON POST with urllib3);
    ``wall_clock`` dates the reports. A failed post is logged and the report dropped.
    ``on_posted(payload, answer)`` learns of each post, before ``drain`` can return.
    """

    def __init__(
        self,
        post: DlrPoster | None = None,
        wall_clock: Callable[[], float] = time.time,
        on_posted: DlrPosted | None = None,
    ) -> None:
        self._post: DlrPoster = post if post is not None else self._post_with_urllib3
        self._wall_clock = wall_clock
        self._on_posted = on_posted
        self._pool: urllib3.PoolManager | None = None
        self._stopped = False
        self._ready = threading.Condition()
        self._due: list[_Due] = []
        self._seq = itertools.count()
        self._busy = 0
        self._thread: threading.Thread | None = None

    def schedule(self, url: str, payloads: list[DlrPayload], delay: float) -> None:
        """Post each payload to ``url`` ``delay`` seconds from now."""
        at = time.monotonic() + delay
        with self._ready:
            if self._stopped:
                return
            for payload in payloads:
                heapq.heappush(self._due, _Due(at, next(self._seq), url, payload))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="mediariver-simulator-dlr", daemon=True
                )
                self._thread.start()
            self._ready.notify_all()

    def drain(self, timeout: float) -> bool:
        """Wait until every scheduled report was posted; False if time ran out."""
        end = time.monotonic() + timeout
        with self._ready:
            while self._due or self._busy:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._ready.wait(left)
        return True

    @property
    def pending(self) -> int:
        """Report requests scheduled and not yet posted."""
        with self._ready:
            return len(self._due) + self._busy

    def close(self) -> None:
        """Stop the thread, dropping unsent reports."""
        with self._ready:
            self._stopped = True
            self._due.clear()
            self._ready.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        if self._pool is not None:
            self._pool.clear()

    def _run(self) -> None:
        while True:
            with self._ready:
                while True:
                    if self._stopped:
                        return
                    wait = self._due[0].at - time.monotonic() if self._due else None
                    if wait is not None and wait <= 0:
                        due = heapq.heappop(self._due)
                        self._busy += 1
                        break
                    self._ready.wait(wait)
            payload = dated(due.payload, self._wall_clock())
            try:
                answer = self._post(due.url, payload)
            except Exception as exc:  # a lost report must not stop the thread
                log.exception("delivery report to %s failed", due.url)
                answer = exc
            try:
                if self._on_posted is not None:
                    self._on_posted(payload, answer)
            except Exception:
                log.exception("recording a delivery report to %s failed", due.url)
            finally:
                with self._ready:
                    self._busy -= 1
                    self._ready.notify_all()

    def _post_with_urllib3(self, url: str, payload: DlrPayload) -> object:
        """The default ``post``: one JSON POST, no retries, no redirects."""
        import urllib3

        if self._pool is None:
            self._pool = urllib3.PoolManager(num_pools=2, maxsize=2, retries=False)
        response = self._pool.request(
            "POST",
            url,
            body=json.dumps(payload).encode("utf-8"),
            headers={"Content-Type": "application/json"},
            timeout=urllib3.Timeout(connect=2.0, read=5.0),
            retries=False,
            redirect=False,
        )
        log.info("delivery report posted to %s: HTTP %d", url, response.status)
        return response.status


def dated(payload: DlrPayload, now: float) -> DlrPayload:
    """The payload with ``delivery_date`` (mediariver's ``YYYY-MM-DD HH:mm:ss``, UTC) set."""
    date = datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(payload, list):
        return [_report(report, date) for report in payload]
    return _report(payload, date)


def _report(report: Report, date: str) -> Report:
    return {
        "msisdn": report["msisdn"],
        "delivery_status": report["delivery_status"],
        "delivery_date": date,
        "uuid": report["uuid"],
    }
