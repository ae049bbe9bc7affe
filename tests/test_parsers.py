"""The one duration parser and the one time parser, shared by scenario files and the CLI,
and the one definition of every physical constant."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import services.cli.run
from services.cli import main
from twin.constants import SECONDS_PER_DAY, SECONDS_PER_HOUR, SECONDS_PER_YEAR
from twin.errors import InputError
from twin.sim.scenario import parse_scenario, preset_path
from twin.timeutil import MAX_DURATION_S, parse_duration, parse_time

REPO = Path(__file__).resolve().parent.parent
BAD_NUMBERS = ["nan", "NaN", "inf", "-inf", "+inf", "infinity", "1e400", "9" * 400 + "d"]
NEGATIVE = ["-1", "-5h", "- 3d"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90.0),
        ("90m", 5400.0),
        ("2min", 120.0),
        ("36h", 36 * SECONDS_PER_HOUR),
        ("1d12h", 1.5 * SECONDS_PER_DAY),
        ("1w", 7 * SECONDS_PER_DAY),
        ("5y", 5 * 365.25 * 86400.0),  # a Julian year
        ("1y6h", SECONDS_PER_YEAR + 6 * SECONDS_PER_HOUR),
        ("250ms", 0.25),
        ("3600", 3600.0),  # plain seconds, on the command line
        ("1.5e3", 1500.0),
        ("0", 0.0),
        ("1000y", MAX_DURATION_S),
    ],
)
def test_durations_are_read(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", BAD_NUMBERS + NEGATIVE + ["1001y", "soon", "5q", "", "1e400s"])
def test_bad_durations_name_the_field_and_what_is_allowed(text: str) -> None:
    with pytest.raises(InputError) as info:
        parse_duration(text, field="--until")
    err = info.value
    assert err.exit_code == 2
    assert err.location.field == "--until"
    assert err.allowed is not None and "5y" in err.allowed and "1000y" in err.allowed
    assert str(err).startswith("--until: ")


def test_scenario_durations_need_a_unit() -> None:
    assert parse_duration("36h", unit_required=True) == 36 * SECONDS_PER_HOUR
    with pytest.raises(InputError) as info:
        parse_duration("3600", unit_required=True)
    assert info.value.allowed is not None and "plain number" not in info.value.allowed


@pytest.mark.parametrize("text", ["nan", "inf", "2026-13-01T00:00:00Z", "10000-01-01T00:00:00Z"])
def test_bad_times_are_refused(text: str) -> None:
    with pytest.raises(InputError) as info:
        parse_time(text, field="--start")
    assert info.value.location.field == "--start" and info.value.allowed


@pytest.mark.parametrize("value", ["nan", "inf", "1e400y", "9" * 400 + "d", "1001y", "-5y"])
def test_scenario_file_refuses_non_finite_negative_and_huge_durations(value: str) -> None:
    path = preset_path("demo")
    text = Path(path).read_text(encoding="utf-8")
    assert 'design_life = "5y"' in text
    with pytest.raises(InputError) as info:
        parse_scenario(text.replace('design_life = "5y"', f'design_life = "{value}"'), path)
    err = info.value
    assert err.location.field == "end_of_life.design_life"
    assert err.allowed is not None and "5y" in err.allowed


class _Stop(Exception):
    pass


def test_cli_run_accepts_years(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def config(scenario: Any, *, until_s: float | None = None, **_: Any) -> Any:
        seen["until_s"] = until_s
        raise _Stop

    monkeypatch.setattr(services.cli.run, "config_from_scenario", config)
    with pytest.raises(_Stop):
        main(["run", "demo", "--until", "5y", "--log", str(tmp_path / "x.twinlog"), "--quiet"])
    assert seen["until_s"] == 5 * SECONDS_PER_YEAR


@pytest.mark.parametrize("value", BAD_NUMBERS + ["-1d", "1001y"])
def test_cli_run_refuses_bad_until_with_exit_2(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # "--until=-1d": argparse would read a separate "-1d" as an option
    code = main(["run", "demo", f"--until={value}", "--log", str(tmp_path / "x.twinlog")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("twin: error: --until: ") and "allowed:" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("option", "value"), [("--duration", "nan"), ("--step", "inf")])
def test_cli_eclipses_refuses_non_finite_durations(
    option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["eclipses", str(REPO / "tests" / "data" / "iss.tle")]
    args += ["--start", "2026-11-23T00:00:00Z", "--duration", "6h", f"{option}={value}"]
    assert main(args) == 2
    assert f"twin: error: {option}: " in capsys.readouterr().err


# ------------------------------------------------------------------ constants

#: Numbers that belong in twin/constants.py only (written as code, not in prose).
_CONSTANT = re.compile(
    r"(?<![\w.])("
    r"86_?400\.0|3_?600\.0|604_?800\.0|365\.25\s*\*|6_?378\.137|398_?600\.4418"
    r"|1\.08262668e-3|149_?597_?870\.7|1_?361\.0|5\.670374419e-8|298\.257223563"
    r")(?![\w])"
)


def _code_lines(path: Path) -> list[tuple[int, str]]:
    """Lines of ``path`` without comments and docstring-only lines (prose may cite numbers)."""
    out: list[tuple[int, str]] = []
    in_doc = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.strip()
        quotes = stripped.count('"""')
        if in_doc:
            in_doc = quotes % 2 == 0
            continue
        if stripped.startswith('"""'):
            in_doc = quotes % 2 == 1
            continue
        out.append((number, line.split("#", 1)[0]))
    return out


def test_physical_constants_are_defined_only_in_twin_constants() -> None:
    stray = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for folder in ("twin", "services")
        for path in sorted((REPO / folder).rglob("*.py"))
        if path.name != "constants.py"
        for number, line in _code_lines(path)
        if _CONSTANT.search(line)
    ]
    assert stray == [], "use twin.constants:\n" + "\n".join(stray)


def test_the_grep_finds_a_copy() -> None:
    assert _CONSTANT.search("DAY = 86400.0")
    assert _CONSTANT.search("R = 6378.137")
    assert not _CONSTANT.search("x = 186400.05")


def test_sim_clock_prefix_cache_matches_plain_formatting_in_and_out_of_order() -> None:
    """The engine's fast clock caches the "date T hour:minute:" prefix: it gives exactly what
    formatting each time from scratch gives (the same millisecond rounding, then calendar
    arithmetic), across minute, day, month and year boundaries, forwards and backwards."""
    import math
    import random
    from datetime import datetime, timedelta

    from twin.timeutil import SimClock

    epoch = parse_time("2026-12-31T23:58:59.250Z")
    clock = SimClock(epoch)
    epoch_ms = (epoch - parse_time("1970-01-01T00:00:00Z")) // timedelta(milliseconds=1)

    def plain(t: float) -> str:
        ms = epoch_ms + math.floor(t * 1000.0 + 0.5)
        return (datetime(1970, 1, 1) + timedelta(milliseconds=ms)).strftime(
            "%Y-%m-%dT%H:%M:%S."
        ) + f"{ms % 1000:03d}Z"

    rng = random.Random(7)
    ts = sorted(rng.uniform(0, 3 * 86400) for _ in range(3000))
    ts += [60.7496, 60.7504, 120.0, 0.0, 86400.0 * 365, 1.5, 61.0] + ts[::-7]
    for t in ts:
        assert clock.format(t) == plain(t), t
