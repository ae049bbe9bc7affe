"""`twin report`: one self-contained HTML report of a run, with a JSON sidecar.

    twin report run.twinlog --out report.html
    twin report run.twinlog --vs other.twinlog --out report.html
    twin report run.twinlog --sweep sweeps/robots --costs costs.toml --out report.html

The report answers the seed document's questions (energy, cooling, space, maintenance,
launch) with the run's numbers, shows compute delivered and where the rest went, compares
with a second run (``--vs``) or a sweep directory (``--sweep``, from ``twin sweep``), and
prices an accelerator-hour in orbit and on the ground: per delivered hour and, when the run
has a workload, per useful (goodput) hour. Cost assumptions have defaults with sources;
``--costs FILE`` (TOML, ``KEY = NUMBER``) replaces any of them. The HTML has no scripts and
fetches nothing; a JSON sidecar named after ``--out`` with its extension replaced by
``.json`` (``report.html`` → ``report.json``) holds the same numbers.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from services.cli.common import add_documented_parser
from services.eventlog import SqliteEventLog, corrupted
from twin.errors import IllegalTransition, InputError
from twin.planning.cost import parse_assumptions
from twin.projections import EventOrderError, fold


def register(sub: Any) -> None:
    p = add_documented_parser(sub, "report", __doc__, help="an HTML report of a run for planners")
    p.add_argument("run", metavar="RUN", help="embedded event log of the run")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--vs", default=None, metavar="OTHER", help="a second run's log")
    group.add_argument("--sweep", default=None, metavar="DIR", help="a `twin sweep` directory")
    p.add_argument("--costs", default=None, metavar="FILE", help="cost assumptions (TOML)")
    p.add_argument(
        "--out",
        required=True,
        metavar="HTML",
        help="the report to write; its JSON sidecar is this path with the extension .json",
    )
    p.set_defaults(func=run)


def state_of(path: str) -> dict[str, Any]:
    """``twin state --json`` of an embedded log (the same fold)."""
    with SqliteEventLog(path) as log:
        at = [0]

        def tracked() -> Any:
            for event in log.read():
                at[0] = event.offset
                yield event

        try:
            return fold(tracked()).summary()
        except (EventOrderError, IllegalTransition) as exc:
            raise corrupted(log.name, at[0], str(exc)) from None


def _sweep(directory: str) -> dict[str, Any]:
    path = Path(directory) / "sweep.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            "no sweep.json here", file=directory, field="--sweep",
            allowed="a directory written by twin sweep --out",
        ) from None  # fmt: skip
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the sweep: {exc}", file=str(path), field="--sweep") from None
    if not isinstance(doc, dict) or not {"grid", "points", "seeds"} <= doc.keys():
        raise InputError("not a twin sweep result", file=str(path), field="--sweep")
    return doc


def run(args: argparse.Namespace) -> int:
    from services.report import build_report, write_report

    out = Path(args.out)
    if out.is_dir() or not (out.parent if str(out.parent) else Path(".")).is_dir():
        raise InputError(
            "cannot write here", file=args.out, field="--out",
            allowed="a file path in an existing directory",
        )  # fmt: skip
    text = None
    if args.costs is not None:
        try:
            text = Path(args.costs).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read: {exc}", file=args.costs, field="--costs") from None
    assumptions = parse_assumptions(text, args.costs or "defaults")
    sweep = (args.sweep, _sweep(args.sweep)) if args.sweep else None
    vs = (args.vs, state_of(args.vs)) if args.vs else None
    doc = build_report(
        state_of(args.run), run_name=args.run, assumptions=assumptions, vs=vs, sweep=sweep
    )
    png = Path(args.sweep) / "sweep.png" if args.sweep else None
    sidecar = write_report(doc, out, png)
    print(f"report {out}\nsidecar {sidecar}")
    return 0
