"""One SMPP transceiver session: smpplib's client on one socket, shared by the threads that
send (writes under a lock) and the thread that reads (``run``), which hands each
``submit_sm_resp`` to the send waiting for it by sequence number.

smpplib is blocking and reads one PDU at a time; its own ``listen`` loop raises on any
error status and answers ``deliver_sm`` before we could look at it, so the reading is done
here with its ``read_pdu`` and each PDU is routed by hand.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

from smpplib import client as smpp_client
from smpplib import consts, exceptions, smpp

from ._smpp_pdus import bind_refusal

# PDUs hold the bind's password and the SMS's code: smpplib logs them in hex at DEBUG, so
# its loggers never pass DEBUG on, whatever the application's logging says.
WIRE_LOG = "tfa.gateway.smpp.wire"
logging.getLogger(WIRE_LOG).setLevel(logging.INFO)
logging.getLogger("smpplib").setLevel(logging.INFO)

TICK = 0.5  # seconds between the reader's looks at the keep-alive and at close()
# What a deliver_sm is answered when its report could not be taken (no sink, store down):
# a temporary error, so the SMSC delivers it again later.
TRY_LATER = 0x64  # ESME_RX_T_APPN

Deliver = Callable[[Any], int]  # a deliver_sm -> the command_status to answer it with


class SessionError(Exception):
    """The session could not be opened or ended; ``reason`` says why in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BindRefused(SessionError):
    """The SMSC answered the bind with an error ``status``."""

    def __init__(self, status: int) -> None:
        super().__init__(f"refused: {bind_refusal(status)}")
        self.status = status


class NotSent(SessionError):
    """The submit_sm could not be written: the session is gone."""


class Unanswered(SessionError):
    """The submit_sm went out and no answer came (in time, or before the session ended)."""


class _Client(smpp_client.Client):  # type: ignore[misc]  # smpplib has no type hints
    """smpplib's client, with sequence numbers that threads cannot share by mistake and
    TLS that checks the SMSC's certificate against its host name."""

    def __init__(self, host: str, port: int, timeout: float, tls: bool) -> None:
        context = ssl.create_default_context() if tls else None
        super().__init__(host, port, timeout=timeout, ssl_context=context,
                         logger_name=WIRE_LOG, allow_unknown_opt_params=True)
        self.sequence_lock = threading.Lock()

    def next_sequence(self) -> int:
        with self.sequence_lock:
            return int(super().next_sequence())

    def _create_socket(self) -> socket.socket:
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.settimeout(self.timeout)
        if self._ssl_context is None:
            return raw
        wrapped: socket.socket = self._ssl_context.wrap_socket(raw, server_hostname=self.host)
        return wrapped

    def __del__(self) -> None:  # smpplib's warns of an unclosed client; close() says enough
        pass


