"""A corpus of bad inputs: every one gets a clear error, exit code 2 and leaves files alone.

Each case runs the real command line (``services.cli.main`` in-process, or a subprocess with a
generous timeout where a bad value once made the run hang) and asserts:

- exit code 2, and no ``Traceback`` on stderr;
- the message says *where*: the file (and line), the field or the option;
- nothing is written and nothing existing changes: every file under the case's directory is
  byte-identical afterwards and no new file (not even a hidden temporary one) appears.

Areas: scenario TOML, command-line options, TLE/OMM files, event logs, JSON-lines imports.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eventlog_contract import sample_run
from factories import EventFactory
from logfiles import damage_page, replace_record

from services.cli import main
from services.eventlog import SqliteEventLog
from twin.events import encode

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
VALID_TOML = (DATA / "scenarios" / "valid.toml").read_text(encoding="utf-8")
SUBPROCESS_TIMEOUT_S = 120.0

# ---------------------------------------------------------------------- case building


@dataclass(frozen=True)
class Case:
    """``build(tmp)`` prepares files in ``tmp`` and returns ``(argv, where)``: the command
    line and the substrings the error message must contain to say where the problem is."""

    id: str
    build: Callable[[Path], tuple[list[str], list[str]]]
    subprocess: bool = False


CASES: list[Case] = []


def case(id: str, *, subprocess: bool = False) -> Callable[[Callable[..., Any]], Any]:
    def deco(build: Callable[[Path], tuple[list[str], list[str]]]) -> Any:
        CASES.append(Case(id, build, subprocess))
        return build

    return deco


def scenario_with(tmp: Path, replace: dict[str, str] | None = None, extra: str = "") -> Path:
    """``valid.toml`` with ``key = value`` lines replaced (first occurrence) and text added."""
    text = VALID_TOML
    for key, value in (replace or {}).items():
        text, n = re.subn(rf"(?m)^{re.escape(key)} = .*$", f"{key} = {value}", text, count=1)
        if n == 0:
            raise AssertionError(f"valid.toml has no key {key}")
    path = tmp / "bad.toml"
    path.write_text(text + "\n" + extra, encoding="utf-8")
    return path


def run_argv(tmp: Path, scenario: Path | str, *more: str) -> list[str]:
    return ["run", str(scenario), "--log", str(tmp / "out.twinlog"), "--quiet", *more]


def toml_case(
    id: str, key: str, value: str, *, subprocess: bool = False, where: str | None = None
) -> None:
    def build(tmp: Path) -> tuple[list[str], list[str]]:
        path = scenario_with(tmp, {key: value})
        return run_argv(tmp, path), ["bad.toml:", where or key]

    CASES.append(Case(f"toml-{id}", build, subprocess))


def toml_extra_case(id: str, extra: str, where: str, *, subprocess: bool = False) -> None:
    def build(tmp: Path) -> tuple[list[str], list[str]]:
        path = scenario_with(tmp, extra=extra)
        return run_argv(tmp, path), ["bad.toml:", where]

    CASES.append(Case(f"toml-{id}", build, subprocess))


def write_log(path: Path, events: list[Any] | None = None) -> Path:
    with SqliteEventLog(path, mode="w") as log:
        log.append(sample_run(n_sats=3) if events is None else events)
        log.finalize()
    return path


def jsonl_lines(events: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(encode(e)) for e in events]


def write_jsonl(path: Path, records: list[dict[str, Any] | str]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, separators=(",", ":")) for r in records]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


# ---------------------------------------------------------------------- scenario TOML

# inf / nan in any number: TOML has `inf`, `-inf` and `nan` literals.
for _key in (
    "accelerator_tflops",
    "accelerator_w",
    "array_area_m2",
    "array_efficiency",
    "battery_wh",
    "max_depth_of_discharge",
    "bus_idle_w",
    "radiator_area_m2",
    "radiator_emissivity",
    "radiator_absorptivity",
    "radiator_temperature_k",
    "altitude_km",
    "inclination_deg",
    "ltan_hours",
):
    toml_case(f"{_key}-inf", _key, "inf")
    toml_case(f"{_key}-nan", _key, "nan")
toml_case("battery_wh-minus-inf", "battery_wh", "-inf")
toml_case("accelerator_tflops-1e400", "accelerator_tflops", "1e400")  # TOML float → inf
toml_case("planes-1e20", "planes", "1e20")
toml_case("planes-zero", "planes", "0")
toml_case("planes-negative", "planes", "-3")
toml_case("planes-huge-int", "planes", "100000000000000")
toml_case("sats_per_plane-zero", "sats_per_plane", "0")
toml_case("sats_per_plane-ten-million", "sats_per_plane", "5000000", subprocess=True)
toml_case("accelerators-negative", "accelerators", "-1")
toml_case("accelerators-absurd", "accelerators", "1000000000000")
toml_case("accelerator_w-absurd", "accelerator_w", "1e30")
toml_case("battery_wh-absurd", "battery_wh", "1e300")
toml_case("epoch-year-9999", "epoch", '"9999-12-31T00:00:00Z"')
toml_case("epoch-year-1", "epoch", '"0001-01-01T00:00:00Z"')
toml_case("epoch-not-a-time", "epoch", '"yesterday"')
toml_case("duration-inf", "duration", '"inf"')
toml_case("duration-nan", "duration", '"nan"')
toml_case("duration-1e400", "duration", '"1e400s"')
toml_case("duration-negative", "duration", '"-1d"')
toml_case("duration-zero", "duration", '"0s"')
toml_case("duration-bare-number", "duration", "86400")
toml_case("duration-too-long", "duration", '"5000y"')
toml_case("cadence-inf", "cadence", '"inf"')
toml_case("sats_per_launch-zero", "sats_per_launch", "0")
toml_case("sats_per_launch-float", "sats_per_launch", "5.5")
toml_extra_case(
    "rate_per_sat_day-inf",
    "[reliability.upsets]\nrate_per_sat_day = inf\n",
    "rate_per_sat_day",
    subprocess=True,
)
toml_extra_case(
    "rate_per_sat_day-nan", "[reliability.upsets]\nrate_per_sat_day = nan\n", "rate_per_sat_day"
)
toml_extra_case(
    "rate_per_sat_day-absurd",
    "[reliability.upsets]\nrate_per_sat_day = 1e12\n",
    "rate_per_sat_day",
    subprocess=True,
)
toml_extra_case(
    "saa_multiplier-inf",
    "[reliability.upsets]\nrate_per_sat_day = 0.1\nsaa_multiplier = inf\n",
    "saa_multiplier",
)
toml_extra_case(
    "saa_multiplier-nan",
    "[reliability.upsets]\nrate_per_sat_day = 0.1\nsaa_multiplier = nan\n",
    "saa_multiplier",
)
toml_extra_case(
    "saa_multiplier-1e300",
    "[reliability.upsets]\nrate_per_sat_day = 0.1\nsaa_multiplier = 1e300\n",
    "saa_multiplier",
)
toml_extra_case(
    "weibull_shape-inf",
    '[[reliability.components]]\nname = "psu"\nweibull_shape = inf\nweibull_scale_years = 5.0\n',
    "weibull_shape",
)
toml_extra_case(
    "weibull_scale-nan",
    '[[reliability.components]]\nname = "psu"\nweibull_shape = 1.0\nweibull_scale_years = nan\n',
    "weibull_scale_years",
)
toml_extra_case(
    "ground-station-lat-nan",
    '[[ground_stations]]\nname = "gs"\nlat_deg = nan\nlon_deg = 0.0\n',
    "lat_deg",
)
_REPAIR = (
    '[repair]\nrobots = {robots}\naltitude_offset_km = {offset}\nduration = "6h"\n'
    "spares_initial = {spares}\n"
)
toml_extra_case(
    "repair-offset-inf", _REPAIR.format(robots=1, offset="inf", spares=1), "altitude_offset_km"
)
toml_extra_case(
    "repair-robots-absurd",
    _REPAIR.format(robots=10**12, offset=1.0, spares=1),
    "robots",
)
toml_extra_case(
    "repair-spares-negative", _REPAIR.format(robots=1, offset=1.0, spares=-1), "spares_initial"
)
toml_extra_case(
    "repair-spares-absurd",
    _REPAIR.format(robots=1, offset=1.0, spares=10**15),
    "spares_initial",
)
toml_case("seed-negative", "duration", '"1d"\nseed = -1', where="seed")
toml_extra_case(
    "repair-spares-per-unknown",
    _REPAIR.format(robots=1, offset=1.0, spares=1) + 'spares_per = "plane"\n',
    "repair.spares_per",
)
toml_extra_case(
    "repair-spares-per-misspelt-key",
    _REPAIR.format(robots=1, offset=1.0, spares=1) + 'spare_per = "pool"\n',
    "did you mean 'spares_per'",
)


@case("shards-robots-with-fleet-wide-spares")
def _(tmp: Path) -> tuple[list[str], list[str]]:
    path = scenario_with(tmp, extra=_REPAIR.format(robots=1, offset=1.0, spares=1))
    return run_argv(tmp, path, "--shards", "2"), ["--shards", 'spares_per = "pool"']


@case("toml-syntax-error")
def _(tmp: Path) -> tuple[list[str], list[str]]:
    path = tmp / "bad.toml"
    path.write_text(VALID_TOML.replace("planes = 2", "planes = = 2"), encoding="utf-8")
    return run_argv(tmp, path), ["bad.toml:"]


@case("toml-not-utf8")
def _(tmp: Path) -> tuple[list[str], list[str]]:
    path = tmp / "bad.toml"
    path.write_bytes(b"\xff\xfe" + VALID_TOML.encode())
    return run_argv(tmp, path), ["bad.toml"]


@case("toml-is-a-directory")
def _(tmp: Path) -> tuple[list[str], list[str]]:
    (tmp / "dir.toml").mkdir()
    return run_argv(tmp, tmp / "dir.toml"), ["dir.toml"]


@case("toml-missing-file")
def _(tmp: Path) -> tuple[list[str], list[str]]:
    return run_argv(tmp, tmp / "missing.toml"), ["missing.toml"]


@case("toml-unknown-preset")
def _(tmp: Path) -> tuple[list[str], list[str]]:
    return run_argv(tmp, "no-such-preset"), ["scenario", "demo"]


# ---------------------------------------------------------------------- TLE / OMM files

TLE = (DATA / "sample.tle").read_text(encoding="utf-8").splitlines()


def tle_case(id: str, text: str, where: list[str] | None = None) -> None:
    """The file as a scenario's constellation file (``twin run``) and as ``twin eclipses``."""

    def via_run(tmp: Path) -> tuple[list[str], list[str]]:
        (tmp / "sats.tle").write_text(text, encoding="utf-8")
        path = scenario_with(tmp)
        toml = path.read_text(encoding="utf-8").replace(
            "[[constellation.shells]]",
            '[constellation]\nfile = "sats.tle"\n\n[[constellation.shells]]',
            1,
        )
        path.write_text(toml, encoding="utf-8")
        return run_argv(tmp, path), where or ["sats.tle:"]

    def via_eclipses(tmp: Path) -> tuple[list[str], list[str]]:
        (tmp / "sats.tle").write_text(text, encoding="utf-8")
        argv = ["eclipses", str(tmp / "sats.tle"), "--start", "2026-11-23T00:00:00Z"]
        return [*argv, "--duration", "90m"], where or ["sats.tle:"]

    CASES.append(Case(f"tle-run-{id}", via_run))
    CASES.append(Case(f"tle-eclipses-{id}", via_eclipses))


