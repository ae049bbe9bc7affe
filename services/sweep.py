"""Monte Carlo sweeps: a grid of scenario overrides × seeds, each run in its own process.

A **task** is ``(scenario, overrides, seed, until)``; :func:`run_task` simulates it, folds its
events into the one fold every view uses, and returns one row: the task, the run id, the
SHA-256 of its event log as ``twin log export`` writes it, and the outcomes of
:func:`twin.planning.outcomes.outcome_row`. A task needs nothing but its own four values, so
any row can be re-run alone (``twin run SCENARIO --set KEY=V --seed S --until T``) and gives
the same log, byte for byte.

Tasks run in local processes (:class:`concurrent.futures.ProcessPoolExecutor`) or, given a
scheduler address, on a ``dask.distributed`` cluster: the same :func:`run_task`, mapped by
either executor (:func:`run_sweep`). Results come back in completion order and are sorted
into grid order, so the table does not depend on which worker was fastest.

:func:`grid_summary` gives each grid point's mean and 95 % interval per outcome
(:func:`twin.planning.stats.mean_interval`); :func:`write_sweep` writes ``runs.csv``,
``points.csv``, ``sweep.json`` and a plot of outcomes against the first swept key.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import math
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import twin
from twin.events import EventBase, encode
from twin.planning.outcomes import OUTCOMES, RobotUse, outcome_row
from twin.planning.stats import mean_interval
from twin.projections import FleetState
from twin.sim.engine import Engine, config_from_scenario
from twin.sim.scenario import resolve_scenario

__all__ = [
    "SweepSpec",
    "Task",
    "grid_summary",
    "run_sweep",
    "run_task",
    "write_sweep",
]

DEFAULT_PLOT = ("availability", "compute_share", "lost_unrepaired_faults_accelerator_hours")
"""Plotted by default. Faults left unrepaired are one outcome (waiting for a robot +
unrepairable): without robots the same loss is filed as unrepairable, so "waiting" alone
would read 0 at 0 robots."""

RATIO_OUTCOMES = frozenset({"availability", "compute_share", "robot_utilisation"})
"""Outcomes that are shares, in [0, 1] (with any ``workload_*_ratio``); every other outcome
is an amount or a count, >= 0."""


def outcome_range(name: str) -> tuple[float, float]:
    """The values ``name`` can take: [0, 1] for a share, [0, inf) for an amount or count."""
    if name in RATIO_OUTCOMES or name.endswith(("_ratio", "_share", "_fraction")):
        return 0.0, 1.0
    return 0.0, math.inf


def clipped_interval(point: Mapping[str, Any]) -> tuple[float, float] | None:
    """A point's 95 % interval clipped to its outcome's possible range (for plots and the
    table; ``points.csv`` and ``sweep.json`` keep the raw interval). None with one seed."""
    low, high = point.get("ci95_low"), point.get("ci95_high")
    if low is None or high is None:
        return None
    lo, hi = outcome_range(point["outcome"])
    return max(low, lo), min(high, hi)


@dataclass(frozen=True)
class Task:
    """One run of a sweep: everything needed to reproduce it."""

    scenario: str
    overrides: tuple[tuple[str, Any], ...]
    seed: int
    until_s: float | None = None
    index: int = 0
    """Position in the grid (rows are returned in this order)."""


@dataclass(frozen=True)
class SweepSpec:
    """A grid: each key of ``grid`` takes each of its values (a cartesian product), each
    point runs ``seeds`` seeds from ``first_seed``."""

    scenario: str
    grid: tuple[tuple[str, tuple[Any, ...]], ...]
    seeds: int
    first_seed: int
    until_s: float | None = None
    keys: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", tuple(k for k, _ in self.grid))

    def points(self) -> list[tuple[tuple[str, Any], ...]]:
        values = [v for _, v in self.grid]
        return [tuple(zip(self.keys, combo, strict=True)) for combo in itertools.product(*values)]

    def tasks(self) -> list[Task]:
        out = []
        for point in self.points():
            for k in range(self.seeds):
                out.append(Task(self.scenario, point, self.first_seed + k, self.until_s, len(out)))
        return out

    def check(self) -> None:
        """Validate every grid point with the scenario's own errors, before any run."""
        for point in self.points():
            resolve_scenario(self.scenario, dict(point))


def run_task(task: Task) -> dict[str, Any]:
    """Simulate one task and return its row (runs in a worker process)."""
    scenario = resolve_scenario(task.scenario, dict(task.overrides))
    config = config_from_scenario(scenario, until_s=task.until_s)
    state = FleetState()
    digest = hashlib.sha256()
    robots = RobotUse()
    apply = state.apply

    def sink(event: EventBase) -> None:
        apply(event)
        robots.apply(event, state.core.sim_time_s)
        digest.update(encode(event))
        digest.update(b"\n")

    engine = Engine(config, task.seed, sink)
    engine.start()
    engine.run()
    engine.finish()
    summary = state.summary()
    row: dict[str, Any] = {"index": task.index, "scenario": task.scenario}
    row.update(dict(task.overrides))
    row.update(
        {
            "seed": task.seed,
            "until_s": config.until_s,
            "run_id": engine.run_id,
            "events": engine.offset,
            "log_sha256": digest.hexdigest(),
        }
    )
    row.update(outcome_row(summary, robots.busy_s(state.core.sim_time_s)))
    return row


