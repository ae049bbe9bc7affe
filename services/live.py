"""Live mode: a SimPy environment paced by the wall clock.

Like ``simpy.rt.RealtimeEnvironment`` this overrides only :meth:`step`, but it never raises
when the simulation falls behind: it measures the lag (wall time past the moment the next
event was due) and reports it, so an operator sees drift instead of a crash loop.

Before sleeping it calls ``on_idle`` so buffered events reach their sink promptly. A
simulation that is behind never sleeps, so while it catches up (after a slow step, or when
events arrive faster than it can emit them) ``on_idle`` is also called whenever
``flush_every_s`` of wall time have passed since the last call: buffered events never wait
for the simulation to catch up, however long that takes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import simpy

FLUSH_EVERY_S = 0.05
"""Longest wall-clock gap between ``on_idle`` calls while the simulation is behind, s."""


class LiveEnvironment(simpy.Environment):
    """Runs simulation seconds at ``speed`` × wall-clock speed (60 = one sim minute per s)."""

    def __init__(
        self,
        speed: float,
        *,
        initial_time: float = 0.0,
        on_idle: Callable[[], None] | None = None,
        flush_every_s: float = FLUSH_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        super().__init__(initial_time)
        self.speed = speed
        self.on_idle = on_idle
        self.flush_every_s = flush_every_s
        self._clock = clock
        self._sleep = sleep
        self._wall0 = clock()
        self._sim0 = initial_time
        self._idle_at = self._wall0  # wall instant of the last on_idle call
        self.lag_s = 0.0
        self.max_lag_s = 0.0
        self.lag_samples: list[float] = []

    def wall_due(self, sim_time: float) -> float:
        """Wall-clock instant (monotonic) at which ``sim_time`` is due."""
        return self._wall0 + (sim_time - self._sim0) / self.speed

    def sim_now_wall(self) -> float:
        """The simulation time the wall clock says it should be now."""
        return self._sim0 + (self._clock() - self._wall0) * self.speed

    def current_lag_s(self) -> float:
        """How overdue the next event is right now (0 when on time or idle); safe to call
        from another thread, e.g. a metrics scrape, while the simulation is busy."""
        try:
            nxt = self.peek()
        except IndexError:
            return 0.0
        if nxt == float("inf"):
            return 0.0
        return max(0.0, self._clock() - self.wall_due(nxt))

    def step(self) -> None:
        due = self.wall_due(self.peek())
        now = self._clock()
        ahead = due - now
        if ahead > 0:
            if self.on_idle is not None:
                self.on_idle()
                now = self._idle_at = self._clock()
            ahead = due - now
            if ahead > 0:
                self._sleep(ahead)
            self.lag_s = 0.0
        else:
            self.lag_s = -ahead
            self.max_lag_s = max(self.max_lag_s, self.lag_s)
            if self.on_idle is not None and now - self._idle_at >= self.flush_every_s:
                self.on_idle()  # behind: no sleep is coming, flush on the cadence instead
                self._idle_at = self._clock()
        if len(self.lag_samples) < 1_000_000:
            self.lag_samples.append(self.lag_s)
        super().step()

    def lag_report(self) -> dict[str, float]:
        """Lag behind the wall clock in seconds: last, max, p50, p99."""
        xs = sorted(self.lag_samples) or [0.0]

        def q(p: float) -> float:
            return xs[min(len(xs) - 1, int(p * (len(xs) - 1) + 0.5))]

        return {"last_s": self.lag_s, "max_s": self.max_lag_s, "p50_s": q(0.5), "p99_s": q(0.99)}