def _bad_checksum(line: str) -> str:
    digit = int(line[68])
    return line[:68] + str((digit + 1) % 10)


tle_case("bad-checksum-line1", "\n".join([_bad_checksum(TLE[0]), TLE[1]]) + "\n")
tle_case("bad-checksum-line2", "\n".join([TLE[0], _bad_checksum(TLE[1])]) + "\n")
tle_case("short-line", "\n".join([TLE[0][:40], TLE[1]]) + "\n")
tle_case("line2-missing", TLE[0] + "\n")
tle_case("non-numeric-inclination", "\n".join([TLE[0], TLE[1][:8] + "abc.defg" + TLE[1][16:]]))
tle_case("duplicated-satellite", "\n".join([*TLE[:2], *TLE[:2]]) + "\n")
tle_case("catalog-numbers-differ", "\n".join([TLE[0], TLE[3]]) + "\n")
tle_case("empty-file", "")
tle_case("only-a-name", "ISS (ZARYA)\n")


def omm_record(**changes: Any) -> dict[str, Any]:
    record = json.loads((DATA / "sample_omm.json").read_text(encoding="utf-8"))[0]
    for key, value in changes.items():
        if value is None:
            record.pop(key)
        else:
            record[key] = value
    return record


def omm_json_case(id: str, records: Any, field: str) -> None:
    def build(tmp: Path) -> tuple[list[str], list[str]]:
        path = tmp / "sats.json"
        text = records if isinstance(records, str) else json.dumps(records)
        path.write_text(text, encoding="utf-8")
        argv = ["eclipses", str(path), "--start", "2026-11-23T00:00:00Z", "--duration", "90m"]
        return argv, ["sats.json", field]

    CASES.append(Case(f"omm-json-{id}", build))


