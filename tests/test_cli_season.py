"""`twin season`: a year of eclipse seasons for planners, as a table, CSV and plot."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from services.cli import main

DATA = Path(__file__).resolve().parent / "data"


def test_suncatcher_year_matches_the_reference_season(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_csv, png = tmp_path / "s.csv", tmp_path / "s.png"
    code = main(["season", "suncatcher", "--days", "365", "--max-satellites", "2",
                 "--csv", str(out_csv), "--out", str(png)])  # fmt: skip
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[0] == "satellite"
    for line in lines[1:3]:
        name, days, longest, share = line.split()
        # docs/sources.md (cylindrical shadow): ~88 days, up to ~20 min, ~3.9 % of the year
        assert 75 <= int(days) <= 105, line
        assert 18.0 <= float(longest) <= 22.0, line
        assert 3.0 <= float(share.rstrip("%")) <= 5.0, line
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == 2 * 365
    assert {r["date"] for r in rows} >= {"2026-11-23", "2027-06-21"}
    betas = [float(r["beta_deg"]) for r in rows]
    assert 55 < min(betas) < 62 and max(betas) < 90
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_a_tle_file_works_and_bad_days_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["season", str(DATA / "iss.tle"), "--days", "30"]) == 0
    assert "25544" in capsys.readouterr().out
    assert main(["season", str(DATA / "iss.tle"), "--days", "0"]) == 2
