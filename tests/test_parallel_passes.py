"""A window's passes in parts (twin/sim/passes.py) and in several processes
(services/parallel_passes.py): exactly the whole, bit for bit, and failures that surface."""

from __future__ import annotations

import io
import os
import signal
from contextlib import closing, redirect_stdout
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services import parallel_passes
from services.cli import main
from services.eventlog import SqliteEventLog
from services.parallel_passes import ParallelPasses
from twin.constants import SECONDS_PER_DAY, SECONDS_PER_HOUR, WGS84_FLATTENING
from twin.errors import InfraError
from twin.sim.engine import EngineConfig, config_from_scenario
from twin.sim.passes import (
    PassWindow,
    WindowPasses,
    window_passes,
)
from twin.sim.scenario import resolve_scenario


@cache
def demo() -> EngineConfig:
    """The demo preset: 240 satellites in 6 planes of two shells."""
    return config_from_scenario(resolve_scenario("demo", None))


def window(day: int, flattening: float = WGS84_FLATTENING) -> PassWindow:
    """Day ``day``'s window as the engine makes it (the second day's starts mid-orbit: its
    first pass entry differs from part to part)."""
    start = day * SECONDS_PER_DAY
    return PassWindow(
        demo().epoch, start, start + SECONDS_PER_DAY, 3 * SECONDS_PER_HOUR, flattening
    )


@cache
def whole(day: int, flattening: float = WGS84_FLATTENING) -> WindowPasses:
    satrecs = demo().fleet.satrecs
    return window_passes(satrecs, np.arange(len(satrecs)), window(day, flattening))


def assert_identical(got: WindowPasses, want: WindowPasses) -> None:
    for name in ("owner", "enter", "leave", "umbra", "illumination"):
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype, name
        assert a.tobytes() == b.tobytes(), f"{name} differs"


def in_parts(cuts: list[int], w: PassWindow) -> WindowPasses:
    """The window computed in consecutive parts cut at ``cuts``, as ParallelPasses does."""
    satrecs = demo().fleet.satrecs
    parts = np.split(np.arange(len(satrecs), dtype=np.int64), cuts)
    done = [window_passes(satrecs, p, w) for p in parts]
    return WindowPasses.concatenate([(d, len(p)) for d, p in zip(done, parts, strict=True)])


