"""``twin state`` and ``twin replay``: the fleet rebuilt by folding an event log (embedded or
a Kafka topic) up to a sim time, as a table or JSON, and the table ``twin run`` prints."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import Any

from services.cli import options
from services.cli.common import counted, progress
from services.cli.sources import add_kafka_options, open_source
from services.eventlog import EventLog, corrupted
from twin.constants import SECONDS_PER_HOUR
from twin.errors import IllegalTransition, InputError
from twin.events import Event
from twin.projections import EventOrderError, fold
from twin.timeutil import parse_time


def register(subparsers: Any) -> None:
    """Add ``state`` and ``replay``."""
    p = subparsers.add_parser(
        "state",
        help="fleet state rebuilt by replaying an event log",
        description="Fold PATH (an embedded log) or a Kafka topic into the fleet state, up "
        "to a sim time if given, and print it as a table or JSON.",
    )
    p.add_argument("path", metavar="PATH", nargs="?", help="embedded event log")
    add_kafka_options(p, "read the log from this Kafka topic instead of PATH")
    _add_replay_options(p)

    p = subparsers.add_parser(
        "replay",
        help="fleet state rebuilt by replaying a Kafka topic",
        description="Consume the topic from the beginning of every partition, merge it back "
        "into log order and fold it into the fleet state (as `twin state` does for an "
        "embedded log).",
    )
    add_kafka_options(p, "the topic to replay")
    _add_replay_options(p)
    p.set_defaults(path=None, replay=True)


def _add_replay_options(p: argparse.ArgumentParser) -> None:
    """``--until TIME`` (alias ``--at``: how far to replay) and ``--json``."""
    p.add_argument(
        "--until",
        "--at",
        dest="until",
        type=options.until,
        default=None,
        metavar="TIME",
        help="replay events up to this sim time: a duration after the run's epoch (36h, 5y) "
        "or an ISO-8601 UTC time (default: the whole log)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run_state, replay=False)


# ---------------------------------------------------------------------- state


def resolve_until(value: Any, log: EventLog) -> str:
    """``--until``: a time as given, or a duration after the run's epoch."""
    if isinstance(value, float):
        epoch = log.info().get("epoch")
        if epoch is None:
            raise InputError(
                "a duration needs the run's epoch, but the log has no scenario_started event",
                field="--until",
                allowed="an ISO-8601 time",
            )
        return options.until_time(value, parse_time(epoch))
    return options.until_time(value, value)


def _check_until(until: str, log: EventLog) -> str | None:
    """Refuse a time before the run's epoch; a note when the log ends before it."""
    info = log.info()
    epoch, last = info.get("epoch"), info.get("last_sim_time")
    if epoch is not None and parse_time(until) < parse_time(epoch):
        raise InputError(
            f"{until} is before the run's epoch {epoch}",
            field="--until",
            allowed=f"a time at or after {epoch}, or a duration after it (36h, 30d)",
        )
    if last is not None and parse_time(until) > parse_time(last):
        return f"note: the log ends at {last}, before {until}: this is its final state"
    return None


def run_state(args: argparse.Namespace) -> int:
    until = note = None
    with open_source(args) as log:
        if args.until is None:
            events, total = log.read(), len(log)
        else:
            until = resolve_until(args.until, log)
            note = _check_until(until, log)
            events, total = log.read_until(until), None
        at = [0]
        bar = progress(total=total, desc="replay", unit="ev")

        def tracked() -> Iterator[Event]:
            for event in counted(events, bar):
                at[0] = event.offset
                yield event

        try:
            summary = fold(tracked()).summary()
        except (EventOrderError, IllegalTransition) as exc:
            raise corrupted(log.name, at[0], str(exc)) from None
        finally:
            bar.close()
    if until is not None:
        # the state is the fold of the events up to the requested time: the last of them
        # may be earlier (no event falls exactly on it), and the summary says both times
        summary["position"]["requested_until"] = until
    if note:
        print(note, file=sys.stderr)
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
    else:
        sys.stdout.write(format_state(summary))
    return 0


def _num(x: float | None, fmt: str = ",.1f") -> str:
    return "-" if x is None else format(x, fmt)


def without_run_events(summary: dict[str, Any]) -> bool:
    """Is this the fold of a shard's log other than shard 0's (``twin run --shard K/N``, K >
    0)? Its events name the run, but only shard 0 writes ``scenario_started`` (the scenario,
    seed, accelerator speed, robots and spares) and the launch plan."""
    run = summary.get("run", {})
    return bool(run.get("run_id")) and run.get("scenario") is None


