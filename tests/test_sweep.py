"""`twin sweep`: repair robots × seeds on demo, in parallel; intervals shrink with more seeds;
any run re-run alone (`twin run --set … --seed …`) writes the same log byte for byte."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import warnings
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from services.cli import main
from services.sweep import SweepSpec, grid_summary, run_sweep, run_task
from twin.planning.stats import mean_interval, t_quantile_975
from twin.projections import fold

UNTIL = "6h"
SEEDS = 10


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def sweep_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, list[dict[str, str]], str, str]:
    """The sweep's directory, its runs.csv rows, its stderr (progress) and stdout (table)."""
    out = tmp_path_factory.mktemp("sweep")
    code, stdout, stderr = _cli(
        "sweep", "demo", "--set", "repair.robots=0,2,4", "--seeds", str(SEEDS),
        "--until", UNTIL, "--jobs", "2", "--out", str(out),
    )  # fmt: skip
    assert code == 0, stderr
    with (out / "runs.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    return out, rows, stderr, stdout


@pytest.fixture(scope="module")
def sweep(
    sweep_run: tuple[Path, list[dict[str, str]], str, str],
) -> tuple[Path, list[dict[str, str]], str]:
    return sweep_run[:3]


@pytest.fixture(scope="module")
def sweep_stdout(sweep_run: tuple[Path, list[dict[str, str]], str, str]) -> str:
    return sweep_run[3]


def test_the_sweep_covers_the_grid_and_reports_progress(
    sweep: tuple[Path, list[dict[str, str]], str],
) -> None:
    out, rows, stderr = sweep
    assert len(rows) == 3 * SEEDS
    assert [(r["repair.robots"], r["seed"]) for r in rows] == [
        (str(robots), str(42 + k)) for robots in (0, 2, 4) for k in range(SEEDS)
    ]
    assert stderr.count("\n") == 3 * SEEDS and f"[{3 * SEEDS}/{3 * SEEDS}]" in stderr
    assert len({r["log_sha256"] for r in rows}) == 3 * SEEDS  # every run its own log
    for name in ("points.csv", "sweep.json", "sweep.png"):
        assert (out / name).stat().st_size > 0
    doc = json.loads((out / "sweep.json").read_text())
    assert doc["grid"] == {"repair.robots": [0, 2, 4]} and len(doc["runs"]) == 3 * SEEDS
    # robots are used where there are any, and reported as such
    for r in rows:
        if r["repair.robots"] == "0":
            assert r["robots"] == "0" and r["robot_utilisation"] == ""
        else:
            assert int(r["robots"]) == 8 * int(r["repair.robots"])  # robots_per = "plane"
            assert 0.0 <= float(r["robot_utilisation"]) <= 1.0


def test_points_are_means_with_t_intervals(sweep: tuple[Path, list[dict[str, str]], str]) -> None:
    out, rows, _ = sweep
    with (out / "points.csv").open() as fh:
        points = {(p["repair.robots"], p["outcome"]): p for p in csv.DictReader(fh)}
    for robots in ("0", "2", "4"):
        values = [
            float(r["compute_accelerator_hours"]) for r in rows if r["repair.robots"] == robots
        ]
        p = points[robots, "compute_accelerator_hours"]
        mean = sum(values) / len(values)
        sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
        assert float(p["mean"]) == pytest.approx(mean, rel=1e-12)
        assert float(p["ci95_half_width"]) == pytest.approx(2.2622 * sd / math.sqrt(10), rel=1e-9)


def test_intervals_shrink_as_seeds_grow(sweep: tuple[Path, list[dict[str, str]], str]) -> None:
    _, rows, _ = sweep
    typed: list[dict[str, Any]] = [
        {**r, "repair.robots": int(r["repair.robots"]), "seed": int(r["seed"])}
        | {k: float(r[k]) for k in ("compute_accelerator_hours", "energy_consumed_kwh")}
        for r in rows
    ]
    for outcome in ("compute_accelerator_hours", "energy_consumed_kwh"):
        widths = []
        for n in (3, 6, SEEDS):
            subset = [r for r in typed if r["seed"] < 42 + n]
            points = grid_summary(subset, ["repair.robots"])
            widths.append(
                {
                    p["repair.robots"]: p["ci95_half_width"]
                    for p in points
                    if p["outcome"] == outcome
                }
            )
        for robots in (0, 2, 4):
            w3, w6, w10 = (w[robots] for w in widths)
            assert w3 > w6 > w10 > 0, (outcome, robots, w3, w6, w10)


def test_a_run_re_run_alone_gives_the_same_log_and_outcomes(
    sweep: tuple[Path, list[dict[str, str]], str], tmp_path: Path
) -> None:
    _, rows, _ = sweep
    row = next(r for r in rows if r["repair.robots"] == "2" and r["seed"] == "45")
    log, jsonl = tmp_path / "alone.twinlog", tmp_path / "alone.jsonl"
    code, _, err = _cli(
        "run", "demo", "--set", "repair.robots=2", "--seed", "45", "--until", UNTIL,
        "--log", str(log), "--quiet",
    )  # fmt: skip
    assert code == 0, err
    assert _cli("log", "export", str(log), "--out", str(jsonl))[0] == 0
    assert hashlib.sha256(jsonl.read_bytes()).hexdigest() == row["log_sha256"]
    code, out, _ = _cli("state", str(log), "--json")
    state = json.loads(out)
    assert state["run"]["run_id"] == row["run_id"]
    assert float(row["availability"]) == state["losses"]["availability"]
    assert float(row["compute_accelerator_hours"]) == pytest.approx(
        state["integrals"]["compute_accelerator_hours"], rel=1e-15
    )
    assert float(row["tonnes_to_orbit"]) == state["launch"]["tonnes_to_orbit"]


def test_local_processes_and_one_process_agree() -> None:
    spec = SweepSpec("demo", (("repair.robots", (0, 4)),), 2, 7, 3 * 3600.0)
    tasks = spec.tasks()
    parallel = run_sweep(tasks, jobs=2)
    alone = [run_task(t) for t in tasks]
    assert parallel == alone
    assert [r["index"] for r in parallel] == [0, 1, 2, 3]


def test_the_outcome_row_agrees_with_the_fold() -> None:
    """Delivered compute counted by the losses equals the core's integral."""
    from twin.sim.engine import config_from_scenario, simulate
    from twin.sim.scenario import resolve_scenario

    scenario = resolve_scenario("demo", {"repair.robots": 0})
    state = fold(simulate(config_from_scenario(scenario, until_s=86400.0), 3)).summary()
    losses = state["losses"]["accelerator_hours"]
    assert losses["delivered"] == pytest.approx(
        state["integrals"]["compute_accelerator_hours"], rel=1e-12
    )
    assert state["losses"]["potential_accelerator_hours"] == pytest.approx(sum(losses.values()))
    assert losses["waiting_for_robot"] == 0.0  # no robots: nobody waits, faults are fatal
    assert losses["unrepairable"] > 0.0


def test_faults_left_unrepaired_are_one_outcome_whatever_the_robots(
    sweep: tuple[Path, list[dict[str, str]], str],
) -> None:
    """Without robots the loss is filed as unrepairable, with robots mostly as waiting: the
    combined column is their sum, the separate columns stay, and the default plot uses it."""
    from services.sweep import DEFAULT_PLOT

    _, rows, _ = sweep
    for r in rows:
        waiting = float(r["lost_waiting_for_robot_accelerator_hours"])
        dead = float(r["lost_unrepairable_accelerator_hours"])
        combined = float(r["lost_unrepaired_faults_accelerator_hours"])
        assert combined == pytest.approx(waiting + dead, rel=1e-12, abs=1e-12)
        if r["repair.robots"] == "0":
            assert waiting == 0.0
    no_robots = [
        float(r["lost_unrepaired_faults_accelerator_hours"])
        for r in rows
        if r["repair.robots"] == "0"
    ]
    assert sum(no_robots) > 0.0  # the loss is there at 0 robots, not a 0
    assert "lost_unrepaired_faults_accelerator_hours" in DEFAULT_PLOT
    assert "lost_waiting_for_robot_accelerator_hours" not in DEFAULT_PLOT


def test_plotted_intervals_are_clipped_to_the_possible_range(
    sweep: tuple[Path, list[dict[str, str]], str],
) -> None:
    """points.csv keeps the raw Student-t interval; the figure's error bars stop at 0 (and
    at 1 for shares); the x ticks of an integer key are whole numbers."""
    from services.sweep import DEFAULT_PLOT, build_figure, clipped_interval

    out, rows, _ = sweep
    doc = json.loads((out / "sweep.json").read_text())
    points = doc["points"]
    raw = {(p["repair.robots"], p["outcome"]): p for p in points}
    # a share and an amount near their bounds: some raw intervals cross them
    crossing = [
        p for p in points
        if p["ci95_low"] is not None and (p["ci95_low"] < 0 or (
            p["outcome"] in ("availability", "compute_share") and p["ci95_high"] > 1))
    ]  # fmt: skip
    assert crossing, "expected an interval crossing a bound with 10 seeds over 6 h"
    for p in crossing:
        ci = clipped_interval(p)
        assert ci is not None and 0.0 <= ci[0] <= p["mean"] <= ci[1]
        if p["outcome"] in ("availability", "compute_share"):
            assert ci[1] <= 1.0
    fig = build_figure(points, ["repair.robots"], DEFAULT_PLOT)
    try:
        for ax, name in zip(fig.axes, DEFAULT_PLOT, strict=True):
            assert list(ax.get_xticks()) == [0, 2, 4]
            bars = [c for c in ax.collections if c.get_segments()]
            assert bars
            for seg in bars[0].get_segments():
                (x, y0), (_, y1) = seg
                p = raw[int(round(x)), name]
                lo, hi = clipped_interval(p)
                assert (min(y0, y1), max(y0, y1)) == pytest.approx((lo, hi), abs=1e-12)
                assert min(y0, y1) >= 0.0
                if name in ("availability", "compute_share"):
                    assert max(y0, y1) <= 1.0
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def test_the_sweep_prints_a_table_of_means_and_half_widths(
    sweep: tuple[Path, list[dict[str, str]], str], sweep_stdout: str
) -> None:
    from services.sweep import DEFAULT_PLOT, _number

    out, _, _ = sweep
    doc = json.loads((out / "sweep.json").read_text())
    lines = sweep_stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("repair.robots"))
    assert lines[header].split() == ["repair.robots", *DEFAULT_PLOT]
    table = lines[header + 1 : header + 4]
    for robots, line in zip((0, 2, 4), table, strict=True):
        assert line.split()[0] == str(robots)
        for name in DEFAULT_PLOT:
            p = next(
                q for q in doc["points"] if q["repair.robots"] == robots and q["outcome"] == name
            )
            assert f"{_number(p['mean'])} ± {_number(p['ci95_half_width'])}" in line


