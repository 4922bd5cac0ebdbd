"""The SMPP 3.4 gateway: one bound transceiver session per process, to any SMSC.

The session is opened on the first send or check of the process that makes it (a worker
forked from a server opens its own), kept alive with ``enquire_link`` and bound again,
after a pause that doubles up to a minute while binds fail, whenever it ends. A send
writes one ``submit_sm`` and waits for its ``submit_sm_resp`` within the gateway's
deadline; ``ESME_RTHROTTLED`` and ``ESME_RMSGQFUL`` are tried again while time is left.
The SMSC's delivery receipts (``deliver_sm``) go to the sink given by :meth:`attach`,
naming the message by the SMSC's id, which :meth:`send` returns in :class:`Accepted`.

Needs smpplib (``pip install 'tfa-engine[smpp]'``); importing this module imports it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from .._phones import mask
from ._base import Accepted, DeliveryReport, Gateway, GatewayError, ReportSink, SmsMessage
from ._smpp_pdus import (
    NPI_ISDN,
    RETRIABLE,
    TON_INTERNATIONAL,
    destination_address,
    encode_text,
    message_id,
    parse_receipt,
    source_address,
    status_name,
)
from ._smpp_session import (
    TRY_LATER,
    BindRefused,
    NotSent,
    Session,
    SessionError,
    Unanswered,
)

__all__ = ["SmppGateway"]

log = logging.getLogger("tfa.gateway.smpp")

FIRST_PAUSE = 0.5  # seconds before binding again after a session ended or a bind failed
LAST_PAUSE = 60.0  # the longest pause between binds
THROTTLED_PAUSE = 0.1  # seconds before a throttled submit_sm is tried again; doubles
# SMPP 3.4 field sizes, NUL included: longer values would be cut without a word.
_LIMITS = {"system_id": 16, "password": 9, "system_type": 13}


class SmppGateway(Gateway):
    """Sends each SMS as one ``submit_sm`` over an SMPP 3.4 transceiver session; thread-safe.

    Args:
        host, port: the SMSC.
        system_id, password, system_type: the bind's credentials (at most 15, 8 and 12
            characters, as SMPP 3.4 allows).
        tls: connect with TLS, checking the SMSC's certificate against ``host``.
        deadline: seconds one :meth:`send` may take in all, binding and retries included.
        enquire_every: seconds of silence after which the session sends ``enquire_link``
            (and ends when that gets no answer in as long again).
        clock, sleep: injectable for tests (``clock`` must be monotonic).
    """

    def __init__(
        self,
        host: str,
        system_id: str,
        password: str,
        *,
        port: int = 2775,
        system_type: str = "",
        tls: bool = False,
        deadline: float = 10.0,
        enquire_every: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not host:
            raise ValueError("smpp host must not be empty")
        if not 0 < port < 65536:
            raise ValueError("smpp port must be from 1 to 65535")
        for name, value in (("system_id", system_id), ("password", password),
                            ("system_type", system_type)):
            if len(value) >= _LIMITS[name] or not value.isascii():
                raise ValueError(f"smpp {name} must be ASCII of at most "
                                 f"{_LIMITS[name] - 1} characters")
        if not system_id:
            raise ValueError("smpp system_id must not be empty")
        if not deadline > 0 or not enquire_every > 0:
            raise ValueError("deadline and enquire_every must be positive")
        self.host, self.port = host, port
        self.system_id, self.system_type = system_id, system_type
        self._password = password
        self.tls = tls
        self.deadline = deadline
        self.enquire_every = enquire_every
        self._clock, self._sleep = clock, sleep
        self._sink: ReportSink | None = None
        self._guard = threading.Lock()
        self._keeper: _Keeper | None = None
        # A worker forked from the process that sent needs a session of its own.
        os.register_at_fork(after_in_child=_after_fork(self))

    def __repr__(self) -> str:  # no password in a repr
        return f"{type(self).__name__}({self.where!r}, system_id={self.system_id!r})"

    @property
    def where(self) -> str:
        """``host:port`` of the SMSC."""
        return f"{self.host}:{self.port}"

    @property
    def bound(self) -> bool:
        """True while this process has a bound session."""
        keeper = self._keeper
        return keeper is not None and keeper.session is not None and keeper.session.alive

    def attach(self, reports: ReportSink) -> None:
        """Hand the SMSC's delivery receipts to ``reports``; until then they are answered
        with a temporary error, so the SMSC delivers them again later."""
        self._sink = reports

    def check(self) -> None:
        """Bind (and unbind) without sending anything, unless this process is bound
        already; raise :class:`GatewayError` naming the bind's status or the connection's
        failure."""
        if self.bound:
            return
        session = self._session(timeout=min(self.deadline, 10.0))
        try:
            session.bind(self.system_id, self._password, self.system_type)
        except SessionError as exc:
            raise GatewayError(f"SMPP bind to {self.where} {exc.reason}"
                               if isinstance(exc, BindRefused)
                               else f"SMPP bind to {self.where} failed: {exc.reason}") from None
        finally:
            session.close()

    def close(self) -> None:
        """Unbind and stop this process's session; a later send opens a new one."""
        with self._guard:
            keeper, self._keeper = self._keeper, None
        if keeper is not None:
            keeper.stop()

    def send(self, message: SmsMessage) -> Accepted:
        """Submit ``message``; raise :class:`GatewayError` when the SMSC refused it, or did
        not answer before the deadline (then ``maybe_sent``: it may have taken it)."""
        end = message.ends_at(self._clock(), self.deadline)
        fields = self._fields(message)
        pause = THROTTLED_PAUSE
        while True:
            session = self._bound_session(message, end)
            try:
                answer = session.submit(fields, end - self._clock())
            except NotSent:
                continue  # the session ended before the write: wait for the next one
            except Unanswered as exc:
                raise self._fail(message, f"{exc.reason} (deadline {self.deadline:g}s)",
                                 maybe_sent=True) from None
            status = int(answer.status)
            if status == 0 and answer.command == "submit_sm_resp":
                provider_id = message_id(answer)
                log.info("smpp %s took message_id=%s to=%s as %s", self.where,
                         message.message_id, mask(message.recipient), provider_id)
                return Accepted(self.label, provider_id)
            problem = f"{answer.command} {status_name(status)}"
            if status not in RETRIABLE:
                raise self._fail(message, problem)
            if self._clock() + pause >= end:
                raise self._fail(message, f"{problem} until the deadline", retry_after=pause)
            log.info("smpp %s: %s for message_id=%s, again in %gs", self.where, problem,
                     message.message_id, pause)
            self._sleep(pause)
            pause *= 2

    # -- sending ------------------------------------------------------------------------------

    def _fields(self, message: SmsMessage) -> dict[str, Any]:
        data_coding, octets = encode_text(message.text)
        ton, npi, source = source_address(message.sender)
        return {
            "source_addr_ton": ton, "source_addr_npi": npi, "source_addr": source,
            "dest_addr_ton": TON_INTERNATIONAL, "dest_addr_npi": NPI_ISDN,
            "destination_addr": destination_address(message.recipient),
            "registered_delivery": 1, "data_coding": data_coding, "short_message": octets,
        }

    def _bound_session(self, message: SmsMessage, end: float) -> Session:
        with self._guard:
            if self._keeper is None:
                self._keeper = _Keeper(self)
                self._keeper.start()
            keeper = self._keeper
        try:
            return keeper.wait_bound(end - self._clock())
        except SessionError as exc:
            raise self._fail(message, f"not bound: {exc.reason}") from None

    def _fail(self, message: SmsMessage, problem: str, *, maybe_sent: bool = False,
              retry_after: float | None = None) -> GatewayError:
        reason = f"smpp {self.where}: {problem}"
        log.warning("smpp gave up on message_id=%s to=%s: %s", message.message_id,
                    mask(message.recipient), reason)
        return GatewayError(reason, retry_after=retry_after, maybe_sent=maybe_sent)

    # -- the session --------------------------------------------------------------------------

    def _session(self, timeout: float) -> Session:
        return Session(self.host, self.port, tls=self.tls, timeout=timeout,
                       deliver=self._deliver, enquire_every=self.enquire_every)

    def _bind(self, session: Session) -> None:
        session.bind(self.system_id, self._password, self.system_type)

    def _deliver(self, pdu: Any) -> int:
        """Hand a deliver_sm's receipt to the sink; the status to answer it with."""
        receipt = parse_receipt(pdu)
        if receipt is None:
            return 0  # a message from a phone, or an intermediate state: nothing to keep
        sink = self._sink
        if sink is None:
            return TRY_LATER
        try:
            sink(DeliveryReport(self.label, receipt.provider_id, receipt.status, time.time()))
        except Exception:
            log.exception("smpp receipt for %s could not be taken", receipt.provider_id)
            return TRY_LATER
        return 0

    def _forked(self) -> None:
        """In a child of fork(): the parent's session and its thread are not ours."""
        keeper, self._keeper = self._keeper, None
        self._guard = threading.Lock()
        if keeper is not None:
            keeper.abandon()


