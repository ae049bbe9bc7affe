"""`twin sweep`: a scenario over a grid of overrides × seeds, runs in parallel processes.

    twin sweep demo --set repair.robots=0,2,4 --seeds 10 --until 3d --out sweeps/robots

Each ``--set KEY=V1,V2,...`` adds a dimension (any scenario key, validated by the scenario's
own rules before any run); every grid point runs ``--seeds`` seeds, from ``--first-seed``
(default: the scenario's seed). Runs go to ``--jobs`` local processes (default: the CPUs) or,
with ``--scheduler ADDRESS``, to a ``dask.distributed`` cluster. The directory ``--out``
receives ``runs.csv`` (a row per run: its seed, run id, log SHA-256 and outcomes),
``points.csv`` (per grid point and outcome: mean and 95 % Student-t interval), ``sweep.json``
and ``sweep.png``. Any row can be re-run alone with ``twin run SCENARIO --set KEY=V --seed S
--until T``: its ``twin log export`` has the row's SHA-256.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from services.cli import options
from services.cli.common import add_documented_parser, add_scenario_argument
from twin.errors import InputError
from twin.sim.scenario import resolve_scenario


def register(sub: Any) -> None:
    p = add_documented_parser(
        sub, "sweep", __doc__, help="Monte Carlo sweep: overrides × seeds, in parallel"
    )
    add_scenario_argument(p)
    p.add_argument(
        "--set",
        type=options.assignments,
        action="append",
        default=[],
        metavar="KEY=V1,V2,...",
        help="a swept scenario key and its values (repeatable: a grid)",
    )
    p.add_argument(
        "--seeds",
        type=options.integer(1, 100_000, "a number of seeds"),
        default=10,
        help="seeds per grid point",
    )
    p.add_argument(
        "--first-seed",
        type=options.seed,
        default=None,
        metavar="SEED",
        help="the first seed; the others follow it (default: the scenario's seed)",
    )
    p.add_argument(
        "--until",
        type=options.duration,
        default=None,
        metavar="DURATION",
        help="simulated span of each run, e.g. 3d (default: the scenario's duration)",
    )
    p.add_argument(
        "--jobs",
        type=options.integer(1, 1024, "worker processes"),
        default=None,
        help="local worker processes (default: the number of CPUs)",
    )
    p.add_argument(
        "--scheduler", default=None, metavar="ADDRESS", help="a dask.distributed scheduler"
    )
    p.add_argument("--out", required=True, metavar="DIR", help="directory for the results")
    p.add_argument(
        "--plot",
        default=None,
        metavar="OUTCOME,...",
        help="outcomes to plot against the first key (default: availability, compute share, "
        "compute lost to unrepaired faults: waiting for a robot + unrepairable)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from services.sweep import (
        DEFAULT_PLOT,
        SweepSpec,
        format_table,
        grid_summary,
        outcome_columns,
        run_sweep,
        write_sweep,
    )

    keys = [k for k, _ in args.set]
    if len(set(keys)) != len(keys):
        raise InputError("a key is swept twice", field="--set", allowed="each KEY once")
    scenario = resolve_scenario(args.scenario)
    first = scenario.scenario.seed if args.first_seed is None else args.first_seed
    spec = SweepSpec(args.scenario, tuple(args.set), args.seeds, first, args.until)
    spec.check()
    plot = DEFAULT_PLOT if args.plot is None else tuple(args.plot.split(","))
    known = outcome_columns([])
    bad = [p for p in plot if p not in known and not p.startswith("workload_")]
    if bad:
        raise InputError(f"unknown outcome {bad[0]!r}", field="--plot", allowed=", ".join(known))
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError("is not a directory", file=str(out), field="--out")
    tasks = spec.tasks()
    t0 = time.monotonic()

    def progress(done: int, total: int, row: dict[str, Any]) -> None:
        if args.quiet:
            return
        point = " ".join(f"{k}={row[k]}" for k in keys)
        avail = row["availability"]
        print(
            f"[{done:>{len(str(total))}}/{total}] {point} seed {row['seed']}: availability "
            f"{'-' if avail is None else f'{avail:.4f}'}, {row['compute_accelerator_hours']:,.0f}"
            f" accelerator-hours  ({time.monotonic() - t0:,.1f} s)",
            file=sys.stderr,
            flush=True,
        )

    rows = run_sweep(tasks, jobs=args.jobs, scheduler=args.scheduler, progress=progress)
    paths = write_sweep(out, spec, rows, plot=plot)
    for name, path in paths.items():
        print(f"{name:<7}{path}")
    print()
    print(f"Mean ± 95 % half-width over {args.seeds} seed(s) per grid point:")
    print(format_table(grid_summary(rows, keys), keys, plot))
    return 0
