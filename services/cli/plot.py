"""`twin plot LOG --out run.png`: a run at a glance, replayed from its event log.

Seven panels over the run's dates (UTC): satellites by lifecycle state (stacked, each state
in its colour by meaning), compute online (PFLOPS), fleet power generated and consumed,
satellites in shadow and load-shed, faults and repairs (cumulative), the repair queue, and
the workload: goodput against accelerator-hours computed, and work lost. Amounts start at
zero, legends sit beside the panels, the caption names the scenario and the sources of the
physics. PNG at 200 dpi, or vector PDF/SVG when ``--out`` ends so. The fold is sampled at
evenly spaced sim times. Needs matplotlib (``pip install -e '.[plots]'``).
"""

from __future__ import annotations

import argparse
from typing import Any

from services import figures
from services.cli import options
from services.cli.common import add_documented_parser, counted, progress
from twin.constants import SECONDS_PER_DAY, SECONDS_PER_HOUR
from twin.errors import InputError
from twin.lifecycle import State
from twin.projections import FleetState
from twin.projections.workload import Workload
from twin.timeutil import format_time, parse_time, seconds_since

_IN_SERVICE = (State.OPERATIONAL, State.IN_ECLIPSE, State.LOAD_SHED, State.FAULTED)
SHOWN = (*_IN_SERVICE, *(s for s in State if s not in _IN_SERVICE))
"""Stacking order: in service at the bottom, then the other states."""


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = add_documented_parser(
        sub, "plot", __doc__, help="plot a run's fleet over time (PNG, PDF or SVG)"
    )
    p.add_argument("log", metavar="LOG", help="embedded event log (twin run --log)")
    p.add_argument(
        "--out", default=None, help="figure to write, .png/.pdf/.svg (default: LOG with .png)"
    )
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
        t0_ms = round(t0.timestamp() * 1000)
        last: list[Any] = []  # (ms, integrals) at the previous sample

        def rates(t_s: float) -> tuple[float, float, float, float, float]:
            """Means over the interval since the previous sample, from the fold's exact
            integrals (what the fleet did between samples, not the instant at each: a year
            sampled 400 times would otherwise alias the orbit-scale eclipses), in
            accelerators, mW, mW, satellites, satellites."""
            at_ms = max(t0_ms + round(t_s * 1000), state.sim_time_ms or 0)
            now = state.core.integrals_ms(at_ms)
            if last and at_ms > last[0]:
                dt = at_ms - last[0]
                out = tuple((a - b) / dt for a, b in zip(now, last[1], strict=True))
            else:  # the first sample: the instant
                out = (
                    state.compute_online,
                    state.power_generated_w * 1000.0,
                    state.power_consumed_w * 1000.0,
                    state.in_shadow,
                    state.load_shed,
                )
            last[:] = [at_ms, now]
            return out  # type: ignore[return-value]

        def take(t_s: float) -> None:
            accelerators, generated_mw, consumed_mw, in_shadow, load_shed = rates(t_s)
            rows.append(
                {
                    "t_s": t_s,
                    "t_days": t_s / SECONDS_PER_DAY,
                    **{s.value: state.count(s) for s in SHOWN},
                    "pflops": accelerators * (state.tflops_per_accelerator or 0.0) / 1000.0,
                    "generated_kw": generated_mw / 1e6,
                    "consumed_kw": consumed_mw / 1e6,
                    "in_shadow": in_shadow,
                    "load_shed": load_shed,
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
    return {
        "scenario": state.scenario,
        "run_id": state.run_id,
        "seed": state.seed,
        "epoch": first,
        "rows": rows,
    }


def run(args: argparse.Namespace) -> int:
    out = figures.check_out(args.out or str(args.log).rsplit(".", 1)[0] + ".png")
    figures.pyplot("twin plot")
    fig = build_figure(sample(args.log, args.samples))
    print(figures.save(fig, out))
    return 0


def build_figure(data: dict[str, Any]) -> Any:
    """The run's figure (a matplotlib ``Figure``) from :func:`sample`'s ``data``."""
    plt = figures.pyplot("twin plot")
    rows = data["rows"]
    epoch = parse_time(data["epoch"])
    t = figures.dates(epoch, [r["t_s"] for r in rows])

    def col(key: str) -> list[float]:
        return [r[key] for r in rows]

    fig, axes = plt.subplots(7, 1, figsize=(11, 19), sharex=True, layout="constrained")
    start, end = format_time(t[0])[:10], format_time(t[-1])[:10]
    fig.suptitle(f"Scenario {data['scenario']}: the fleet from {start} to {end} (UTC)")
    ax = axes[0]
    states = [s for s in SHOWN if any(r[s.value] for r in rows)]
    ax.stackplot(
        t,
        *[col(s.value) for s in states],
        labels=[s.value.replace("_", " ") for s in states],
        colors=[figures.STATE_COLOURS[s] for s in states],
    )
    ax.set_ylabel("satellites")
    ax.set_title("satellites by lifecycle state", fontsize=9, loc="left")
    figures.legend_outside(ax, reverse=True)  # top of the stack first

    ax = axes[1]
    ax.plot(t, col("pflops"), color=figures.STATE_COLOURS[State.OPERATIONAL], label="online")
    ax.set_ylabel("PFLOPS")
    ax.set_title("compute online (mean over each sample interval)", fontsize=9, loc="left")
    figures.legend_outside(ax)

    ax = axes[2]
    ax.plot(t, col("generated_kw"), color="#e0b400", label="generated")
    ax.plot(t, col("consumed_kw"), color="#5f5f5f", label="consumed")
    ax.set_ylabel("kW")
    ax.set_title("fleet power (mean over each sample interval)", fontsize=9, loc="left")
    figures.legend_outside(ax)

    ax = axes[3]
    ax.plot(t, col("in_shadow"), color=figures.STATE_COLOURS[State.IN_ECLIPSE], label="in shadow")
    ax.plot(t, col("load_shed"), color=figures.STATE_COLOURS[State.LOAD_SHED], label="load shed")
    ax.set_ylabel("satellites")
    ax.set_title(
        "satellites in Earth's shadow and shedding load (mean over each sample interval)",
        fontsize=9,
        loc="left",
    )
    figures.legend_outside(ax)

    ax = axes[4]
    ax.plot(t, col("faults"), color=figures.STATE_COLOURS[State.FAULTED], label="faults")
    ax.plot(t, col("repairs"), color=figures.STATE_COLOURS[State.OPERATIONAL], label="repairs")
    ax.set_ylabel("count (cumulative)")
    ax.set_title("faults and completed repairs", fontsize=9, loc="left")
    figures.legend_outside(ax)

    ax = axes[5]
    ax.step(
        t,
        col("queue"),
        where="post",
        color=figures.STATE_COLOURS[State.AWAITING_REPAIR],
        label="awaiting a robot",
    )
    ax.set_ylabel("satellites")
    ax.set_title("repair queue", fontsize=9, loc="left")
    figures.legend_outside(ax)

    ax = axes[6]
    ax.plot(t, col("computed_h"), color="0.5", label="computed")
    ax.plot(t, col("goodput_h"), color=figures.STATE_COLOURS[State.OPERATIONAL], label="goodput")
    ax.plot(t, col("lost_h"), color=figures.STATE_COLOURS[State.FAULTED], label="work lost")
    ax.set_ylabel("accelerator-hours (cumulative)")
    ax.set_yscale("symlog")
    ax.set_title("workload", fontsize=9, loc="left")
    figures.legend_outside(ax)

    figures.from_zero(*axes)
    for ax in axes:
        ax.grid(alpha=0.3)
    figures.date_axis(axes[-1])
    axes[0].set_xlim(t[0], t[-1])
    figures.caption(
        fig,
        f"Orbital Twin simulation, run {data['run_id']}, seed {data['seed']}; scenario figures "
        f"and their public sources: docs/sources.md. {figures.SIM_SOURCES}",
    )
    return fig
