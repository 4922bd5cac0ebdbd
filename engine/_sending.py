"""The send at the end of a request-code, once the request has passed every check that
costs no hashing: the code is drawn and hashed, stored by the store's admission under the
send's policy (which may still refuse it), handed to the gateway, then activated, or
discarded when the gateway refuses it. Here too are what names a send
(:func:`new_message_id`) and how long a code may stay pending before it is taken for the
leftover of a sender that died (:data:`PENDING_MARGIN`).
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Callable

from . import _audit as audit
from . import catalogue
from ._abuse import SendGate
from ._access import TokenRecord
from ._callbacks import CallbackDispatcher
from ._codes import generate_code
from ._deliveries import DeliveryDesk
from ._hashing import CodeHasher
from ._outcome import Outcome
from ._phones import mask
from ._requests import CodeRequest, render
from .config import MAX_CODE_TTL, EngineConfig
from .gateways import Accepted, Gateway, GatewayError, SmsMessage
from .store import DuplicateClientRef, DuplicateMessageId, NewCode, SendPolicy, Store

log = logging.getLogger("tfa.engine")

# Seconds beyond the gateway's deadline after which a code still pending is taken for the
# leftover of a process that died while sending it (its client_ref may then be reused).
PENDING_MARGIN = 5.0


def new_message_id() -> str:
    """A 20-digit decimal message id, like Fortytwo's."""
    return str(10**19 + secrets.randbelow(9 * 10**19))


class SendPath:
    """The send of a request-code (a mixin of :class:`~tfa_engine.Engine`, whose parts it
    uses)."""

    store: Store
    gateway: Gateway
    config: EngineConfig
    clock: Callable[[], float]
    hasher: CodeHasher
    gate: SendGate
    callbacks: CallbackDispatcher
    deliveries: DeliveryDesk

    def _stale_before(self, now: float) -> float:
        """Codes still pending from before this were being sent by a process that died:
        every live sender has had the gateway's deadline (and a margin) to finish."""
        return now - self.gateway.deadline - PENDING_MARGIN

    def _send(
        self, principal: TokenRecord, request: CodeRequest, policy: SendPolicy,
        where: dict[str, str | None], now: float,
    ) -> Outcome:
        code = generate_code(request.code_length, request.code_type, request.case_sensitive)
        code_hash = self.hasher.hash(code)  # outside any transaction: ~30 ms
        ttl = min(principal.code_ttl or self.config.code_ttl, MAX_CODE_TTL)
        sender = request.sender_id or principal.sender_id or self.config.default_sender_id
        api_job_id = str(uuid.uuid4())
        for _ in range(3):
            new = NewCode(
                message_id=new_message_id(),
                token_id=principal.id,
                client_ref=request.client_ref,
                phone=request.phone,
                code_hash=code_hash,
                code_length=request.code_length,
                case_sensitive=request.case_sensitive,
                sender=sender,
                callback_url=request.callback_url,
                created_at=now,
                expires_at=now + ttl,
                api_job_id=api_job_id,
            )
            try:
                admitted = self.store.admit_code(new, policy, self._stale_before(now))
                break
            except DuplicateClientRef:
                return Outcome(catalogue.CLIENT_REF_EXISTS)
            except DuplicateMessageId:
                continue
        else:  # three random 20-digit collisions in a row: the randomness is broken
            raise RuntimeError("could not draw a free message_id")
        rule = policy.fraud
        if admitted.fraud_released and rule is not None:
            audit.event("fraud.released", token_id=principal.id, range=rule.prefix,
                        by="expiry")
        if admitted.fraud_held is not None and rule is not None:
            sent, validated = admitted.fraud_held
            audit.event("fraud.held", range=rule.prefix, sent=sent, validated=validated,
                        **where)
        if admitted.code_id is None:
            assert admitted.refusal is not None
            return self.gate.refused(admitted.refusal, where)
        code_id = admitted.code_id
        message = SmsMessage(new.message_id, request.phone, sender,
                             render(request.template, code), avoid=admitted.avoid)
        try:
            accepted = self.gateway.send(message) or Accepted(self.gateway.label)
        except GatewayError as exc:
            self.store.discard_code(code_id)
            log.warning(
                "gateway refused message_id=%s to=%s: %s",
                new.message_id, mask(request.phone), exc.reason,
            )
            return Outcome(catalogue.SYSTEM_ERROR)
        except BaseException:
            self.store.discard_code(code_id)
            raise
        # Queues the INTERNAL callback (and an SMS one, if a report overtook the answer).
        activation = self.store.activate_code(code_id, self.clock(), accepted.gateway,
                                              accepted.provider_id)
        if activation.reported is not None:  # a report overtook the gateway's answer
            self.deliveries.told(accepted.gateway, activation.reported)
        if request.callback_url:
            self.callbacks.wake()
        audit.event("code.sent", message_id=new.message_id, gateway=accepted.gateway, **where)
        return Outcome(catalogue.SUCCESS, {"message_id": new.message_id}, api_job_id=api_job_id)
