"""Each eclipse window's passes computed by several processes at once.

SGP4's ``SatrecArray`` holds the GIL, so threads do not help; at the start of a batch run the
first window's eclipse search (~46 s of a 200 s run on 100,000 satellites × 1 day) runs
while the run's other process, the background fold, has nothing to do yet. :class:`ParallelPasses`
is an engine's ``passes`` function (:data:`twin.sim.passes.PassesFunction`) that deals a
window's satellites round robin into parts: this process computes the first, forked worker
processes the others, and the parts' rows are put back in satellite order
(:meth:`twin.sim.passes.WindowPasses.interleave`). The result is the
in-process one bit for bit (:mod:`twin.sim.passes`): a pass's values depend only on its
satellite and the window, so the parts share nothing.

The workers are forked once the fleet exists and inherit its ``Satrec`` objects: they are
sent only satellite indices and the window. They die with the process that started them
(daemons, ``PR_SET_PDEATHSIG``), are stopped by :meth:`ParallelPasses.close` (also on an
exception in a window), and a worker that fails or dies surfaces as :class:`InfraError`
at once: the parent waits on each worker's pipe *and* its process, never on the pipe alone.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
from collections.abc import Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

import numpy as np
from sgp4.api import Satrec

from services.processes import die_with_parent, forked_child
from twin.errors import InfraError
from twin.sim.passes import (
    IntArray,
    PassWindow,
    WindowPasses,
    window_passes,
)

MIN_SATELLITES = 500
"""Windows with fewer live satellites are computed in this process: below that, forking's
and the pipes' cost is not repaid. Measured (`twin run` of benchmarks/scale_bench.py's
scenario × 1 d, best of 3, 1 process ÷ 2, on 2 cores): 0.98 at 100 satellites, 1.05 at 250,
1.13 at 500 and 1,000, 1.08 at 2,000, 1.11 at 4,000."""


def _worker_main(
    conn: Connection, satrecs: Sequence[Satrec], parent_ends: Sequence[Connection]
) -> None:
    """A worker: per window, its part's passes. Any error is answered as ``("error", text)``
    instead of a result."""
    die_with_parent()
    forked_child(*parent_ends)
    # the inherited heap stays shared with the parent: no collector pass touches its pages
    gc.disable()
    gc.freeze()
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the parent closed its end or died
            return
        if message is None:
            return
        try:
            _, indices, window = message
            conn.send(("passes", window_passes(satrecs, indices, window)))
        except (EOFError, OSError):
            return
        except Exception as exc:  # reported to the parent, which stops the run
            try:
                conn.send(("error", f"{type(exc).__name__}: {exc}"))
            except OSError:
                return


class ParallelPasses:
    """A :data:`twin.sim.passes.PassesFunction` that computes each window in ``processes``
    parts at once (this process and ``processes − 1`` forked workers). Create it after the
    fleet, before any thread: the workers are forked here. Call :meth:`close` when done
    (or ``with contextlib.closing(...)``); after a failure it raises :class:`InfraError`
    and is closed."""

    def __init__(
        self,
        satrecs: Sequence[Satrec],
        processes: int = 2,
        *,
        min_satellites: int = MIN_SATELLITES,
    ) -> None:
        if processes < 1:
            raise ValueError(f"processes must be at least 1, got {processes}")
        self.satrecs = satrecs
        self.processes = processes
        self.min_satellites = min_satellites
        self._workers: list[tuple[BaseProcess, Connection]] = []
        self.closed = False
        ctx = multiprocessing.get_context("fork")
        try:
            for k in range(processes - 1):
                ours, theirs = ctx.Pipe(duplex=True)
                proc = ctx.Process(
                    target=_worker_main,
                    args=(theirs, satrecs, [ours, *(c for _, c in self._workers)]),
                    name=f"twin-passes-{k + 1}",
                    daemon=True,
                )
                proc.start()
                theirs.close()
                self._workers.append((proc, ours))
        except BaseException:
            self.close()
            raise

    def __call__(
        self, satrecs: Sequence[Satrec], indices: IntArray, window: PassWindow
    ) -> WindowPasses:
        if self.closed:
            raise InfraError("the eclipse worker processes were closed", retryable=False)
        if satrecs is not self.satrecs:
            raise ValueError("ParallelPasses was started for another fleet's satrecs")
        n = len(indices)
        if not self._workers or n < self.min_satellites:
            return window_passes(satrecs, indices, window)
        # dealt round robin, not cut: a contiguous half can hold more of the season's passes
        count = len(self._workers) + 1
        dealt = np.asarray(indices, np.int64)
        parts = [dealt[k::count] for k in range(count)]
        try:
            for (_, conn), part in zip(self._workers, parts[1:], strict=True):
                self._send(conn, ("window", part, window))
            mine = window_passes(satrecs, parts[0], window)
            theirs = [self._receive(k, "passes") for k in range(len(self._workers))]
        except BaseException:
            self.close()  # a worker may be mid-window: none is left waiting or computing
            raise
        return WindowPasses.interleave([mine, *theirs])

    def _send(self, conn: Connection, message: Any) -> None:
        try:
            conn.send(message)
        except OSError as exc:
            raise InfraError(
                f"an eclipse worker process stopped (killed, or out of memory): {exc}",
                retryable=True,
            ) from None

    def _receive(self, k: int, kind: str) -> Any:
        """Worker ``k``'s answer: returns as soon as it is there or the worker is gone."""
        proc, conn = self._workers[k]
        wait([conn, proc.sentinel])
        try:
            if not conn.poll():
                raise EOFError
            what, payload = conn.recv()
        except (EOFError, OSError):
            proc.join(timeout=5)
            raise InfraError(
                f"eclipse worker process {proc.name} stopped (exit code {proc.exitcode}; "
                "killed, or out of memory) in the middle of a window",
                retryable=True,
            ) from None
        if what == "error":
            raise InfraError(
                f"eclipse worker process {proc.name} failed: {payload}", retryable=False
            )
        if what != kind:
            raise InfraError(
                f"eclipse worker process {proc.name} answered {what!r}, expected {kind!r}",
                retryable=False,
            )
        return payload

    def release(self) -> None:
        """Ask the workers to exit, without waiting (the run needs no more windows): they
        tear down while the run finishes; :meth:`close` then only reaps them."""
        self.closed = True
        for _, conn in self._workers:
            if not conn.closed:
                with contextlib.suppress(OSError):
                    conn.send(None)
                conn.close()

    def close(self) -> None:
        """Stop the workers (idempotent): asked to finish, then killed if they do not."""
        self.release()
        workers, self._workers = self._workers, []
        for proc, _ in workers:  # an idle worker exits at once; one mid-window is stopped
            proc.join(timeout=2)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=2)
            if proc.is_alive():
                proc.kill()
                proc.join()

    @property
    def pids(self) -> list[int]:
        """The workers' process ids (for tests and diagnostics)."""
        return [p.pid for p, _ in self._workers if p.pid is not None]
