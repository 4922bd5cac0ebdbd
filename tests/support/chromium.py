"""Headless Chromium driven over the DevTools protocol, for the browser tests.

The browser is a real ``chromium`` process (Debian's package) started with the flags that
work on a machine without a network or a screen. It speaks DevTools over a pipe
(``--remote-debugging-pipe``: it reads commands on file descriptor 3 and writes on 4,
each message a JSON text ended by a NUL byte), so no port is opened and nothing beyond
the standard library is needed. Every wait is bounded, and ``close`` always ends the
process.

Importable from every test directory (pytest's ``pythonpath`` holds ``tests/support``).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_ENV = "TFA_TEST_CHROMIUM"  # the browser to run, if not `chromium` on PATH
CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
# What makes Chromium run here: as root (no sandbox), with no GPU, no screen, and no
# background connections (this machine refuses them, many at a time).
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
)
COMMAND_TIMEOUT = 15.0  # seconds for one DevTools command
WAIT_TIMEOUT = 15.0  # seconds for something to appear on a page
STOP_TIMEOUT = 10.0  # seconds for the browser to exit


def find_chromium() -> str:
    """The browser binary: ``$TFA_TEST_CHROMIUM``, else Chromium on PATH. A test that
    needs it fails (never skips) without one, saying how to install it."""
    named = os.environ.get(CHROMIUM_ENV)
    names = (named,) if named else CANDIDATES
    found = next(filter(None, map(shutil.which, names)), None)
    if found is None:
        pytest.fail(
            f"no Chromium for the browser tests ({named or ' / '.join(CANDIDATES)} not found): "
            f"apt-get install chromium, or set {CHROMIUM_ENV}",
            pytrace=False,
        )
    return found


class DevToolsError(RuntimeError):
    """A DevTools command answered with an error."""


class Browser:
    """One headless Chromium process; ``new_page()`` opens a tab, ``close()`` ends it all."""

    def __init__(self, executable: str, workdir: Path, *, size: tuple[int, int] = (1280, 900)):
        workdir.mkdir(parents=True, exist_ok=True)
        profile = workdir / "profile"  # a new, empty profile for every browser
        profile.mkdir()
        self.log_path = workdir / "chromium.log"
        to_child_read, to_child_write = os.pipe()
        from_child_read, from_child_write = os.pipe()
        # The child must find the pipe at descriptors 3 and 4: copy both ends above any
        # descriptor the redirections below write to, then let bash move them there (dash
        # takes single-digit descriptors only).
        child_in = fcntl.fcntl(to_child_read, fcntl.F_DUPFD, 10)
        child_out = fcntl.fcntl(from_child_write, fcntl.F_DUPFD, 10)
        for fd in (to_child_read, from_child_write):
            os.close(fd)
        command = [executable, *FLAGS, f"--user-data-dir={profile}",
                   f"--window-size={size[0]},{size[1]}", "about:blank"]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                ["/bin/bash", "-c",
                 f'exec "$@" 3<&{child_in} 4>&{child_out} {child_in}<&- {child_out}>&-',
                 "chromium", *command],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                pass_fds=(child_in, child_out), start_new_session=True,
            )
        os.close(child_in)
        os.close(child_out)
        self._writer = os.fdopen(to_child_write, "wb", buffering=0)
        self._reader = os.fdopen(from_child_read, "rb", buffering=0)
        self._lock = threading.Condition()
        self._next_id = 0
        self._answers: dict[int, dict[str, Any]] = {}
        self._events: list[dict[str, Any]] = []
        self._ended = False
        self._thread = threading.Thread(target=self._read, name="chromium-devtools", daemon=True)
        self._thread.start()
        self.version = self.send("Browser.getVersion")["product"]

    # -- the protocol -----------------------------------------------------------------------

    def _read(self) -> None:
        buffered = b""
        while True:
            try:
                chunk = self._reader.read(65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buffered += chunk
            *messages, buffered = buffered.split(b"\0")
            with self._lock:
                for raw in messages:
                    message = json.loads(raw)
                    if "id" in message:
                        self._answers[message["id"]] = message
                    else:
                        self._events.append(message)
                self._lock.notify_all()
        with self._lock:
            self._ended = True
            self._lock.notify_all()

    def send(
        self, method: str, params: Mapping[str, Any] | None = None, *,
        session: str | None = None, timeout: float = COMMAND_TIMEOUT,
    ) -> dict[str, Any]:
        """Run one DevTools command and return its result."""
        with self._lock:
            self._next_id += 1
            ident = self._next_id
        message: dict[str, Any] = {"id": ident, "method": method, "params": dict(params or {})}
        if session is not None:
            message["sessionId"] = session
        self._writer.write(json.dumps(message).encode("utf-8") + b"\0")
        deadline = time.monotonic() + timeout
        with self._lock:
            while ident not in self._answers:
                left = deadline - time.monotonic()
                if self._ended or left <= 0:
                    state = "the browser exited" if self._ended else f"no answer in {timeout}s"
                    raise DevToolsError(f"{method}: {state}; log: {self.log_path}")
                self._lock.wait(left)
            answer = self._answers.pop(ident)
        if "error" in answer:
            raise DevToolsError(f"{method}: {answer['error']}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    def events(self, session: str) -> list[dict[str, Any]]:
        """The events of one session so far, oldest first."""
        with self._lock:
            return [e for e in self._events if e.get("sessionId") == session]

    # -- tabs and the end -------------------------------------------------------------------

    def new_page(self) -> Page:
        """A new tab, attached, with its events recorded."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        page = Page(self, target, session["sessionId"])
        for domain in ("Page", "Runtime", "Log", "Network"):
            page.send(f"{domain}.enable")
        return page

    def close(self) -> None:
        """End the browser: politely, then by force; always closes the pipe."""
        try:
            if self.process.poll() is None:
                with contextlib.suppress(DevToolsError, OSError):
                    self.send("Browser.close", timeout=5.0)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait(timeout=STOP_TIMEOUT)
        finally:
            self._writer.close()
            self._thread.join(timeout=STOP_TIMEOUT)
            self._reader.close()