def _local(tasks: Sequence[Task], jobs: int) -> Iterator[dict[str, Any]]:
    if jobs <= 1:
        yield from map(run_task, tasks)
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run_task, t) for t in tasks]
        for done in as_completed(futures):
            yield done.result()


def _dask(tasks: Sequence[Task], scheduler: Any) -> Iterator[dict[str, Any]]:
    """On a ``dask.distributed`` cluster: ``scheduler`` is an address or a ``Client``."""
    from dask.distributed import Client
    from dask.distributed import as_completed as dask_completed

    client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
    try:
        _warn_unpinned(client.run(twin.numpy_kernels_pinned))
        futures = client.map(run_task, tasks, pure=False)
        for done in dask_completed(futures):
            yield done.result()
    finally:
        if client is not scheduler:
            client.close()


def _warn_unpinned(pinned: Mapping[str, bool]) -> None:
    """Warn when some workers run numpy's AVX-512 kernels (a ``dask worker`` imports numpy
    before `twin`): their rows' logs may then differ in a last rounded digit from ``twin run``
    of the same task, so the row's ``log_sha256`` would not reproduce."""
    unpinned = sorted(address for address, ok in pinned.items() if not ok)
    if unpinned:
        warnings.warn(
            f"{len(unpinned)} of {len(pinned)} dask workers run numpy's AVX-512 kernels "
            f"({', '.join(unpinned)}): their runs may differ in a last rounded digit from "
            f"`twin run` of the same task. Start the workers with NPY_DISABLE_CPU_FEATURES="
            f"'{os.environ.get('NPY_DISABLE_CPU_FEATURES') or twin.NUMPY_KERNELS_OFF}'",
            RuntimeWarning,
            stacklevel=3,
        )