omm_json_case("missing-mean-motion", [omm_record(MEAN_MOTION=None)], "MEAN_MOTION")
omm_json_case("nan-inclination", '[{"INCLINATION": NaN}]', "sats.json")
omm_json_case(
    "nan-eccentricity",
    json.dumps([omm_record()]).replace('"ECCENTRICITY": 0.0006451', '"ECCENTRICITY": NaN'),
    "ECCENTRICITY",
)
omm_json_case(
    "infinity-bstar",
    json.dumps([omm_record()]).replace('"BSTAR": 0.00029948', '"BSTAR": Infinity'),
    "BSTAR",
)
omm_json_case("string-mean-motion", [omm_record(MEAN_MOTION="fast")], "MEAN_MOTION")
omm_json_case("epoch-garbage", [omm_record(EPOCH="someday")], "EPOCH")
omm_json_case("not-json", "[{", "sats.json")
omm_json_case("empty-list", "[]", "sats.json")
omm_json_case("duplicated-satellite", [omm_record(), omm_record()], "NORAD_CAT_ID")


def omm_csv_case(id: str, edit: Callable[[list[str]], list[str]], field: str) -> None:
    def build(tmp: Path) -> tuple[list[str], list[str]]:
        lines = (DATA / "sample_omm.csv").read_text(encoding="utf-8").splitlines()
        path = tmp / "sats.csv"
        path.write_text("\n".join(edit(lines)) + "\n", encoding="utf-8")
        argv = ["eclipses", str(path), "--start", "2026-11-23T00:00:00Z", "--duration", "90m"]
        return argv, ["sats.csv", field]

    CASES.append(Case(f"omm-csv-{id}", build))