def test_sweep_help_shows_the_defaults() -> None:
    code, out, _ = _cli("sweep", "--help")
    assert code == 0
    text = " ".join(out.split())
    for option, default in (
        ("--seeds SEEDS", "(default: 10)"),
        ("--until DURATION", "(default: the scenario's duration)"),
        ("--jobs JOBS", "(default: the number of CPUs)"),
        ("--first-seed SEED", "(default: the scenario's seed)"),
    ):
        after = text.split(f" {option} ", 1)[1]
        assert default in after.split(" --", 1)[0], option
    assert "SCENARIO a preset name" in text
    for command in ("sweep", "run"):
        assert "(default: [])" not in _cli(command, "--help")[1]


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (["--set", "repair.robots=-1,2"], "--set repair.robots=-1"),
        (["--set", "repair.robotz=1"], "--set repair.robotz=1"),
        (["--set", "repair.robots"], "--set"),
        (["--set", "repair.robots=1,", "--seeds", "2"], "--set"),
        (["--set", "repair.robots=1", "--seeds", "0"], "--seeds"),
        (["--set", "repair.robots=1", "--plot", "happiness"], "--plot"),
    ],
)
def test_bad_sweeps_are_refused_before_any_run(args: list[str], where: str, tmp_path: Path) -> None:
    code, _, err = _cli("sweep", "demo", *args, "--out", str(tmp_path / "o"))
    assert code == 2
    assert f"twin: error: {where}" in err
    assert not (tmp_path / "o").exists()