def run_sweep(
    tasks: Sequence[Task],
    *,
    jobs: int | None = None,
    scheduler: Any = None,
    progress: Callable[[int, int, dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Every task's row, in grid order: on ``jobs`` local processes (default: the CPUs),
    or on a dask cluster when ``scheduler`` (address or ``Client``) is given.
    ``progress(done, total, row)`` is called as each run finishes."""
    if scheduler is not None:
        results: Iterable[dict[str, Any]] = _dask(tasks, scheduler)
    else:
        results = _local(tasks, jobs or os.cpu_count() or 1)
    rows = []
    for row in results:
        rows.append(row)
        if progress is not None:
            progress(len(rows), len(tasks), row)
    return sorted(rows, key=lambda r: r["index"])


def outcome_columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The outcome columns of ``rows``: the fixed ones, then any ``workload_*`` present."""
    extra = sorted({k for r in rows for k in r if k.startswith("workload_")})
    return [*OUTCOMES, *extra]


def grid_summary(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> list[dict[str, Any]]:
    """Per grid point (the values of ``keys``) and outcome: n, mean, sd and the 95 % interval
    over the point's seeds (outcomes undefined in a run, such as MTTR without repairs, are
    left out of that run's n)."""
    points: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows:
        points.setdefault(tuple(row[k] for k in keys), []).append(row)
    out = []
    for point, members in points.items():
        for name in outcome_columns(rows):
            values = [
                float(v)
                for r in members
                if isinstance(v := r.get(name), int | float) and math.isfinite(v)
            ]
            if not values:
                continue
            ci = mean_interval(values)
            out.append(
                {
                    **dict(zip(keys, point, strict=True)),
                    "outcome": name,
                    "n": ci.n,
                    "mean": ci.mean,
                    "sd": ci.sd,
                    "ci95_low": ci.low,
                    "ci95_high": ci.high,
                    "ci95_half_width": ci.half_width,
                }
            )
    return out


def _write_csv(path: Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in columns})


def write_sweep(
    out_dir: Path,
    spec: SweepSpec,
    rows: Sequence[dict[str, Any]],
    *,
    plot: Sequence[str] = DEFAULT_PLOT,
) -> dict[str, Path]:
    """Write ``runs.csv`` (a row per run), ``points.csv`` (mean and interval per grid point
    and outcome), ``sweep.json`` (both, with the spec) and ``sweep.png`` (``plot`` outcomes
    against the first key, with 95 % intervals; needs matplotlib). Returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    keys = list(spec.keys)
    head = ["index", "scenario", *keys, "seed", "until_s", "run_id", "events", "log_sha256"]
    columns = [*head, *outcome_columns(rows)]
    points = grid_summary(rows, keys)
    paths = {
        "runs": out_dir / "runs.csv",
        "points": out_dir / "points.csv",
        "json": out_dir / "sweep.json",
    }
    _write_csv(paths["runs"], rows, columns)
    point_cols = [*keys, "outcome", "n", "mean", "sd", "ci95_low", "ci95_high", "ci95_half_width"]
    _write_csv(paths["points"], points, point_cols)
    doc = {
        "scenario": spec.scenario,
        "grid": {k: list(v) for k, v in spec.grid},
        "seeds": spec.seeds,
        "first_seed": spec.first_seed,
        "until_s": spec.until_s,
        "columns": columns,
        "runs": rows,
        "points": points,
    }
    paths["json"].write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    if keys and plot:
        paths["plot"] = out_dir / "sweep.png"
        plot_points(paths["plot"], points, keys, plot)
    return paths


OUTCOME_TITLES = {
    "lost_unrepaired_faults_accelerator_hours": (
        "lost to unrepaired faults accelerator hours\n(waiting for robot + unrepairable)"
    ),
}
"""Panel titles that say more than the column name."""


def format_table(
    points: Sequence[Mapping[str, Any]], keys: Sequence[str], outcomes: Sequence[str]
) -> str:
    """A plain-text table: a row per grid point, a column per outcome, each cell the mean
    ± the half-width of its 95 % interval (the mean alone with one seed)."""
    cells: dict[tuple[Any, ...], dict[str, str]] = {}
    for p in points:
        if p["outcome"] not in outcomes:
            continue
        row = cells.setdefault(tuple(p[k] for k in keys), {})
        half = p["ci95_half_width"]
        text = _number(p["mean"]) + ("" if half is None else f" ± {_number(half)}")
        row[p["outcome"]] = text
    header = [*keys, *outcomes]
    body = [
        [str(v) for v in point] + [cells[point].get(o, "—") for o in outcomes] for point in cells
    ]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in body]
    return "\n".join(lines)


def _number(x: float) -> str:
    """Four significant figures, thousands separated."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    digits = max(0, 3 - int(math.floor(math.log10(abs(x)))))
    return f"{x:,.{digits}f}"


def plot_points(
    path: Path, points: Sequence[dict[str, Any]], keys: Sequence[str], outcomes: Sequence[str]
) -> None:
    """Outcomes against the first key, one panel each, a line per value of the other keys,
    error bars the 95 % intervals; saved by :func:`services.figures.save` (200 dpi)."""
    from services import figures

    fig = build_figure(points, keys, outcomes)
    figures.save(fig, path)


def build_figure(
    points: Sequence[dict[str, Any]], keys: Sequence[str], outcomes: Sequence[str]
) -> Any:
    """The sweep's figure (a matplotlib ``Figure``): every outcome is an amount or a share,
    so its axis starts at zero; the legend (values of the other keys) sits under the panels."""
    from services import figures

    plt = figures.pyplot("--plot")
    from matplotlib.ticker import MaxNLocator

    x_key, others = keys[0], list(keys[1:])
    fig, axes = plt.subplots(
        1, len(outcomes), figsize=(4.2 * len(outcomes), 3.8), squeeze=False, layout="constrained"
    )
    for ax, name in zip(axes[0], outcomes, strict=True):
        xs_all: set[Any] = set()
        series: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        for p in points:
            if p["outcome"] == name:
                series.setdefault(tuple(p[k] for k in others), []).append(p)
        for label, pts in sorted(series.items(), key=lambda kv: str(kv[0])):
            pts = sorted(pts, key=lambda p: p[x_key])
            xs = [p[x_key] for p in pts]
            ys = [p["mean"] for p in pts]
            below, above = [], []
            for p in pts:
                ci = clipped_interval(p) or (p["mean"], p["mean"])
                below.append(max(p["mean"] - ci[0], 0.0))
                above.append(max(ci[1] - p["mean"], 0.0))
            text = ", ".join(f"{k}={v}" for k, v in zip(others, label, strict=True)) or None
            ax.errorbar(xs, ys, yerr=[below, above], marker="o", capsize=4, label=text)
            xs_all.update(xs)
        if xs_all and all(isinstance(x, int) and not isinstance(x, bool) for x in xs_all):
            ticks = sorted(xs_all)
            if len(ticks) <= 12:
                ax.set_xticks(ticks)
            else:
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(x_key)
        ax.set_title(OUTCOME_TITLES.get(name, name.replace("_", " ")), fontsize=9)
        ax.grid(alpha=0.3)
        figures.from_zero(ax)
    if others:
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(
            handles, labels, loc="outside lower center", ncol=min(4, len(labels)), fontsize=7
        )
    fig.suptitle(
        "Mean and 95 % interval over seeds (Student t, clipped to the possible range)", fontsize=9
    )
    figures.caption(
        fig,
        f"Orbital Twin sweep; scenario figures and sources: docs/sources.md. {figures.SIM_SOURCES}",
    )
    return fig