def _csv_set(column: str, value: str) -> Callable[[list[str]], list[str]]:
    def edit(lines: list[str]) -> list[str]:
        header = lines[0].split(",")
        row = lines[1].split(",")
        row[header.index(column)] = value
        return [lines[0], ",".join(row)]

    return edit


omm_csv_case("nan-mean-motion", _csv_set("MEAN_MOTION", "nan"), "MEAN_MOTION")
omm_csv_case("inf-inclination", _csv_set("INCLINATION", "inf"), "INCLINATION")
omm_csv_case("empty-bstar", _csv_set("BSTAR", ""), "BSTAR")
omm_csv_case("huge-catalog-number", _csv_set("NORAD_CAT_ID", "1e400"), "NORAD_CAT_ID")
omm_csv_case("header-only", lambda lines: lines[:1], "sats.csv")
omm_csv_case(
    "missing-column",
    lambda lines: [",".join(c for c in lines[0].split(",") if c != "EPOCH"), lines[1]],
    "sats.csv",
)


def omm_text_case(id: str, ext: str, edit: Callable[[str], str], where: list[str]) -> None:
    """CCSDS OMM XML or KVN (``tests/data/sample_omm.xml``/``.kvn``) changed by ``edit``."""

    def build(tmp: Path) -> tuple[list[str], list[str]]:
        path = tmp / f"sats.{ext}"
        path.write_text(edit((DATA / f"sample_omm.{ext}").read_text(encoding="utf-8")))
        argv = ["eclipses", str(path), "--start", "2026-11-23T00:00:00Z", "--duration", "90m"]
        return argv, [f"sats.{ext}", *where]

    CASES.append(Case(f"omm-{ext}-{id}", build))


omm_text_case(
    "inclination-out-of-range",
    "kvn",
    lambda t: t.replace("INCLINATION = 51.6391", "INCLINATION = 251.6391"),
    ["sats.kvn:16", "INCLINATION", "0 to 180"],
)
omm_text_case(
    "gcrf-frame", "kvn", lambda t: t.replace("TEME", "GCRF", 1), ["sats.kvn:9", "REF_FRAME"]
)
omm_text_case("no-version-line", "kvn", lambda t: t.split("\n", 1)[1], ["CCSDS_OMM_VERS"])
omm_text_case(
    "missing-bstar",
    "xml",
    lambda t: t.replace("<BSTAR>0.00029948</BSTAR>", ""),
    ["sats.xml:3", "omm[0].BSTAR", "missing"],
)
omm_text_case("unclosed", "xml", lambda t: t.replace("</ndm>", ""), ["not well-formed"])


# ---------------------------------------------------------------------- CLI options


def cli_run_case(id: str, *options: str, where: str) -> None:
    def build(tmp: Path) -> tuple[list[str], list[str]]:
        return run_argv(tmp, scenario_with(tmp), *options), [where]

    CASES.append(Case(f"cli-run-{id}", build))