def _after_fork(gateway: SmppGateway) -> Callable[[], None]:
    """A fork handler that does not keep ``gateway`` alive."""
    ref = weakref.ref(gateway)

    def forked() -> None:
        target = ref()
        if target is not None:
            target._forked()

    return forked


class _Keeper:
    """The thread that binds a session, reads it until it ends, and binds again."""

    def __init__(self, gateway: SmppGateway) -> None:
        self.gateway = gateway
        self.session: Session | None = None
        self.problem: str | None = None  # why the latest bind failed (None: it did not)
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._keep, daemon=True,
                                        name=f"tfa-smpp-{gateway.where}")

    def start(self) -> None:
        self._thread.start()

    def wait_bound(self, wait: float) -> Session:
        """The bound session, waiting up to ``wait`` seconds for a bind; raise
        :class:`SessionError` at once when the latest bind failed."""
        deadline = time.monotonic() + wait
        with self._changed:
            while True:
                session = self.session
                if session is not None and session.alive:
                    return session
                if self.problem is not None:
                    raise SessionError(self.problem)
                left = deadline - time.monotonic()
                if left <= 0 or self._stopping.is_set():
                    raise SessionError("no bind in time")
                self._changed.wait(left)

    def stop(self) -> None:
        self._stopping.set()
        session = self.session
        if session is not None:
            session.close()
        with self._changed:
            self._changed.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)

    def abandon(self) -> None:
        self._stopping.set()
        if self.session is not None:
            self.session.abandon()

    def _keep(self) -> None:
        gateway = self.gateway
        pause = FIRST_PAUSE
        while not self._stopping.is_set():
            session = gateway._session(timeout=min(gateway.deadline, 10.0))
            try:
                gateway._bind(session)
            except SessionError as exc:
                self._tell(None, f"{exc.reason}")
                log.warning("smpp bind to %s failed: %s; next try in %gs", gateway.where,
                            exc.reason, pause)
            else:
                self._tell(session, None)
                log.info("smpp bound to %s as %s", gateway.where, gateway.system_id)
                pause = FIRST_PAUSE
                if self._stopping.is_set():
                    session.close()
                ended = session.run()
                self._tell(None, None)
                if self._stopping.is_set():
                    break
                log.warning("smpp session to %s ended (%s); binding again in %gs",
                            gateway.where, ended, pause)
            if self._stopping.wait(pause):
                break
            pause = min(pause * 2, LAST_PAUSE)

    def _tell(self, session: Session | None, problem: str | None) -> None:
        with self._changed:
            self.session, self.problem = session, problem
            self._changed.notify_all()
