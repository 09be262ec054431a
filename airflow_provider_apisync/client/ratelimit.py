"""Proactive pacing and the client-side budget, shared by every thread of one client.

Header parsing lives in :mod:`ratelimit_headers` (re-exported here). The :class:`Throttle`
turns what the server announces into waits *before* a request, so quotas are used without
eating 429s:

- **quota gate**: when the remaining quota reaches ``floor``, wait until the reset, then
  use the new window at full speed. Requests in flight are counted, so concurrent threads
  cannot overrun the last units; after the reset one probe request goes first and the
  others wait for its fresh headers. For a fixed window this uses the whole quota even
  when the reset is only known to the whole second: arriving a little late in a window
  costs nothing as long as the burst fits in it.
- **pacing**: when the probe after a reset finds only part of the quota back (a sliding
  window or a bucket refills gradually, and whole-second hints cannot time each unit),
  requests are spread evenly at ``pace_share`` of the policy rate ``q`` per ``w``
  seconds. Evenly spaced requests never exceed the quota in any window, whatever its
  phase. ``w`` comes from the IETF policy, or is learned as the smallest jump of the reset
  time between windows (legacy headers announce the limit and the reset, not the window).
- **Retry-After**: a 429 closes the gate for every thread until the server's hint.
- **budget**: an optional token bucket from the connection's ``rate_limit``.
- **fleet** (optional :class:`~airflow_provider_apisync.client.store.Fleet`): the budget
  moves to the shared store (one atomic GCRA reservation per request, spread evenly over
  every worker of the fleet), and what responses announce (a 429's ``Retry-After``, a spent
  quota) is published so every worker waits. While the store is unreachable the
  per-process budget above applies again.

Waits longer than ``max_wait`` are not slept: :class:`QuotaWaitTooLong` is raised so the
task can give its worker slot back (the client turns it into ``ApiRateLimitError``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from airflow_provider_apisync.client.config import RateBudget
from airflow_provider_apisync.client.ratelimit_headers import (
    MAX_RESET_S,
    Closed,
    RateLimitStatus,
    closed_window,
    parse_rate_limit,
    parse_retry_after,
    parse_sf_list,
    reset_to_epoch,
)
from airflow_provider_apisync.client.store import Fleet, StoreUnavailable

__all__ = [
    "MAX_RESET_S",
    "PACE_SHARE",
    "Closed",
    "QuotaWaitTooLong",
    "RateLimitStatus",
    "Throttle",
    "closed_window",
    "parse_rate_limit",
    "parse_retry_after",
    "parse_sf_list",
    "reset_to_epoch",
]

PACE_SHARE = 0.97
"""Paced requests use this share of the announced rate: the margin absorbs timing jitter."""
PROBE_POLL_S = 0.005
MIN_LEARNED_WINDOW_S = 1.0
"""Shortest window length learned from reset jumps (shorter jumps are sliding-window noise)."""
FULL_REFILL = 0.5
"""After a reset wait, a probe seeing less than this share of the quota back means the
server refills gradually (sliding window, bucket) rather than per fixed window."""
ROUNDING_SLACK_S = 1.0
"""Added to reset hints once a request sent right after a reset got a 429 anyway: that
server rounds its whole-second hints down instead of up."""


class QuotaWaitTooLong(Exception):
    """The quota is exhausted for longer than the client may wait inside a task."""

    def __init__(self, seconds: float, status: RateLimitStatus | None) -> None:
        self.seconds = seconds
        self.status = status
        super().__init__(f"quota exhausted for another {seconds:.1f} s")


class Throttle:
    """Waits before a request instead of eating a 429; thread-safe, one per client."""

    def __init__(
        self,
        budget: RateBudget | None = None,
        *,
        floor: int = 0,
        max_wait: float = 60.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: Callable[[float], None] | None = None,
        pace_share: float = PACE_SHARE,
        fleet: Fleet | None = None,
    ) -> None:
        self.budget = budget
        self.fleet = fleet
        self.floor = floor
        self.max_wait = max_wait
        self.pace_share = pace_share
        self._clock = clock
        self._sleep = sleep
        self._on_wait = on_wait
        self._lock = threading.Lock()
        self._local = threading.local()
        self._remaining: int | None = None  # estimate for the current window
        self._reset_at: float | None = None  # upper bound of when quota comes back
        self._blocked_until = 0.0  # Retry-After of a 429, for every thread
        self._in_flight = 0
        self._sent = 0  # requests admitted so far (sequence numbers)
        self._probing = False
        self._timed_probe = False  # the probe follows a wait for a known reset
        self._policy: tuple[int, float] | None = None
        self._window_seen: float | None = None  # learned from reset jumps
        self._pace: float | None = None
        self._next_slot = 0.0
        self._slack = 0.0
        self._tokens = float(budget.requests) if budget else 0.0
        self._refilled = clock()
        self.status: RateLimitStatus | None = None  # the last quota a response announced

    # -- introspection (tests, sensors, logs) ---------------------------------------------
    @property
    def remaining(self) -> int | None:
        return self._remaining

    @property
    def reset_at(self) -> float | None:
        return self._reset_at

    @property
    def pacing_interval(self) -> float | None:
        """Seconds between paced requests; None unless the server refills gradually."""
        return self._pace

    # -- the gate ---------------------------------------------------------------------------
    def before_request(self) -> float:
        """Block until a request may go out; returns the seconds waited.

        Raises :class:`QuotaWaitTooLong` when the quota comes back later than ``max_wait``.
        """
        shared = self._fleet_admit()
        self._local.shared = shared is not None
        waited = shared or 0.0
        while True:
            with self._lock:
                now = self._clock()
                delay, quota = self._delay(now)
                if delay <= 0:
                    slot = self._admit(now)
                    break
            if quota and delay > self.max_wait:
                raise QuotaWaitTooLong(delay, self.status)
            self._sleep(delay)
            waited += delay
        pause = slot - self._clock()
        if pause > 0:
            self._sleep(pause)
            waited += pause
        if waited > 0 and self._on_wait is not None:
            self._on_wait(waited)
        return waited

    def _fleet_admit(self) -> float | None:
        """Wait for the fleet's slot; None when there is no fleet or it is unreachable."""
        if self.fleet is None:
            return None
        interval = 0.0
        if self.budget:
            interval = self.budget.per_seconds / (self.budget.requests * self.pace_share)
        try:
            admission = self.fleet.admit(interval, self.max_wait, self.floor)
        except StoreUnavailable:
            return None
        if not admission.reserved:
            raise QuotaWaitTooLong(admission.wait, self.status)
        if admission.wait > 0:
            self._sleep(admission.wait)
        return admission.wait

    def _publish(
        self, status: RateLimitStatus | None, rejected: bool, retry_after: float | None
    ) -> None:
        """Tell the fleet what this response taught: a 429's window, the remaining quota."""
        if self.fleet is None:
            return
        remaining = 0 if rejected else (status.remaining if status else None)
        reset_in = status.reset_in(self._clock()) if status and status.reset_at else None
        if rejected and retry_after is None and reset_in is None:
            return
        if not rejected and (remaining is None or reset_in is None):
            return
        try:
            self.fleet.publish(
                remaining=remaining,
                reset_in=reset_in,
                limit=status.limit if status else None,
                retry_after=retry_after if rejected else None,
            )
        except StoreUnavailable:
            return

    def observe(
        self,
        status: RateLimitStatus | None,
        *,
        rejected: bool = False,
        retry_after: float | None = None,
    ) -> None:
        """Record a response: its announced quota, and whether it was a 429."""
        self._publish(status, rejected, retry_after)
        with self._lock:
            now = self._clock()
            later = self._counted_later()
            probe = self._finish()
            if rejected:
                if retry_after is not None:
                    self._blocked_until = max(self._blocked_until, now + retry_after)
                if probe:
                    self._slack = ROUNDING_SLACK_S
            else:
                self._probing = False  # the probe got through: others may follow
            if status is None:
                return
            self.status = status
            window = status.window or self._window_seen
            if status.limit and window:
                self._policy = (status.limit, window)
            remaining = 0 if rejected else status.remaining
            if remaining is None:
                return
            if probe and status.limit and remaining + 1 < status.limit * FULL_REFILL:
                # The wait for "the reset" brought back only part of the quota: a sliding
                # window or a bucket, whose whole-second hints cannot time each unit. Pace.
                self._start_pacing()
            reset = status.reset_at.timestamp() + self._slack if status.reset_at else None
            self._update(remaining, reset, now, later)

    def release(self) -> None:
        """An attempt ended without a response (network error)."""
        with self._lock:
            self._finish()

    # -- internals (called with the lock held) ----------------------------------------------
    def _counted_later(self) -> int:
        """How many other requests the server may have counted after this thread's one:
        those admitted after it, plus those that were in flight when it was admitted."""
        seq = getattr(self._local, "seq", None)
        if seq is None:
            return self._in_flight
        return (self._sent - seq) + self._local.overlap

    def _finish(self) -> bool:
        if getattr(self._local, "seq", None) is not None:  # admitted by before_request
            self._in_flight -= 1
        self._local.seq = None
        probe = bool(getattr(self._local, "probe", False))
        self._local.probe = False
        return probe

    def _update(self, remaining: int, reset: float | None, now: float, later: int) -> None:
        previous, old_reset = self._remaining, self._reset_at
        new_window = True
        if self._pace is not None:
            # Paced requests stay under the quota by construction; the gate only closes when
            # the server itself reports the quota spent (other consumers share it).
            self._remaining = remaining
            self._reset_at = reset if reset is not None else self._reset_at
            if remaining <= self.floor and self._reset_at is not None:
                # Units come back continuously here; a whole-second t overstates the wait.
                self._reset_at = min(self._reset_at, now + 2 * self._pace)
        elif previous is None or (self._reset_at is not None and now >= self._reset_at):
            # First news of this window. Requests the server may have counted after this one
            # are taken off: a lower bound, even when responses arrive out of order.
            self._remaining = remaining - later
            self._reset_at = reset
        else:
            # Same window: responses arrive out of order, so the estimate (decremented per
            # request sent) only ever goes down; a lower number means other consumers.
            new_window = False
            self._remaining = min(previous, remaining)
            if reset is not None:
                self._reset_at = reset if self._reset_at is None else min(self._reset_at, reset)
        self._probing = False
        if new_window and reset is not None and old_reset is not None:
            jump = reset - old_reset
            if jump >= MIN_LEARNED_WINDOW_S:
                seen = self._window_seen
                self._window_seen = jump if seen is None else min(seen, jump)
        if self._remaining <= self.floor and self._pace is not None and self._reset_at:
            # Resume one interval after the reset, not on it: a sliding window has then
            # returned more than the single unit the first request would take.
            self._next_slot = max(self._next_slot, self._reset_at + self._pace)

    def _start_pacing(self) -> None:
        if self._policy is None:
            return
        limit, window = self._policy
        usable = limit - self.floor
        if usable <= 0:
            return
        interval = window / (usable * self.pace_share)
        if interval <= self.max_wait:
            self._pace = interval

    def _delay(self, now: float) -> tuple[float, bool]:
        """(seconds to wait, whether the wait is the server's quota) for the next request."""
        if self._blocked_until > now:
            return self._blocked_until - now, True
        if self._remaining is not None and self._remaining <= self.floor:
            if self._reset_at is not None and self._reset_at > now:
                return self._reset_at - now, True
            self._remaining = None  # the window has passed (or its reset is unknown)
            self._probing = True
            self._timed_probe = self._reset_at is not None
        if self._probing and self._in_flight > 0:
            return PROBE_POLL_S, False  # one probe at a time until fresh headers arrive
        return self._budget_delay(now), False

    def _budget_delay(self, now: float) -> float:
        if not self.budget:
            return 0.0
        rate = self.budget.requests / self.budget.per_seconds
        self._tokens = min(
            float(self.budget.requests), self._tokens + (now - self._refilled) * rate
        )
        self._refilled = now
        if getattr(self._local, "shared", False):
            # the fleet's budget admitted it; the local bucket still counts it, so a fall
            # back to per-process state (store down) does not start with a full burst
            return 0.0
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / rate

    def _admit(self, now: float) -> float:
        """Count the request that may go now; returns when it should leave (pacing)."""
        self._local.overlap = self._in_flight
        self._in_flight += 1
        self._sent += 1
        self._local.seq = self._sent
        self._local.probe = self._probing and self._timed_probe
        if self._remaining is not None and self._pace is None:
            self._remaining -= 1
        if self.budget:
            self._tokens -= 1
        if self._pace is None:
            return now
        slot = max(now, self._next_slot)
        self._next_slot = slot + self._pace
        return slot