cli_run_case("seed-negative", "--seed", "-1", where="--seed")
cli_run_case("seed-huge", "--seed", str(2**200), where="--seed")
cli_run_case("seed-text", "--seed", "abc", where="--seed")
cli_run_case("seed-float", "--seed", "1.5", where="--seed")
for _value in ("nan", "inf", "-inf", "1e400", "-1d", "0s", "abc", "", "99999999d", "5000y"):
    cli_run_case(f"until-{_value or 'empty'}", "--until", _value, where="--until")
for _value in ("0", "-1", "nan", "inf", "abc"):
    cli_run_case(f"speed-{_value}", "--live", "--speed", _value, where="--speed")
cli_run_case("speed-nan-without-live", "--speed", "nan", where="--speed")
for _value in ("99999", "-1", "65536", "abc", "1.5"):
    cli_run_case(f"metrics-port-{_value}", "--metrics-port", _value, where="--metrics-port")


@case("cli-run-log-is-a-directory")
def _(tmp: Path) -> tuple[list[str], list[str]]:
    (tmp / "logdir").mkdir()
    argv = ["run", str(scenario_with(tmp)), "--log", str(tmp / "logdir"), "--quiet"]
    return argv, ["--log", "logdir"]


@case("cli-run-log-in-missing-directory")
def _(tmp: Path) -> tuple[list[str], list[str]]:
    argv = ["run", str(scenario_with(tmp)), "--log", str(tmp / "nope" / "x.twinlog"), "--quiet"]
    return argv, ["nope"]


def cli_state_case(id: str, at: str) -> None:
    def build(tmp: Path) -> tuple[list[str], list[str]]:
        log = write_log(tmp / "run.twinlog")
        return ["state", str(log), "--until", at], ["--until"]

    CASES.append(Case(f"cli-state-at-{id or 'empty'}", build))


for _value in ("nan", "inf", "99999999d", "1e400", "abc", "-5h", "", "9999-99-99T00:00:00Z"):
    cli_state_case(_value, _value)


@case("cli-eclipses-duration-inf")
def _(tmp: Path) -> tuple[list[str], list[str]]:
    argv = ["eclipses", str(DATA / "sample.tle"), "--start", "2026-11-23T00:00:00Z"]
    return [*argv, "--duration", "inf"], ["--duration"]


@case("cli-eclipses-start-garbage")
def _(tmp: Path) -> tuple[list[str], list[str]]:
    argv = ["eclipses", str(DATA / "sample.tle"), "--start", "soon"]
    return [*argv, "--duration", "90m"], ["--start"]


@case("cli-eclipses-step-nan")
def _(tmp: Path) -> tuple[list[str], list[str]]:
    argv = ["eclipses", str(DATA / "sample.tle"), "--start", "2026-11-23T00:00:00Z"]
    return [*argv, "--duration", "90m", "--step", "nan"], ["--step"]


@case("cli-season-days-negative")
def _(tmp: Path) -> tuple[list[str], list[str]]:
    return ["season", str(DATA / "sample.tle"), "--days", "-5"], ["--days"]


@case("cli-season-days-absurd")
def _(tmp: Path) -> tuple[list[str], list[str]]:
    return ["season", str(DATA / "sample.tle"), "--days", "100000000"], ["--days"]


@case("cli-plot-samples-zero")
def _(tmp: Path) -> tuple[list[str], list[str]]:
    log = write_log(tmp / "run.twinlog")
    return ["plot", str(log), "--samples", "0", "--out", str(tmp / "p.png")], ["--samples"]


# ---------------------------------------------------------------------- event logs


def corrupt_payload(path: Path, offset: int, payload: bytes) -> None:
    replace_record(path, offset, payload)


def _payload_with(log: Path, offset: int, **changes: Any) -> bytes:
    with SqliteEventLog(log) as opened:
        raw = list(opened.read_raw(offset, offset + 1))[0]
    data = json.loads(raw)
    data.update(changes)
    return json.dumps(data, separators=(",", ":")).encode()


def _logs_argv(log: Path) -> dict[str, list[str]]:
    return {
        "state": ["state", str(log)],
        "info": ["log", "info", str(log), "--check"],  # info alone reads the tables
        "export": ["log", "export", str(log)],
    }


