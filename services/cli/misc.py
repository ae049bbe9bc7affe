"""``twin schema`` (the JSON Schema of events) and ``twin scenarios`` (the preset list, or one
preset's TOML)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from twin.errors import InputError
from twin.events import json_schema


def register(subparsers: Any) -> None:
    """Add the ``schema`` and ``scenarios`` sub-commands."""
    p = subparsers.add_parser(
        "schema",
        help="print the JSON Schema of the event union",
        description="Print the JSON Schema (from the pydantic event models) of every event "
        "the twin writes: one union, told apart by its 'type', each event with its "
        "schema_version. The same schema validates a line of `twin log export` and a Kafka "
        "message value.",
    )
    p.set_defaults(func=run_schema)
    p = subparsers.add_parser(
        "scenarios",
        help="list the scenario presets",
        description="List the scenario presets shipped with the twin, each with its "
        "one-line description. A preset's name is a SCENARIO for `twin run` and `twin "
        "sweep`; so is the path of a scenario TOML file. `--show NAME` prints a preset's "
        "TOML, to copy and edit: `twin scenarios --show walker-scale > my.toml`.",
    )
    p.add_argument(
        "--show",
        metavar="NAME",
        help="print the TOML of the preset NAME instead of the list",
    )
    p.set_defaults(func=run_scenarios)


def run_schema(args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2))
    return 0


def run_scenarios(args: argparse.Namespace) -> int:
    # the scenario module is heavy; load on demand
    from twin.sim.scenario import list_presets, preset_path

    if args.show is not None:
        try:
            path = preset_path(args.show)
        except InputError as exc:
            raise InputError(exc.problem, field="--show", allowed=exc.allowed) from None
        with open(path, encoding="utf-8") as fh:
            sys.stdout.write(fh.read())
        return 0
    presets = list_presets()
    width = max((len(name) for name, _ in presets), default=0)
    for name, description in presets:
        print(f"{name:<{width}}  {description}".rstrip())
    return 0
