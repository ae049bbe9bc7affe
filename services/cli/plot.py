"""`twin plot LOG --out run.png`: a run at a glance, replayed from its event log.

Five panels over simulated time: satellites by lifecycle state (stacked), compute online
(PFLOPS), fleet power generated and consumed with satellites in shadow and load-shed,
faults, repairs and the repair queue, and the workload: goodput against accelerator-hours
computed, and work lost. The fold is sampled at evenly spaced sim times.
Needs matplotlib (`pip install -e '.[plots]'`).
"""

from __future__ import annotations

import argparse
from typing import Any

from services.cli import options
from services.cli.common import counted, progress, pyplot
from twin.constants import SECONDS_PER_DAY, SECONDS_PER_HOUR
from twin.errors import InputError
from twin.lifecycle import State
from twin.projections import FleetState
from twin.projections.workload import Workload
from twin.timeutil import parse_time, seconds_since

_IN_SERVICE = (State.OPERATIONAL, State.IN_ECLIPSE, State.LOAD_SHED, State.FAULTED)
SHOWN = (*_IN_SERVICE, *(s for s in State if s not in _IN_SERVICE))
"""Stacking order: in service at the bottom, then the other states."""


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("plot", help="plot a run's fleet over time (PNG)")
    p.add_argument("log", metavar="LOG", help="embedded event log (twin run --log)")
    p.add_argument("--out", default=None, help="PNG to write (default: LOG with .png)")
    p.add_argument(
        "--samples",
        type=options.integer(2, 100_000, "points along the time axis"),
        default=400,
        help="points along the time axis",
    )
    p.set_defaults(func=run)


def sample(log_path: str, samples: int) -> dict[str, Any]:
    """Replay ``log_path`` and sample the fold at ``samples`` evenly spaced sim times."""
    from services.eventlog import SqliteEventLog

    with SqliteEventLog(log_path) as log:
        info = log.info()
        first, last = info.get("first_sim_time"), info.get("last_sim_time")
        if not first or not last:
            raise InputError("the log holds no events", file=log_path)
        t0 = parse_time(first)
        span = max(seconds_since(t0, parse_time(last)), 1.0)
        step = span / max(samples - 1, 1)
        state = FleetState()
        rows: list[dict[str, Any]] = []
        next_t = 0.0

        def take(t_s: float) -> None:
            rows.append(
                {
                    "t_days": t_s / SECONDS_PER_DAY,
                    **{s.value: state.count(s) for s in SHOWN},
                    "pflops": state.compute_online_tflops / 1000.0,
                    "generated_kw": state.power_generated_w / 1000.0,
                    "consumed_kw": state.power_consumed_w / 1000.0,
                    "in_shadow": state.in_shadow,
                    "load_shed": state.load_shed,
                    "faults": sum(state.faults.values()),
                    "repairs": state.repairs_completed,
                    "queue": len(state.repair_queue),
                    "computed_h": state.compute_accelerator_hours,
                    "goodput_h": state.projection(Workload).goodput_accelerator_s
                    / SECONDS_PER_HOUR,
                    "lost_h": state.projection(Workload).lost_accelerator_s / SECONDS_PER_HOUR,
                }
            )

        bar = progress(total=len(log), desc="replay", unit="ev")
        for event in counted(log.read(), bar):
            t_s = seconds_since(t0, parse_time(event.sim_time))
            while t_s > next_t:
                take(next_t)
                next_t += step
            state.apply(event)
        while next_t <= span + 1e-9:
            take(next_t)
            next_t += step
        bar.close()
    return {"scenario": state.scenario, "run_id": state.run_id, "epoch": first, "rows": rows}


def run(args: argparse.Namespace) -> int:
    plt = pyplot("twin plot")
    data = sample(args.log, args.samples)
    rows = data["rows"]
    t = [r["t_days"] for r in rows]
    fig, axes = plt.subplots(5, 1, figsize=(11, 15), sharex=True, constrained_layout=True)
    fig.suptitle(f"{data['scenario']} ({data['run_id']}) from {data['epoch']}")
    states = [s.value for s in SHOWN if any(r[s.value] for r in rows)]
    axes[0].stackplot(t, *[[r[s] for r in rows] for s in states], labels=states)
    axes[0].set_ylabel("satellites")
    axes[0].legend(loc="upper left", fontsize=7, ncol=4)
    axes[1].plot(t, [r["pflops"] for r in rows], color="tab:green")
    axes[1].set_ylabel("compute online, PFLOPS")
    axes[2].plot(t, [r["generated_kw"] for r in rows], label="generated kW")
    axes[2].plot(t, [r["consumed_kw"] for r in rows], label="consumed kW")
    axes[2].set_ylabel("fleet power, kW")
    twin_ax = axes[2].twinx()
    twin_ax.plot(t, [r["in_shadow"] for r in rows], color="0.5", lw=0.6, label="in shadow")
    twin_ax.plot(t, [r["load_shed"] for r in rows], color="tab:red", lw=0.8, label="load shed")
    twin_ax.set_ylabel("satellites")
    axes[2].legend(loc="upper left", fontsize=7)
    twin_ax.legend(loc="upper right", fontsize=7)
    axes[3].plot(t, [r["faults"] for r in rows], label="faults (cumulative)")
    axes[3].plot(t, [r["repairs"] for r in rows], label="repairs (cumulative)")
    axes[3].plot(t, [r["queue"] for r in rows], label="repair queue")
    axes[3].set_ylabel("count")
    axes[3].legend(loc="upper left", fontsize=7)
    axes[4].plot(t, [r["computed_h"] for r in rows], color="0.5", label="computed")
    axes[4].plot(t, [r["goodput_h"] for r in rows], color="tab:green", label="goodput")
    axes[4].plot(t, [r["lost_h"] for r in rows], color="tab:red", label="work lost")
    axes[4].set_ylabel("accelerator-hours (cumulative)")
    axes[4].set_yscale("symlog")
    axes[4].set_xlabel("simulated days")
    axes[4].legend(loc="upper left", fontsize=7)
    out = args.out or str(args.log).rsplit(".", 1)[0] + ".png"
    fig.savefig(out, dpi=110)
    print(out)
    return 0