def test_t_quantiles() -> None:
    assert t_quantile_975(1) == 12.7062 and t_quantile_975(9) == 2.2622
    for dof, expected in ((31, 2.0395), (40, 2.0211), (60, 2.0003), (120, 1.9799), (10**6, 1.96)):
        assert t_quantile_975(dof) == pytest.approx(expected, abs=2e-4)
    ci = mean_interval([1.0, 2.0, 3.0, 4.0])
    assert ci.mean == 2.5 and ci.sd == pytest.approx(math.sqrt(5 / 3))
    assert ci.low == pytest.approx(2.5 - 3.1824 * math.sqrt(5 / 3) / 2)
    assert mean_interval([5.0]).half_width is None


def test_a_dask_cluster_runs_the_same_tasks_to_the_same_rows() -> None:
    """The same run_task mapped by dask.distributed (a local cluster of 2 processes)."""
    import distributed  # the test extra installs it: this runs in CI

    spec = SweepSpec("demo", (("repair.robots", (0, 2)),), 2, 11, 2 * 3600.0)
    tasks = spec.tasks()
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        on_dask = run_sweep(tasks, scheduler=client)
        workers = client.run(lambda: __import__("os").getpid())
    assert len(set(workers.values())) == 2
    assert on_dask == [run_task(t) for t in tasks]


def test_dask_workers_running_other_numpy_kernels_are_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker where `twin` could not pin numpy's kernels (here: the variable set empty, as a
    `dask worker` that imported numpy first would be) is named in a warning, because its rows'
    log hashes may not reproduce with `twin run`. Whether the warning comes depends only on
    the worker's numpy: on a CPU without AVX-512 every worker runs the pinned kernels."""
    import distributed

    import twin

    monkeypatch.setenv("NPY_DISABLE_CPU_FEATURES", "")
    task = SweepSpec("demo", (), 1, 11, 3600.0).tasks()[0]
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        pinned = client.run(twin.numpy_kernels_pinned)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            rows = run_sweep([task], scheduler=client)
    assert len(rows) == 1 and rows[0]["events"] > 0
    named = [str(w.message) for w in caught if "AVX-512" in str(w.message)]
    if all(pinned.values()):
        assert named == []
    else:
        assert len(named) == 1
        assert "1 of 1 dask workers" in named[0] and next(iter(pinned)) in named[0]
        assert "NPY_DISABLE_CPU_FEATURES=" in named[0]
