"""`twin eclipses`: output shape, sorting, nulls at the span edges, errors (exit 2)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

import services.cli

DATA = Path(__file__).parent / "data" / "eclipses"
FLEET = str(DATA / "fleet.3le")  # ISS-LIKE (starts in shadow), SHELL-550, ECC-0.1
FIELDS = ["satellite", "norad_cat_id", "shadow_start", "umbra_start", "umbra_end", "shadow_end"]
ARGS = ["eclipses", FLEET, "--start", "2026-11-23T00:00:00Z", "--duration", "3h"]


@pytest.fixture(autouse=True)
def only_this_command(monkeypatch: pytest.MonkeyPatch) -> None:
    # in-process runs load only this sub-command, so other commands' imports don't matter
    monkeypatch.setattr(services.cli, "COMMAND_MODULES", ("services.cli.eclipses",))


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = services.cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_jsonl_records_sorted_with_nulls(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(ARGS, capsys)
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows and all(list(r) == FIELDS for r in rows)
    keys = [(r["satellite"], r["shadow_start"] or "") for r in rows]
    assert keys == sorted(keys)
    assert {r["satellite"] for r in rows} == {"ISS-LIKE", "SHELL-550", "ECC-0.1"}
    # every record carries the catalogue number the file gives (TLE columns 3-7)
    lines = Path(FLEET).read_text().splitlines()
    catalog = {
        name.strip(): int(line2[2:7]) for name, line2 in zip(lines[0::3], lines[2::3], strict=True)
    }
    assert all(r["norad_cat_id"] == catalog[r["satellite"]] for r in rows)
    iss = [r for r in rows if r["satellite"] == "ISS-LIKE"]
    # in shadow at the span start: entry times cut (null); last pass cut at the end
    assert iss[0]["shadow_start"] is None and iss[0]["umbra_start"] is None
    # WGS-84 Earth (the default): 3.8 s earlier than the sphere's 00:26:47.055 at this latitude
    assert iss[0]["shadow_end"] == "2026-11-23T00:26:43.241Z"
    assert iss[-1]["shadow_end"] is None and iss[-1]["shadow_start"] is not None
    for r in rows:
        times = [r[f] for f in FIELDS[2:] if r[f] is not None]
        assert times == sorted(times)
        assert all(t.startswith("2026-11-23T") and t.endswith("Z") and len(t) == 24 for t in times)


def test_every_omm_encoding_gives_the_same_passes(capsys: pytest.CaptureFixture[str]) -> None:
    """CCSDS XML and KVN, CelesTrak JSON and CSV of the same elements: the same records, each
    with the catalog number of the file."""
    outputs = []
    for ext in ("json", "csv", "xml", "kvn"):
        path = str(DATA.parent / f"sample_omm.{ext}")
        argv = ["eclipses", path, "--start", "2026-11-23T00:00:00Z", "--duration", "6h"]
        code, out, err = run_cli(argv, capsys)
        assert code == 0, err
        outputs.append(out)
    assert outputs[1:] == outputs[:1] * 3
    rows = [json.loads(line) for line in outputs[0].splitlines()]
    assert {(r["satellite"], r["norad_cat_id"]) for r in rows} >= {
        ("ISS (ZARYA)", 25544),
        ("SSO DEMO 1", 99001),
    }
    code, out, _ = run_cli(["eclipses", "--help"], capsys)
    assert "norad_cat_id" in out and "KVN" in out


def test_csv_matches_jsonl(capsys: pytest.CaptureFixture[str]) -> None:
    _, out_json, _ = run_cli(ARGS, capsys)
    code, out_csv, _ = run_cli([*ARGS, "--format", "csv"], capsys)
    assert code == 0
    rows = list(csv.reader(io.StringIO(out_csv)))
    assert rows[0] == FIELDS
    expected = [
        [str(r[f]) if r[f] is not None else "" for f in FIELDS]
        for r in map(json.loads, out_json.splitlines())
    ]
    assert rows[1:] == expected
    assert any(row[2] == "" for row in rows[1:])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--duration", "soon"], "--duration"),
        (["--start", "yesterday"], "--start"),
        (["--format", "xml"], "--format"),
        (["--duration", "0s"], "--duration"),
    ],
)
def test_bad_options_exit_2(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli([*ARGS, *extra], capsys)
    assert code == 2
    assert out == ""
    assert message in err


def test_bad_file_exits_2_via_subprocess() -> None:
    cwd = Path(__file__).parent.parent
    for path in (str(DATA / "bad.tle"), str(DATA / "missing.tle")):
        proc = subprocess.run(
            [sys.executable, "-m", "services.cli", "eclipses", path, "--start",
             "2026-11-23T00:00:00Z", "--duration", "1h"],
            cwd=cwd, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 2, proc.stderr
        assert proc.stdout == ""
        assert path in proc.stderr and "error" in proc.stderr