@pytest.mark.parametrize("day", [0, 1])
@pytest.mark.parametrize("flattening", [WGS84_FLATTENING, 0.0])
def test_halves_concatenated_are_the_whole_bit_for_bit(day: int, flattening: float) -> None:
    w = window(day, flattening)
    assert len(whole(day, flattening)) > 100  # noqa: PLR2004
    assert_identical(in_parts([len(demo().fleet) // 2], w), whole(day, flattening))


@settings(max_examples=8, deadline=None)
@given(st.lists(st.integers(0, 240), max_size=4).map(sorted), st.sampled_from([0, 1]))
def test_any_split_concatenated_is_the_whole(cuts: list[int], day: int) -> None:
    assert_identical(in_parts(cuts, window(day)), whole(day))


@settings(max_examples=6, deadline=None)
@given(st.integers(1, 5), st.sampled_from([0, 1]))
def test_satellites_dealt_round_robin_and_interleaved_are_the_whole(count: int, day: int) -> None:
    """As ParallelPasses deals them: part k holds satellites k, k + count, …"""
    satrecs, w = demo().fleet.satrecs, window(day)
    everyone = np.arange(len(satrecs), dtype=np.int64)
    parts = [everyone[k::count] for k in range(count)]
    done = [window_passes(satrecs, p, w) for p in parts]
    assert_identical(WindowPasses.interleave(done), whole(day))


@pytest.mark.parametrize("processes", [2, 3])
@pytest.mark.parametrize("day", [0, 1])
def test_worker_processes_give_the_whole(processes: int, day: int) -> None:
    satrecs = demo().fleet.satrecs
    with closing(ParallelPasses(satrecs, processes, min_satellites=0)) as pp:
        assert len(pp.pids) == processes - 1
        got = pp(satrecs, np.arange(len(satrecs), dtype=np.int64), window(day))
        # a subset too (the live satellites of a window are any subset, in fleet order)
        some = np.arange(3, len(satrecs), 2, dtype=np.int64)
        sub = pp(satrecs, some, window(day))
    assert_identical(got, whole(day))
    assert_identical(sub, window_passes(satrecs, some, window(day)))


def test_small_windows_stay_in_this_process() -> None:
    satrecs = demo().fleet.satrecs
    with closing(ParallelPasses(satrecs, 2, min_satellites=len(satrecs) + 1)) as pp:
        os.kill(pp.pids[0], signal.SIGKILL)  # would fail the window if it were asked
        got = pp(satrecs, np.arange(len(satrecs), dtype=np.int64), window(0))
    assert_identical(got, whole(0))


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_failing_window_in_a_worker_is_an_infra_error_and_stops_it() -> None:
    satrecs = demo().fleet.satrecs
    pp = ParallelPasses(satrecs, 2, min_satellites=0)
    pids = pp.pids
    # dealt round robin, position 1 goes to the worker: its part fails
    bad = np.r_[[0, 10**9], np.arange(1, len(satrecs))].astype(np.int64)
    with pytest.raises(InfraError, match="eclipse worker process .* failed: IndexError"):
        pp(satrecs, bad, window(0))
    assert pp.closed and all(_gone(p) for p in pids)
    with pytest.raises(InfraError, match="closed"):
        pp(satrecs, np.arange(len(satrecs), dtype=np.int64), window(0))


def test_a_killed_worker_is_an_infra_error_not_a_hang() -> None:
    satrecs = demo().fleet.satrecs
    with closing(ParallelPasses(satrecs, 2, min_satellites=0)) as pp:
        os.kill(pp.pids[0], signal.SIGKILL)
        with pytest.raises(InfraError, match="stopped") as caught:
            pp(satrecs, np.arange(len(satrecs), dtype=np.int64), window(0))
        assert caught.value.retryable


def test_close_stops_every_worker() -> None:
    pp = ParallelPasses(demo().fleet.satrecs, 3, min_satellites=0)
    pids = pp.pids
    assert len(pids) == 2 and not any(_gone(p) for p in pids)  # noqa: PLR2004
    pp.close()
    pp.close()  # idempotent
    assert all(_gone(p) for p in pids)


def run_log(tmp_path: Path, name: str, *extra: str) -> list[bytes]:
    log = tmp_path / f"{name}.twinlog"
    args = ["run", "demo", "--seed", "5", "--until", "2d", "--log", str(log), "--quiet"]
    with redirect_stdout(io.StringIO()):
        assert main([*args, *extra]) == 0
    return list(SqliteEventLog(log).read_raw())


def test_twin_run_writes_the_same_log_with_eclipse_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parallel_passes, "MIN_SATELLITES", 0)  # the demo's 240 are split too
    calls: list[int] = []
    original = ParallelPasses.__call__

    def counted(self: ParallelPasses, *args: object) -> WindowPasses:
        calls.append(self.processes)
        return original(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(ParallelPasses, "__call__", counted)
    serial = run_log(tmp_path, "serial", "--eclipse-workers", "1")
    assert calls == []
    parallel = run_log(tmp_path, "parallel", "--eclipse-workers", "2")
    assert calls == [2, 2]  # two windows, both split
    assert len(serial) > 1000 and parallel == serial  # noqa: PLR2004


def test_eclipse_workers_with_shards_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    log = tmp_path / "x.twinlog"
    for sharding in (["--shards", "2"], ["--shard", "0/2"]):
        code = main(["run", "demo", *sharding, "--eclipse-workers", "2", "--log", str(log)])
        assert code == 2  # noqa: PLR2004
        assert "--eclipse-workers" in capsys.readouterr().err
    assert not log.exists()