def corrupted_log_case(
    id: str, corrupt: Callable[[Path], None], where: Callable[[Path], list[str]]
) -> None:
    for command in ("state", "info", "export"):

        def build(tmp: Path, command: str = command) -> tuple[list[str], list[str]]:
            log = write_log(tmp / "run.twinlog")
            corrupt(log)
            return _logs_argv(log)[command], where(log)

        CASES.append(Case(f"log-{command}-{id}", build))


corrupted_log_case(
    "payload-not-json",
    lambda log: corrupt_payload(log, 3, b"\x00\x01garbage"),
    lambda log: [str(log), "offset 3"],
)
corrupted_log_case(
    "wrong-type",
    lambda log: corrupt_payload(log, 4, _payload_with(log, 4, type="no_such_event")),
    lambda log: [str(log), "offset 4"],
)
corrupted_log_case(
    "first-row-not-an-event",
    lambda log: corrupt_payload(log, 0, b"[]"),
    lambda log: [str(log), "offset 0"],
)
corrupted_log_case(
    "page-not-zstd",
    lambda log: damage_page(log, 2) and None,
    lambda log: [str(log), "offsets 0-"],
)
corrupted_log_case(
    "field-out-of-range",
    lambda log: corrupt_payload(log, 5, _payload_with(log, 5, seq=-4)),
    lambda log: [str(log), "offset 5"],
)


def _overwrite_bytes(log: Path) -> None:
    data = bytearray(log.read_bytes())
    data[100:2000] = os.urandom(1900)
    log.write_bytes(bytes(data))


def _truncate(log: Path) -> None:
    log.write_bytes(log.read_bytes()[:3000])


def _garbage(log: Path) -> None:
    log.write_bytes(b"this is not a database\n" * 100)


def _empty(log: Path) -> None:
    log.write_bytes(b"")


corrupted_log_case("random-bytes-in-file", _overwrite_bytes, lambda log: [str(log)])
corrupted_log_case("truncated-file", _truncate, lambda log: [str(log)])
corrupted_log_case("not-sqlite", _garbage, lambda log: [str(log)])
corrupted_log_case("empty-file", _empty, lambda log: [str(log)])


@case("log-state-is-a-directory")
def _(tmp: Path) -> tuple[list[str], list[str]]:
    (tmp / "d.twinlog").mkdir()
    return ["state", str(tmp / "d.twinlog")], ["d.twinlog"]


@case("log-info-missing")
def _(tmp: Path) -> tuple[list[str], list[str]]:
    return ["log", "info", str(tmp / "missing.twinlog")], ["missing.twinlog"]


# ---------------------------------------------------------------------- JSON-lines imports


def import_case(
    id: str,
    records: Callable[[], list[dict[str, Any] | str]],
    where: list[str],
    *,
    existing_log: bool = True,
) -> None:
    """Import ``records`` over an existing log with ``--force`` (the log must stay
    byte-identical: it is replaced only by a complete, valid import)."""

    def build(tmp: Path) -> tuple[list[str], list[str]]:
        src = write_jsonl(tmp / "in.jsonl", records())
        target = tmp / "target.twinlog"
        if existing_log:
            write_log(target, sample_run(n_sats=2, run_id="existing"))
        argv = ["log", "import", str(src), "--log", str(target), "--force"]
        return argv, [w.replace("{src}", str(src)) for w in where]

    CASES.append(Case(f"import-{id}", build))


def good() -> list[dict[str, Any]]:
    return jsonl_lines(sample_run(n_sats=3))


def _dup_event_id() -> list[dict[str, Any] | str]:
    recs = good()
    recs[5]["event_id"] = recs[2]["event_id"]
    return list(recs)


def _renumber(recs: list[dict[str, Any]]) -> list[dict[str, Any] | str]:
    for i, r in enumerate(recs):
        r["offset"] = i
    return list(recs)


def _seq_gap() -> list[dict[str, Any] | str]:
    recs = good()
    sat = [r for r in recs if r.get("satellite") == "sat-1"]
    for r in sat[2:]:
        r["seq"] += 1
    return list(recs)


def _seq_duplicate() -> list[dict[str, Any] | str]:
    recs = good()
    sat = [r for r in recs if r.get("satellite") == "sat-2"]
    sat[3]["seq"] = sat[2]["seq"]
    return list(recs)


def _seq_not_from_one() -> list[dict[str, Any] | str]:
    recs = good()
    for r in recs:
        if r.get("satellite") == "sat-0":
            r["seq"] += 5
    return list(recs)