class _Answer:
    """Where the reader puts the answer to one submit_sm (None: the session ended)."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.pdu: Any = None


class Session:
    """A transceiver session to ``host:port``. :meth:`bind` opens it; :meth:`run` reads
    until it ends; :meth:`submit` may be called from any thread meanwhile. ``deliver`` is
    called (in the reading thread) with each ``deliver_sm`` and says how to answer it."""

    def __init__(self, host: str, port: int, *, tls: bool, timeout: float,
                 deliver: Deliver, enquire_every: float) -> None:
        self.where = f"{host}:{port}"
        self._client = _Client(host, port, timeout, tls)
        self._deliver = deliver
        self._enquire_every = enquire_every
        self._write = threading.Lock()
        self._waiting: dict[int, _Answer] = {}
        self._alive = False
        self._reading = False  # run() has started: it closes the socket when it ends

    @property
    def alive(self) -> bool:
        """True from a successful bind until the session ends."""
        return self._alive

    def bind(self, system_id: str, password: str, system_type: str) -> None:
        """Connect and bind as a transceiver; raise :class:`BindRefused` when the SMSC says
        no, :class:`SessionError` when it cannot be reached or does not answer."""
        try:
            self._client.connect()
            self._client.bind_transceiver(system_id=system_id, password=password,
                                          system_type=system_type)
        except exceptions.PDUError as exc:
            self._drop()
            status = exc.args[1] if len(exc.args) > 1 else consts.SMPP_ESME_RBINDFAIL
            raise BindRefused(int(status)) from None
        except (exceptions.ConnectionError, OSError, ValueError) as exc:
            # ValueError: a TLS set-up the ssl module refuses, or a PDU smpplib cannot parse.
            self._drop()
            raise SessionError(_connect_problem(exc)) from None
        self._alive = True

    def submit(self, fields: dict[str, Any], wait: float) -> Any:
        """Write a submit_sm of ``fields`` and wait up to ``wait`` seconds for its answer
        (a ``submit_sm_resp`` or ``generic_nack``, whatever its status)."""
        answer = _Answer()
        with self._write:
            if not self._alive:
                raise NotSent("the session has ended")
            pdu = smpp.make_pdu("submit_sm", client=self._client, **fields)
            self._waiting[pdu.sequence] = answer
            try:
                self._client.send_pdu(pdu)
            except (exceptions.ConnectionError, exceptions.PDUError, OSError):
                self._waiting.pop(pdu.sequence, None)
                self._alive = False
                self._wake_reader()
                raise NotSent("the session broke while writing") from None
        if not answer.ready.wait(max(wait, 0.0)):
            with self._write:
                self._waiting.pop(pdu.sequence, None)
            raise Unanswered("no submit_sm_resp in time")
        if answer.pdu is None:
            raise Unanswered("the session ended before the submit_sm_resp")
        return answer.pdu

    def run(self) -> str:
        """Read and answer PDUs until the session ends; why it ended. Sends an
        ``enquire_link`` after ``enquire_every`` seconds of silence and ends the session when
        that gets no answer within as long again."""
        with self._write:
            self._reading = True
        heard = time.monotonic()
        asked: float | None = None
        reason = "closed"
        try:
            while self._alive:
                if not self._readable(TICK):
                    now = time.monotonic()
                    if asked is not None and now - asked >= self._enquire_every:
                        reason = "no answer to enquire_link"
                        break
                    if asked is None and now - heard >= self._enquire_every:
                        self._reply(smpp.make_pdu("enquire_link", client=self._client))
                        asked = now
                    continue
                pdu = self._client.read_pdu()
                heard, asked = time.monotonic(), None
                if not self._route(pdu):
                    reason = f"the SMSC sent {pdu.command}"
                    break
        except Exception as exc:  # a reader must end the session, never die with it open
            reason = "connection lost" if self._alive else "closed"
            if not isinstance(exc, (exceptions.ConnectionError, OSError)):
                reason = f"{type(exc).__name__} while reading"
        finally:
            self._drop()
        return reason

    def close(self, unbind: bool = True) -> None:
        """End the session (an ``unbind`` first when ``unbind``); the reader stops."""
        if unbind and self._alive:
            with contextlib.suppress(Exception):  # closing anyway
                self._reply(smpp.make_pdu("unbind", client=self._client))
        with self._write:
            self._alive = False
            sock = self._client._socket
            reading = self._reading
        if not reading:
            self._drop()
        elif sock is not None:
            self._wake_reader()

    def _wake_reader(self) -> None:
        """Shut the socket down: the reader, blocked in select() or recv(), sees the end
        and closes it."""
        sock = self._client._socket
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def abandon(self) -> None:
        """Forget a session inherited through fork(): close this process's descriptor of
        the socket and nothing more, the connection still being the parent's."""
        with self._write:
            self._alive = False
            sock, self._client._socket = self._client._socket, None
        if sock is not None:
            sock.close()  # no shutdown(): that would end the parent's connection too

    # -- reading ----------------------------------------------------------------------------

    def _readable(self, timeout: float) -> bool:
        self._reading = True
        sock = self._client._socket
        if sock is None:
            raise exceptions.ConnectionError()
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True  # TLS keeps decrypted bytes select() cannot see
        readable, _, _ = select.select([sock], [], [], timeout)
        return bool(readable)

    def _route(self, pdu: Any) -> bool:
        """Act on one PDU; False when it ends the session."""
        command = pdu.command
        if command in ("submit_sm_resp", "generic_nack"):
            with self._write:
                answer = self._waiting.pop(pdu.sequence, None)
            if answer is not None:
                answer.pdu = pdu
                answer.ready.set()
        elif command == "deliver_sm":
            status = self._deliver(pdu)
            self._respond(pdu, "deliver_sm_resp", status)
        elif command == "enquire_link":
            self._respond(pdu, "enquire_link_resp", consts.SMPP_ESME_ROK)
        elif command == "unbind":
            self._respond(pdu, "unbind_resp", consts.SMPP_ESME_ROK)
            return False
        elif command == "unbind_resp":
            return False
        return True

    def _respond(self, request: Any, command: str, status: int) -> None:
        response = smpp.make_pdu(command, client=self._client, status=status)
        response.sequence = request.sequence
        self._reply(response)

    def _reply(self, pdu: Any) -> None:
        with self._write:
            self._client.send_pdu(pdu)

    def _drop(self) -> None:
        """Close the socket and wake every send still waiting (their answers are lost)."""
        with self._write:
            self._alive = False
            waiting, self._waiting = self._waiting, {}
            sock, self._client._socket = self._client._socket, None
            self._client.state = consts.SMPP_CLIENT_STATE_CLOSED
        for answer in waiting.values():
            answer.ready.set()
        if sock is not None:
            sock.close()


def _connect_problem(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc.reason or type(exc).__name__}"
    if isinstance(exc, exceptions.ConnectionError):
        # smpplib says "Connection refused" for any failure to connect, and nothing for a
        # bind that got no answer; the cause it caught tells which.
        cause = exc.__context__
        if isinstance(cause, ssl.SSLError):
            return f"TLS failed: {cause.reason or type(cause).__name__}"
        if isinstance(cause, TimeoutError):
            return "no answer in time"
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror.lower()
        return "the connection closed" if not exc.args else str(exc.args[0]).lower()
    return type(exc).__name__