def format_state(summary: dict[str, Any], shard: str | None = None) -> str:
    """A human table of a :meth:`twin.projections.FleetState.summary` (also used by ``twin run``,
    which gives ``shard`` "K/N" for a ``--shard`` run).

    The fold of a shard without the run-level events (:func:`without_run_events`) does not
    know the scenario, seed, FLOPS per accelerator, spares or flights: it says so and where
    they are (shard 0's log) instead of printing None and zeros as if they were facts."""
    run = summary.get("run", {})
    pos = summary["position"]
    fleet = summary["fleet"]
    counters = summary["counters"]
    repair = summary["repair"]
    integrals = summary["integrals"]
    partial = without_run_events(summary)
    lines = []
    if partial:
        which = f"shard {shard}" if shard else "a shard's log"
        lines += [
            f"run        {run['run_id']}  {which}: its own satellites only",
            "           (the run's scenario, seed, FLOPS, spares and flights are in shard 0's log)",
        ]
    elif run.get("run_id"):
        lines.append(
            f"run        {run['run_id']}  scenario {run.get('scenario')}  seed {run.get('seed')}"
            + (
                f"  shard {shard} (its own satellites; the run-level events, such as the "
                "planned fleet, are the whole run's)"
                if shard
                else ""
            )
        )
    lines.append(
        f"sim time   {pos['sim_time']}  ({pos['events_applied']:,} events, "
        f"last offset {pos['last_offset']})"
    )
    if pos.get("requested_until"):
        lines.append(
            f"as of      {pos['requested_until']}  (the state after the last event at or "
            "before it; totals run to that event)"
        )
    lines.append("satellites by state:")
    lines += [
        f"  {state:<18}{n:>10,}" for state, n in summary["satellites"]["by_state"].items() if n
    ]
    pflops = f"  ({fleet['compute_online_tflops'] / 1000:,.1f} PFLOPS)"
    pflop_days = f"  ({integrals['compute_pflop_days']:,.3f} PFLOP-days)"
    spares = f"spares left {repair['spares_left']:,}"
    if partial:  # FLOPS per accelerator and the initial stock come with scenario_started
        pflops = pflop_days = ""
        spares = "spares: see shard 0's log"
    lines += [
        f"compute online     {fleet['compute_online_accelerators']:,} accelerators{pflops}",
        f"power              {fleet['power_generated_w'] / 1000:,.1f} kW generated,"
        f" {fleet['power_consumed_w'] / 1000:,.1f} kW consumed",
        f"in eclipse         {fleet['in_shadow']:,} satellites  (load shed {fleet['load_shed']:,})",
        f"compute delivered  {integrals['compute_accelerator_hours']:,.1f} accelerator-hours"
        f"{pflop_days}",
        f"energy             {integrals['energy_generated_kwh']:,.1f} kWh generated,"
        f" {integrals['energy_consumed_kwh']:,.1f} kWh consumed",
        f"eclipse time       {integrals['eclipse_satellite_s'] / SECONDS_PER_HOUR:,.1f} satellite-hours"
        f"  (load shed {integrals['load_shed_satellite_s'] / SECONDS_PER_HOUR:,.1f})",
        f"launches           {counters['launches']:,}  (failed {counters['launch_failures']:,})"
        f"  deorbits {counters['deorbits']:,}",
        f"faults             {counters['faults_total']:,}  reboots {counters['reboots']:,}"
        f"  repairs {counters['repairs_completed']:,}",
        f"repair queue       {repair['queue_length']:,} waiting, "
        f"{len(repair['robots_busy']):,} robots busy, {spares}",
        "MTTR               "
        + ("—" if repair["mttr_s"] is None else f"{_num(repair['mttr_s'] / SECONDS_PER_HOUR)} h"),
    ]
    launch = summary.get("launch")
    if launch and launch.get("plan"):
        lines += [
            f"flights            {launch['flights']:,} of {launch['flights_planned']:,} planned"
            f"  (failed {launch['flights_failed']:,}), {launch['tonnes_to_orbit']:,.1f} t to orbit,"
            f" {launch['tonnes_lost']:,.1f} t lost",
            f"launch campaign    {_num(launch['tonnes_per_flight'], ',.2f')} t per flight,"
            f" {_num(launch['tonnes_per_year'], ',.0f')} t/yr at the cadence,"
            f" fleet in service after {launch['fleet_ready_days']:,.1f} d",
        ]
    lines += _format_workload(summary.get("workload"), summary.get("contacts"))
    return "\n".join(lines) + "\n"


def _format_workload(work: dict[str, Any] | None, contacts: dict[str, Any] | None) -> list[str]:
    """The compute service's lines: goodput against what was available, lost work by cause,
    jobs, inference and contact time (nothing when the run has no workload events)."""
    lines: list[str] = []
    if work and (work["jobs"]["submitted"] or work["inference_requests"]):
        ratio = work["goodput_ratio"]
        lost = ", ".join(
            f"{cause} {hours:,.1f}"
            for cause, hours in work["lost_accelerator_hours_by_cause"].items()
        )
        jobs = work["jobs"]
        lines += [
            f"goodput            {work['goodput_accelerator_hours']:,.1f} accelerator-hours"
            f" of {work['available_accelerator_hours']:,.1f} computed"
            f" ({_num(None if ratio is None else 100 * ratio, '.1f')} %):"
            f" training {work['training_goodput_accelerator_hours']:,.1f},"
            f" inference {work['inference_accelerator_hours']:,.1f}",
            f"lost work          {work['lost_accelerator_hours']:,.1f} accelerator-hours"
            + (f"  ({lost})" if lost else ""),
            f"jobs               {jobs['submitted']:,} submitted, {jobs['completed']:,} completed,"
            f" {jobs['running']:,} running, {jobs['queued']:,} queued"
            f"  (interrupted {sum(work['interruptions_by_cause'].values()):,})",
        ]
        if work["inference_requests"]:
            served = work["inference_served"]
            share = served / work["inference_requests"]
            lines.append(
                f"inference          {served:,.0f} requests served, "
                f"{work['inference_unserved']:,.0f} unserved ({100 * share:.1f} % served)"
            )
    if contacts and contacts["seconds_by_station"]:
        per = ", ".join(
            f"{st} {s / SECONDS_PER_HOUR:,.1f}" for st, s in contacts["seconds_by_station"].items()
        )
        lines.append(f"contact hours      {per}")
    return lines