def _offsets_swapped() -> list[dict[str, Any] | str]:
    recs = good()
    recs[3]["offset"], recs[4]["offset"] = recs[4]["offset"], recs[3]["offset"]
    return list(recs)


def _offset_gap() -> list[dict[str, Any] | str]:
    recs = good()
    for r in recs[6:]:
        r["offset"] += 1
    return list(recs)


def _lines_swapped() -> list[dict[str, Any] | str]:
    recs = good()
    recs[3], recs[4] = recs[4], recs[3]
    return _renumber(recs)


def _two_runs() -> list[dict[str, Any] | str]:
    recs = good()
    for r in recs[7:]:
        r["run_id"] = "another-run"
    return list(recs)


def _time_backwards() -> list[dict[str, Any] | str]:
    recs = good()
    recs[8]["sim_time"] = "2000-01-01T00:00:00.000Z"
    return list(recs)


def _event_before_start() -> list[dict[str, Any] | str]:
    recs = good()
    return _renumber(recs[1:])


def _illegal_transition() -> list[dict[str, Any] | str]:
    f = EventFactory(run_id="r")
    events = [f.scenario_started(satellites_planned=1), *f.to_operational("s", t_s=1.0)]
    events.append(f.event("launched", "s", t_s=10.0))  # operational -> launched
    return list(jsonl_lines(events))


def _with_line(index: int, line: str) -> Callable[[], list[dict[str, Any] | str]]:
    def make() -> list[dict[str, Any] | str]:
        recs: list[dict[str, Any] | str] = list(good())
        recs[index] = line
        return recs

    return make


def _with_field(index: int, **changes: Any) -> Callable[[], list[dict[str, Any] | str]]:
    def make() -> list[dict[str, Any] | str]:
        recs = good()
        recs[index].update(changes)
        return list(recs)

    return make


import_case("empty-file", lambda: [], ["{src}", "empty"])
import_case("whitespace-only", lambda: ["   ", "", "\t"], ["{src}", "empty"])
import_case("empty-file-no-existing-log", lambda: [], ["{src}"], existing_log=False)
import_case("duplicate-event-id", _dup_event_id, ["{src}:6", "event_id"])
import_case("seq-gap", _seq_gap, ["{src}:", "seq"])
import_case("seq-duplicate", _seq_duplicate, ["{src}:", "seq"])
import_case("seq-not-from-one", _seq_not_from_one, ["{src}:", "seq"])
import_case("offsets-swapped", _offsets_swapped, ["{src}:4", "offset"])
import_case("offset-gap", _offset_gap, ["{src}:7", "offset"])
import_case("lines-out-of-order", _lines_swapped, ["{src}:", "seq"])
import_case("two-runs", _two_runs, ["{src}:8", "run"])
import_case("sim-time-backwards", _time_backwards, ["{src}:9", "sim_time"])
import_case("run-without-scenario-started", _event_before_start, ["{src}:", "seq"])
import_case("illegal-transition", _illegal_transition, ["{src}:7", "launched"])
import_case("not-json", _with_line(4, "{not json"), ["{src}:5"])
import_case("truncated-line", _with_line(4, '{"type":"eclipse_entered","seq":'), ["{src}:5"])
import_case("json-array", _with_line(2, "[1, 2, 3]"), ["{src}:3"])
import_case("unknown-type", _with_field(3, type="teleported"), ["{src}:4"])
import_case("seq-zero", _with_field(3, seq=0), ["{src}:4", "seq"])
import_case(
    "nan-number", _with_line(4, json.dumps(good()[4]).replace("}", ', "x": NaN}')), ["{src}:5"]
)
import_case("negative-offset", _with_field(0, offset=-1), ["{src}:1", "offset"])
import_case("bad-sim-time", _with_field(3, sim_time="yesterday"), ["{src}:4", "sim_time"])


def _nan_field() -> list[dict[str, Any] | str]:
    recs: list[dict[str, Any] | str] = list(good())
    for i, r in enumerate(recs):
        if isinstance(r, dict) and r.get("type") == "eclipse_exited":
            recs[i] = json.dumps(r).replace(f'"duration_s": {r["duration_s"]}', '"duration_s": NaN')
            return recs
    raise AssertionError("no eclipse_exited")


import_case("nan-duration", _nan_field, ["{src}:", "duration_s"])


@case("import-missing-file")
def _(tmp: Path) -> tuple[list[str], list[str]]:
    target = write_log(tmp / "target.twinlog")
    return ["log", "import", str(tmp / "missing.jsonl"), "--log", str(target), "--force"], [
        "missing.jsonl"
    ]