class Page:
    """One tab: navigate, evaluate JavaScript, wait for the page, click, take a picture."""

    def __init__(self, browser: Browser, target: str, session: str) -> None:
        self.browser = browser
        self.target = target
        self.session = session

    def send(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A DevTools command in this tab."""
        return self.browser.send(method, params, session=self.session)

    def goto(self, url: str) -> None:
        """Open ``url`` and wait until it has loaded."""
        answer = self.send("Page.navigate", {"url": url})
        if answer.get("errorText"):
            raise DevToolsError(f"opening {url}: {answer['errorText']}")
        self.wait_for("document.readyState === 'complete'", f"{url} to load")

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression (promises awaited)."""
        answer = self.send("Runtime.evaluate", {
            "expression": expression, "returnByValue": True, "awaitPromise": True,
        })
        if "exceptionDetails" in answer:
            details = answer["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise DevToolsError(f"{expression!r} threw: {text}")
        return answer["result"].get("value")

    def wait_for(self, expression: str, what: str, timeout: float = WAIT_TIMEOUT) -> Any:
        """The first truthy value of ``expression``, polled until ``timeout``."""
        deadline = time.monotonic() + timeout
        value: Any = None
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() >= deadline:
                text = self.evaluate("document.body ? document.body.innerText : ''")
                raise AssertionError(
                    f"waited {timeout}s for {what}; last value {value!r}; "
                    f"errors: {self.errors()}; the page shows:\n{text}"
                )
            time.sleep(0.1)

    def click(self, selector: str) -> None:
        """Click the middle of the element ``selector`` picks, as a mouse does."""
        box = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " if (!e) return null; e.scrollIntoView({block: 'center'});"
            " const r = e.getBoundingClientRect();"
            " return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()"
        )
        if box is None:
            raise AssertionError(f"nothing on the page matches {selector!r}")
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {
                "type": kind, "x": box["x"], "y": box["y"], "button": "left",
                "clickCount": 0 if kind == "mouseMoved" else 1,
            })

    def screenshot(self, path: Path) -> Path:
        """Save the whole page as a PNG at ``path``."""
        size = self.send("Page.getLayoutMetrics")["cssContentSize"]
        shot = self.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"],
                     "scale": 1},
        })
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def errors(self) -> list[str]:
        """What the page reported as errors: uncaught exceptions, console errors, and
        browser log errors (a refused resource, a Content-Security-Policy violation)."""
        found = []
        for event in self.browser.events(self.session):
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                found.append(details.get("exception", {}).get("description") or details["text"])
            elif method == "Runtime.consoleAPICalled" and params["type"] == "error":
                found.append(" ".join(str(a.get("value", a.get("description")))
                                      for a in params["args"]))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(f"{params['entry']['text']} {params['entry'].get('url', '')}")
        return found

    def requested(self) -> list[str]:
        """Every URL the page asked for, oldest first."""
        return [e["params"]["request"]["url"] for e in self.browser.events(self.session)
                if e["method"] == "Network.requestWillBeSent"]

    def close(self) -> None:
        """Close the tab."""
        self.browser.send("Target.closeTarget", {"targetId": self.target})
