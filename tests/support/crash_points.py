"""Crash points for tests: a store, a gateway and a callback transport that die at step k.

A crash is :class:`Crash`, a ``BaseException``, so that no ``except Exception`` of the code
under test swallows it. A :class:`Plan` numbers the calls the code under test makes across
the store (every public method), the gateway (``send``) and the callback transport (a post):
its steps. Armed, it raises :class:`Crash` before the k-th step runs, or after it ran (its
write committed, but the process died before using the answer). A call that itself raised
crashes instead of having its error handled. Once crashed, the process is dead: a handler
of the code under test that catches the crash to clean up (``except BaseException``) finds
every further step crashing too, as a killed process runs no handler at all.

What outlives a crash (the database, what the gateway accepted, what the callback receiver
got) is kept outside the engine: see tests/support/crash_world.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from tfa_engine.gateways import Gateway, SmsMessage
from tfa_engine.store import Store

T = TypeVar("T")
When = Literal["before", "after"]
GATEWAY_SEND = "gateway.send"
TRANSPORT_POST = "transport.post"
STATEMENT = "statement"  # one committed write inside a store call (see CrashingStore)


class Crash(BaseException):
    """The process died here: raised by a :class:`Plan`, caught by nothing in the product."""


@dataclass(frozen=True)
class Call:
    """A store call that returned: whatever it wrote is committed."""

    name: str
    args: tuple[Any, ...]
    result: Any


class Plan:
    """Counts the steps of an operation and crashes before or after the chosen one."""

    def __init__(self) -> None:
        self.steps: list[str] = []
        self.crashed_at: str | None = None  # "after activate_code" once it crashed
        self._counting = False
        self._at: int | str | None = None
        self._when: When = "before"
        self._due = 0  # the step that crashes once it has run
        self._dead = False

    def arm(self, at: int | str | None, when: When = "before") -> None:
        """Count steps from now on and crash ``when`` the ``at``-th runs, or the first
        step of that name (None: count only)."""
        self.steps, self.crashed_at, self._due = [], None, 0
        self._counting, self._at, self._when, self._dead = True, at, when, False

    def disarm(self) -> None:
        """Stop counting and crashing: the test closes what the dead process held, as the
        system would."""
        self._counting, self._at, self._dead = False, None, False

    def begin(self, name: str) -> int:
        """Count a step about to run; its number (0 when not counting)."""
        if self._dead:
            raise Crash(f"{name} after dying {self.crashed_at}")
        if not self._counting:
            return 0
        self.steps.append(name)
        number = len(self.steps)
        if self._at in (number, name) and not self._due:
            if self._when == "before":
                self._crash(f"before {name}")
            self._due = number
        return number

    def end(self, number: int) -> None:
        """The step ``number`` ran (or raised): crash now if it was the one, after."""
        if number and number == self._due:
            self._crash(f"after {self.steps[number - 1]}")

    def step(self, name: str, run: Callable[[], T]) -> T:
        """Run ``run`` as a step called ``name``."""
        number = self.begin(name)
        try:
            result = run()
        except Exception:
            self.end(number)  # died instead of handling the error
            raise
        self.end(number)
        return result

    def _crash(self, where: str) -> None:
        self.crashed_at = where
        self._counting, self._dead = False, True
        raise Crash(where)


class CrashingStore:
    """A store whose every public call is a step of ``plan``; the calls that return are
    appended to ``ledger`` (the writes a crash cannot take back).

    With ``statements``, each write the store commits on its own inside a call (a purge's
    deletions) is a step too, so that a crash between two of them is enumerated.
    """

    def __init__(self, store: Store, plan: Plan, ledger: list[Call], *,
                 statements: bool = False) -> None:
        self._store = store
        self._plan = plan
        self._ledger = ledger
        if statements:
            write = store._write  # type: ignore[attr-defined]

            @contextmanager
            def counted(durable: bool = True) -> Iterator[Any]:
                number = plan.begin(STATEMENT)
                with write(durable) as conn:
                    yield conn
                plan.end(number)

            store._write = counted  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if name.startswith("_") or not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            def run() -> Any:
                result = attribute(*args, **kwargs)
                self._ledger.append(Call(name, args + tuple(kwargs.values()), result))
                return result

            return self._plan.step(name, run)

        return call


class CrashingGateway(Gateway):
    """Accepts every message into ``accepted``, the gateway's memory, which outlives the
    engine's process; each send is a step of ``plan``. ``after_accept`` runs once the
    message is taken (a delivery report overtaking the gateway's answer)."""

    def __init__(self, accepted: list[SmsMessage], plan: Plan,
                 after_accept: Callable[[SmsMessage], None] | None = None) -> None:
        self._accepted = accepted
        self._plan = plan
        self._after_accept = after_accept

    def send(self, message: SmsMessage) -> None:
        """Accept ``message`` (a step of the plan)."""

        def accept() -> None:
            self._accepted.append(message)
            if self._after_accept is not None:
                self._after_accept(message)

        self._plan.step(GATEWAY_SEND, accept)


@dataclass(frozen=True)
class Post:
    """A callback the receiver got, and the process whose dispatcher posted it."""

    poster: str
    body: bytes


class CrashingTransport:
    """The callback receiver: records each post in ``posts`` and answers 200; each post is
    a step of ``plan``."""

    def __init__(self, posts: list[Post], plan: Plan, poster: str) -> None:
        self._posts = posts
        self._plan = plan
        self._poster = poster

    def __call__(self, scheme: str, port: int, address: str, host: str, target: str,
                 body: bytes, headers: dict[str, str], timeout: float) -> int:
        def post() -> int:
            self._posts.append(Post(self._poster, body))
            return 200

        return self._plan.step(TRANSPORT_POST, post)
