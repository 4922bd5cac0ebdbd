"""Writers of one SQLite file queue for their turn, across processes, instead of polling
SQLite's lock: several server processes on one file must not stall each other.

SQLite's busy handler sleeps 1, 2, 5, 10... ms between tries, so a process whose writes
followed each other closely kept the lock from a sleeping one: with two ``tfa serve``
workers on one file, request-code p99 latencies reached 300-800 ms and two workers served
no more than one. Writers now take an ``flock`` of ``<database>.writer``, which the kernel
hands to the next waiter as it is released.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tfa_engine.store import NewCode, SQLiteStore, StoreUnavailable

WRITER = """
import sys, threading
from tfa_engine.store import NewCode, SQLiteStore, StoreError
store = SQLiteStore(sys.argv[1])
tag, per_thread = sys.argv[2], int(sys.argv[3])
failures = []

def write(thread):
    for n in range(per_thread):
        try:
            code_id = store.insert_code(NewCode(
                f"{tag}{thread}{n:06d}", "tok", f"{tag}-{thread}-{n}", f"+4479111{n:05d}",
                "hash", 6, False, "TFA", None, 1.0, 301.0))
            store.activate_code(code_id, 1.0)
        except StoreError as exc:
            failures.append(str(exc))

threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
store.close()
print(len(failures), failures[:1])
"""
PER_THREAD = 150


def new_code(ref: str) -> NewCode:
    return NewCode(f"9{abs(hash(ref)) % 10**18:018d}", "tok", ref, "+447911123456", "hash", 6,
                   False, "TFA", None, 1.0, 301.0)


def test_two_processes_writing_flat_out_lose_and_fail_none_of_their_writes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tfa.db"
    SQLiteStore(path).close()
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), tag, str(PER_THREAD)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for tag in ("1", "2")
    ]
    outputs = [writer.communicate(timeout=120) for writer in writers]
    for writer, (out, err) in zip(writers, outputs, strict=True):
        assert writer.returncode == 0, err
        assert out.split()[0] == "0", f"writes failed: {out.strip()}"
    store = SQLiteStore(path)
    try:
        for n in range(PER_THREAD):  # eight codes for each phone, all kept, one live
            records = [store.find_code("tok", f"{tag}-{thread}-{n}")
                       for tag in ("1", "2") for thread in range(4)]
            assert None not in records
            assert sorted(r.state for r in records if r) == ["live"] + ["superseded"] * 7
    finally:
        store.close()


class OtherProcessTurn:
    """Another process's turn to write, as the store sees it: the writer file locked
    through a descriptor of its own."""

    def __init__(self, path: Path) -> None:
        self.handle = os.open(f"{path}.writer", os.O_RDONLY)
        fcntl.flock(self.handle, fcntl.LOCK_EX)

    def end(self) -> None:
        fcntl.flock(self.handle, fcntl.LOCK_UN)


@pytest.fixture
def store_and_turn(tmp_path: Path):  # type: ignore[no-untyped-def]
    store = SQLiteStore(tmp_path / "tfa.db", busy_timeout=0.2)
    turn = OtherProcessTurn(tmp_path / "tfa.db")
    try:
        yield store, turn
    finally:
        turn.end()
        os.close(turn.handle)
        store.close()


def test_a_write_waits_for_the_turn_of_another_process(store_and_turn) -> None:  # type: ignore[no-untyped-def]
    store, turn = store_and_turn
    done: list[object] = []
    writer = threading.Thread(
        target=lambda: done.append(store.insert_code(new_code("waits"))), daemon=True)
    writer.start()
    writer.join(0.6)  # three busy timeouts: it waits for the turn, it does not fail
    assert writer.is_alive() and not done
    turn.end()
    writer.join(10)
    assert done and isinstance(done[0], int)
    assert store.find_code("tok", "waits") is not None


def test_writers_queued_behind_it_give_up_after_the_busy_timeout(store_and_turn) -> None:  # type: ignore[no-untyped-def]
    store, turn = store_and_turn
    first = threading.Thread(target=lambda: store.insert_code(new_code("first")), daemon=True)
    first.start()
    time.sleep(0.1)  # the first writer now waits for the turn
    began = time.monotonic()
    with pytest.raises(StoreUnavailable, match="busy"):
        store.insert_code(new_code("second"))
    assert time.monotonic() - began < 5
    turn.end()
    first.join(10)
    assert store.find_code("tok", "first") is not None
    assert store.find_code("tok", "second") is None


def test_a_writer_file_that_cannot_be_made_leaves_writes_to_sqlite(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    path = tmp_path / "tfa.db"
    SQLiteStore(path).close()
    os.unlink(f"{path}.writer")
    os.mkdir(f"{path}.writer")  # a directory where the file would be: it cannot be opened
    store = SQLiteStore(path)
    try:
        store.activate_code(store.insert_code(new_code("no-queue")), 1.0)
        assert store.find_code("tok", "no-queue") is not None
    finally:
        store.close()
    assert "queue in SQLite only" in caplog.text