@case("import-source-is-a-directory")
def _(tmp: Path) -> tuple[list[str], list[str]]:
    (tmp / "d.jsonl").mkdir()
    target = write_log(tmp / "target.twinlog")
    return ["log", "import", str(tmp / "d.jsonl"), "--log", str(target), "--force"], ["d.jsonl"]


@case("import-target-is-a-directory")
def _(tmp: Path) -> tuple[list[str], list[str]]:
    src = write_jsonl(tmp / "in.jsonl", list(good()))
    (tmp / "d.twinlog").mkdir()
    return ["log", "import", str(src), "--log", str(tmp / "d.twinlog")], ["d.twinlog"]


@case("import-from-corrupted-log")
def _(tmp: Path) -> tuple[list[str], list[str]]:
    src = write_log(tmp / "src.twinlog")
    corrupt_payload(src, 3, b"garbage")
    target = write_log(tmp / "target.twinlog", sample_run(n_sats=2, run_id="existing"))
    return ["log", "import", str(src), "--log", str(target), "--force"], [str(src), "3"]


@case("import-from-log-with-duplicate-ids")
def _(tmp: Path) -> tuple[list[str], list[str]]:
    src = write_log(tmp / "src.twinlog")
    corrupt_payload(
        src, 6, _payload_with(src, 6, event_id=json.loads(_payload_with(src, 2))["event_id"])
    )
    target = write_log(tmp / "target.twinlog", sample_run(n_sats=2, run_id="existing"))
    argv = ["log", "import", str(src), "--log", str(target), "--force"]
    return argv, [str(src), "event_id"]


@case("import-over-existing-log-without-force")
def _(tmp: Path) -> tuple[list[str], list[str]]:
    src = write_jsonl(tmp / "in.jsonl", list(good()))
    target = write_log(tmp / "target.twinlog", sample_run(n_sats=2, run_id="existing"))
    return ["log", "import", str(src), "--log", str(target)], ["target.twinlog", "--force"]


@case("cli-run-over-existing-log-without-force")
def _(tmp: Path) -> tuple[list[str], list[str]]:
    target = write_log(tmp / "out.twinlog")
    argv = ["run", str(scenario_with(tmp)), "--log", str(target), "--quiet"]
    return argv, ["out.twinlog", "--force"]


# ---------------------------------------------------------------------- the test


def _snapshot(root: Path) -> dict[str, bytes | None]:
    out: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        out[rel] = None if path.is_dir() else path.read_bytes()
    return out


def _run_in_process(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code if isinstance(exc.code, int) else 1
    except Exception as exc:  # an uncaught error is a traceback for a user
        pytest.fail(f"uncaught {type(exc).__name__}: {exc}", pytrace=True)
    return code, capsys.readouterr().err


def _run_subprocess(argv: list[str], cwd: Path) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "services.cli", *argv],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=SUBPROCESS_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"twin {' '.join(argv)} hung: no answer in {SUBPROCESS_TIMEOUT_S:.0f} s")
    return proc.returncode, proc.stderr


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 100
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("bad", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_clearly(
    bad: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    argv, where = bad.build(work)
    monkeypatch.chdir(work)
    before = _snapshot(work)
    if bad.subprocess:
        code, err = _run_subprocess(argv, work)
    else:
        code, err = _run_in_process(argv, capsys)
    assert "Traceback" not in err, err
    assert code == 2, f"exit {code}, stderr:\n{err}"
    for text in where:
        assert text in err, f"{text!r} not named in:\n{err}"
    assert _snapshot(work) == before, "files were written or changed"


# ---------------------------------------------------------------------- Kafka settings


@pytest.mark.parametrize("source", ["file", "env"])
def test_a_bad_kafka_setting_names_where_it_came_from(
    source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.kafka.settings import load_settings
    from twin.errors import InputError

    config = tmp_path / "kafka.toml"
    config.write_text('client_id = "twin"\nrequest_timeout_ms = "soon"\n')
    if source == "file":
        monkeypatch.setenv("TWIN_KAFKA_CONFIG", str(config))
        expected = f"{config}:2: request_timeout_ms"
    else:
        monkeypatch.setenv("TWIN_KAFKA_REQUEST_TIMEOUT_MS", "soon")
        expected = "TWIN_KAFKA_REQUEST_TIMEOUT_MS"
    with pytest.raises(InputError) as caught:
        load_settings(bootstrap="127.0.0.1:9092")
    assert expected in str(caught.value)
    assert caught.value.exit_code == 2
