"""The supervisor's restart policy (``tfa serve --workers``), on a fake clock: how long it
waits before starting a worker that died again, and when it gives up on workers that cannot
start."""

from __future__ import annotations

from tfa_engine.adapters.server.restarts import RestartPolicy


class FakeClock:
    """Monotonic seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def pauses(policy: RestartPolicy, clock: FakeClock, number: int, lives: list[float]) -> list[float]:
    """The pauses after worker ``number`` was started and died after each of ``lives``."""
    found = []
    for lived in lives:
        policy.started(number)
        clock.now += lived
        found.append(policy.ended(number))
    return found


def test_pause_doubles_from_1_s_and_stays_at_30_s() -> None:
    """A worker that keeps dying soon after its start waits 1, 2, 4 ... s, never over 30 s."""
    clock = FakeClock()
    policy = RestartPolicy(clock=clock)
    assert pauses(policy, clock, 1, [0.5] * 8) == [1, 2, 4, 8, 16, 30, 30, 30]


def test_pause_stays_capped_however_long_the_crash_loop() -> None:
    """A thousand quick deaths in a row still wait 30 s each (no overflow, no growth)."""
    clock = FakeClock()
    policy = RestartPolicy(clock=clock)
    assert pauses(policy, clock, 1, [0.1] * 1000)[-3:] == [30, 30, 30]


def test_worker_that_stayed_up_restarts_after_1_s_again() -> None:
    """After a crash loop, a worker that stayed up 30 s is, when it dies, back after 1 s."""
    clock = FakeClock()
    policy = RestartPolicy(clock=clock)
    pauses(policy, clock, 1, [0.5] * 5)
    assert pauses(policy, clock, 1, [30.0, 0.5]) == [1, 2]


def test_each_worker_has_its_own_pause() -> None:
    """One worker's crash loop does not delay the restart of another."""
    clock = FakeClock()
    policy = RestartPolicy(clock=clock)
    pauses(policy, clock, 1, [0.5] * 4)
    assert pauses(policy, clock, 2, [0.5]) == [1]


def test_third_failed_start_in_a_row_gives_up() -> None:
    """Two failed starts are tried again; the third in a row means workers cannot start."""
    policy = RestartPolicy(clock=FakeClock())
    assert [policy.boot_failed() for _ in range(3)] == [False, False, True]


def test_a_worker_that_serves_clears_the_failed_starts() -> None:
    """Failed starts count only while no worker serves in between (a database back up)."""
    policy = RestartPolicy(clock=FakeClock())
    policy.boot_failed()
    policy.boot_failed()
    policy.booted()
    assert [policy.boot_failed() for _ in range(3)] == [False, False, True]
