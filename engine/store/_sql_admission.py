"""A send's admission and the sliding-window limits in SQL (see :mod:`.sql`), for every
backend.

A send is admitted in one transaction: it locks what it will read (the limits' keys and
the fraud guard's range, on PostgreSQL; SQLite's write transaction excludes every other
writer anyway), reads all of it in one statement, judges (:mod:`.admission`), and then
stores the code and uses up its allowances (three statements on SQLite, one on PostgreSQL,
whose data-modifying CTEs write several tables at once). A refusal writes nothing but the
request's own count (the token's request limit) and a hold of the fraud guard; a duplicate
client_ref, found first, writes only the request's count.

Each limit key keeps the times of its last ``count`` admitted events in a ring of slots:
event n goes to slot n % count, so before event n is admitted, its slot holds event
n - count, which must have left the window. No window then holds more than ``count``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..gateways._base import UNDELIVERED
from ._admission import (
    allowance_refusal,
    counted,
    hold_refusal,
    limits_in_order,
    refused_request,
    traffic_since,
    trips,
)
from ._base import (
    FRAUD,
    NEVER,
    Admission,
    Allowance,
    CodeStore,
    DuplicateClientRef,
    DuplicateMessageId,
    LimitStore,
    NewCode,
    Refusal,
    SendPolicy,
    SendPreview,
    StoreError,
    retry_after,
)
from ._ranges import phone_range
from ._sql import (
    CLIENT_REF,
    INSERT_CODE,
    MESSAGE_ID,
    PLANNED_EACH_TIME,
    Connection,
    Cursor,
    SQLBackend,
    Violation,
)
from ._sql_traffic import COUNT, RELEASE, count_params, release_params

_UNDELIVERED = "('" + "', '".join(UNDELIVERED) + "')"
# A code whose SMS may have reached its phone: no final report says it did not.
_MAY_HAVE_ARRIVED = f"(delivery_status IS NULL OR delivery_status NOT IN {_UNDELIVERED})"
TRAFFIC = (
    "SELECT count(*), coalesce(sum(CASE WHEN state = 'used' THEN 1 ELSE 0 END), 0)"
    " FROM codes WHERE token_id = :t AND number_range = :p AND created_at > :since"
)


@dataclass
class _State:
    """What the admission reads, in one statement."""

    holder: tuple[int, float, str, float | None] | None = None  # id, created, state, sent
    oldest: dict[str, float | None] = field(default_factory=dict)
    taken: dict[str, int] = field(default_factory=dict)
    held_until: float | None = None
    released_at: float | None = None
    traffic: tuple[int, int] = (0, 0)  # (sent, validated) since the stored release
    undelivered: list[str] = field(default_factory=list)  # gateways that failed the phone


def _range_lock(token_id: str, prefix: str) -> str:
    return f"range:{token_id}\x1f{prefix}"


def _limit_lock(key: str) -> str:
    return "limit:" + key


def _state_query(
    token_id: str, client_ref: str | None, policy: SendPolicy, now: float, *, traffic: bool
) -> tuple[str, dict[str, Any]]:
    """One statement reading everything an admission judges by; each row is tagged."""
    params: dict[str, Any] = {"t": token_id, "r": client_ref}
    parts = []
    if client_ref is not None:
        parts.append(
            "SELECT 'ref', id, created_at, state, sent_at FROM codes"
            " WHERE token_id = :t AND client_ref = :r"
        )
    rule = policy.fraud
    if rule is not None:
        params["p"] = rule.prefix
        parts.append(
            "SELECT 'hold', held_until, released_at, NULL, NULL FROM fraud_ranges"
            " WHERE token_id = :t AND prefix = :p"
        )
        if traffic:  # two rows: the totals of whole slices, and the codes before them
            params.update(count_params(now - rule.window))
            parts.extend(COUNT)
    if policy.phone is not None and policy.phone_sends is not None:
        # The send ``count`` back among the phone's codes (of every token) that may have
        # reached it: while that one is in the window, another would make count + 1.
        sends = policy.phone_sends
        params.update(ph=policy.phone, ph_since=now - sends.seconds, ph_skip=sends.count - 1)
        parts.append(
            "SELECT 'phone', (SELECT created_at FROM codes WHERE phone = :ph"  # noqa: S608
            f" AND created_at > :ph_since AND {_MAY_HAVE_ARRIVED}"
            " ORDER BY created_at DESC LIMIT 1 OFFSET :ph_skip), NULL, NULL, NULL"
        )
    if traffic and policy.phone is not None and policy.reroute is not None:
        params.update(ph=policy.phone, rr_since=now - policy.reroute)
        parts.append(
            "SELECT 'undelivered', NULL, NULL, gateway, NULL FROM codes WHERE phone = :ph"  # noqa: S608
            f" AND created_at > :rr_since AND delivery_status IN {_UNDELIVERED}"
            " AND gateway IS NOT NULL"
        )
    prefix = ""
    if counted(policy):
        rows = []
        for number, allowance in enumerate(counted(policy)):
            params[f"k{number}"] = allowance.key
            params[f"n{number}"] = allowance.count
            rows.append(f"(:k{number}, :n{number})")
        prefix = f"WITH wanted (key, n) AS (VALUES {', '.join(rows)}) "
        parts.append(
            # The slot by its whole key (see _sql_validation: never joined).
            "SELECT 'limit', h.taken, (SELECT at FROM rate_slots"
            " WHERE key = h.key AND slot = h.taken % w.n), w.key, NULL FROM wanted w"
            " JOIN rate_heads h ON h.key = w.key"
        )
    return PLANNED_EACH_TIME + prefix + " UNION ALL ".join(parts), params


def _read_state(
    conn: Connection, token_id: str, client_ref: str | None, policy: SendPolicy, now: float,
    *, traffic: bool,
) -> _State:
    state = _State()
    if (client_ref is None and policy.fraud is None and not counted(policy)
            and policy.phone is None):
        return state
    sql, params = _state_query(token_id, client_ref, policy, now, traffic=traffic)
    counts = {allowance.key: allowance.count for allowance in counted(policy)}
    for tag, first, second, third, fourth in conn.execute(sql, params).fetchall():
        if tag == "ref":  # id, created_at, state, sent_at
            state.holder = (int(first), float(second), str(third), fourth)
        elif tag == "hold":  # held_until, released_at
            state.held_until, state.released_at = first, second
        elif tag == "traffic":  # codes sent, codes validated (of some slices)
            state.traffic = (state.traffic[0] + int(first), state.traffic[1] + int(second))
        elif tag == "phone":  # the phone's send ``count`` back, if within the window
            assert policy.phone_sends is not None
            state.oldest[policy.phone_sends.key] = first
        elif tag == "undelivered":  # a gateway that failed to deliver to the phone
            if third not in state.undelivered:
                state.undelivered.append(str(third))
        else:  # "limit": events taken, time of the one `count` back, key
            taken = int(first)
            state.taken[third] = taken
            state.oldest[third] = second if taken >= counts[third] else None
    return state


class SQLAdmission(SQLBackend, CodeStore, LimitStore):
    """:meth:`CodeStore.admit_code`, :meth:`CodeStore.preview_send` and :class:`LimitStore`
    in SQL."""

    # True where one statement may write several tables (PostgreSQL's data-modifying CTEs):
    # the writes of a step then cost one round trip instead of one each.
    joined_writes = False

    def _writes(
        self, conn: Connection, params: dict[str, Any], main: str, *extra: str
    ) -> Cursor:
        """Run the writes ``extra`` and ``main`` in the transaction; ``main``'s cursor (its
        RETURNING rows, read before any other statement runs on SQLite)."""
        if self.joined_writes and extra:
            ctes = ", ".join(f"w{number} AS ({sql})" for number, sql in enumerate(extra))
            return conn.execute(f"WITH {ctes} {main}", params)
        cursor = conn.execute(main, params)
        if not extra:
            return cursor
        rows = cursor.fetchall() if "RETURNING" in main else []
        for sql in extra:
            conn.execute(sql, params)
        return _Rows(rows)

    # -- a send's admission ----------------------------------------------------------------
    def preview_send(
        self, token_id: str, client_ref: str, policy: SendPolicy, now: float,
        stale_before: float = NEVER,
    ) -> SendPreview:
        with self._read() as conn:
            state = _read_state(conn, token_id, client_ref, policy, now, traffic=False)
        return SendPreview(
            client_ref_taken=_holds_ref(state, stale_before),
            refusal=allowance_refusal(limits_in_order(policy), state.oldest, now)
            or hold_refusal(state.held_until, now),
        )

    def admit_code(
        self, code: NewCode, policy: SendPolicy, stale_before: float = NEVER
    ) -> Admission:
        locks = [_limit_lock(allowance.key) for allowance in limits_in_order(policy)]
        if policy.fraud is not None:
            locks.append(_range_lock(code.token_id, policy.fraud.prefix))
        try:
            # Need not wait for the disk: no answer rests on it alone, and the activation
            # that comes before the 201 waits, for its own commit and every one before it.
            with self._transaction(durable=False) as conn:
                if locks:
                    self._lock(conn, *locks)
                admission = self._admit(conn, code, policy, stale_before)
        except Violation as exc:
            if exc.constraint == MESSAGE_ID:
                raise DuplicateMessageId(code.message_id) from None
            if exc.constraint == CLIENT_REF:
                raise DuplicateClientRef(code.client_ref) from None
            raise StoreError(f"the code could not be stored: {exc}") from None
        if admission is None:  # the request was counted, and nothing else written
            raise DuplicateClientRef(code.client_ref)
        return admission

    def _admit(
        self, conn: Connection, code: NewCode, policy: SendPolicy, stale_before: float
    ) -> Admission | None:
        """The admission, None when a code holds the client_ref."""
        now = code.created_at
        state = _read_state(conn, code.token_id, code.client_ref, policy, now, traffic=True)
        refusal = allowance_refusal(limits_in_order(policy), state.oldest, now)
        if refused_request(policy, refusal):
            return Admission(refusal=refusal)
        request = () if policy.requests is None else (policy.requests,)
        if _holds_ref(state, stale_before):
            self._use(conn, request, state.taken, now)
            return None
        if refusal is not None:
            self._use(conn, request, state.taken, now)
            return Admission(refusal=refusal)
        released = False
        rule = policy.fraud
        if rule is not None:
            refusal = hold_refusal(state.held_until, now)
            if refusal is not None:
                self._use(conn, request, state.taken, now)
                return Admission(refusal=refusal)
            sent, validated = state.traffic
            if state.held_until is not None:  # its time is up: the range counts afresh
                conn.execute(RELEASE, release_params(code.token_id, rule.prefix, now))
                released = True
                sent, validated = self._traffic(conn, code.token_id, rule.prefix,
                                                traffic_since(rule, now, now))
            if trips(rule, sent, validated):
                conn.execute(
                    "INSERT INTO fraud_ranges (token_id, prefix, held_until)"
                    " VALUES (:t, :p, :u) ON CONFLICT (token_id, prefix)"
                    " DO UPDATE SET held_until = excluded.held_until",
                    {"t": code.token_id, "p": rule.prefix, "u": now + rule.window},
                )
                self._use(conn, request, state.taken, now)
                return Admission(refusal=Refusal(FRAUD, rule.window),
                                 fraud_held=(sent, validated), fraud_released=released)
        if state.holder is not None:  # never sent, and its sender died: replace it
            conn.execute("DELETE FROM codes WHERE id = :id", {"id": state.holder[0]})
        params, uses = _uses(counted(policy), state.taken, now)
        params.update(_code_values(code))
        code_id = int(self._writes(conn, params, INSERT_CODE, *uses).fetchone()[0])
        return Admission(code_id=code_id, fraud_released=released,
                         avoid=tuple(state.undelivered))

    @staticmethod
    def _traffic(conn: Connection, token_id: str, prefix: str, since: float) -> tuple[int, int]:
        row = conn.execute(TRAFFIC, {"t": token_id, "p": prefix, "since": since}).fetchone()
        return int(row[0]), int(row[1])

    def _use(
        self, conn: Connection, allowances: Sequence[Allowance], taken: dict[str, int],
        now: float,
    ) -> None:
        """Count one event against each allowance (whose rings were read under its lock)."""
        if allowances:
            params, (slots, heads) = _uses(allowances, taken, now)
            self._writes(conn, params, heads, slots)

    # -- rate limits -----------------------------------------------------------------------
    def take(self, key: str, limit: int, seconds: int, now: float) -> int | None:
        allowance = (Allowance(key, limit, seconds),)
        # Counters are not worth an fsync: a power cut forgets a few events, never more.
        with self._transaction(durable=False) as conn:
            self._lock(conn, _limit_lock(key))
            state = _read_state(conn, "", None, SendPolicy(allowance), now, traffic=False)
            refusal = allowance_refusal(allowance, state.oldest, now)
            if refusal is not None:
                return refusal.retry_after
            self._use(conn, allowance, state.taken, now)
        return None

    def peek(self, key: str, limit: int, seconds: int, now: float) -> int | None:
        allowance = (Allowance(key, limit, seconds),)
        with self._read() as conn:
            state = _read_state(conn, "", None, SendPolicy(allowance), now, traffic=False)
        oldest = state.oldest.get(key)
        if oldest is not None and oldest > now - seconds:
            return retry_after(oldest, seconds, now)
        return None


class _Rows:
    """Rows already fetched, as a cursor hands them out."""

    rowcount = -1

    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Any]:
        return self._rows


def _uses(
    allowances: Sequence[Allowance], taken: dict[str, int], now: float
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The parameters and the two writes (ring slots, then heads) that count one event
    against each allowance; none for no allowance."""
    params: dict[str, Any] = {"now": now}
    if not allowances:
        return params, ()
    slots, heads = [], []
    for number, allowance in enumerate(allowances):
        params[f"k{number}"] = allowance.key
        params[f"s{number}"] = taken.get(allowance.key, 0) % allowance.count
        params[f"e{number}"] = now + allowance.seconds
        slots.append(f"(:k{number}, :s{number}, :now)")
        heads.append(f"(:k{number}, 1, :e{number})")
    return params, (
        f"INSERT INTO rate_slots (key, slot, at) VALUES {', '.join(slots)}"  # noqa: S608
        " ON CONFLICT (key, slot) DO UPDATE SET at = excluded.at",
        f"INSERT INTO rate_heads (key, taken, ends_at) VALUES {', '.join(heads)}"  # noqa: S608
        " ON CONFLICT (key) DO UPDATE SET taken = rate_heads.taken + 1,"
        " ends_at = excluded.ends_at",
    )


def _holds_ref(state: _State, stale_before: float) -> bool:
    """True when a code holds the client_ref: any but one never sent, made before
    ``stale_before`` (its sender died)."""
    if state.holder is None:
        return False
    _, created_at, code_state, sent_at = state.holder
    abandoned = (sent_at is None and code_state in ("pending", "superseded")
                 and created_at <= stale_before)
    return not abandoned


def _code_values(code: NewCode) -> dict[str, Any]:
    return {
        "message_id": code.message_id, "token_id": code.token_id,
        "client_ref": code.client_ref, "phone": code.phone, "code_hash": code.code_hash,
        "code_length": code.code_length, "case_sensitive": code.case_sensitive,
        "sender": code.sender, "callback_url": code.callback_url,
        "created_at": code.created_at, "expires_at": code.expires_at,
        "api_job_id": code.api_job_id,
        # No phone, no range: the database refuses the code for its missing phone.
        "number_range": code.phone and phone_range(code.phone),
    }
