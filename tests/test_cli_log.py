"""`twin log export|info|import`, `twin state`, `twin schema`, `twin scenarios`."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from eventlog_contract import sample_run
from factories import EventFactory
from logfiles import replace_record

from services.cli import main
from services.eventlog import SqliteEventLog
from twin.events import EVENT_TYPES, encode
from twin.projections import fold


@pytest.fixture
def events() -> list[Any]:
    return sample_run(n_sats=3)


@pytest.fixture
def log_path(tmp_path: Path, events: list[Any]) -> Path:
    path = tmp_path / "run.twinlog"
    with SqliteEventLog(path, mode="w") as log:
        log.append(events)
    return path


def test_export_writes_the_codec_bytes(
    log_path: Path, events: list[Any], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    assert main(["log", "export", str(log_path)]) == 0
    out = capsysbinary.readouterr().out
    assert out == b"".join(encode(e) + b"\n" for e in events)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_export_out_has_the_mode_open_would_give(log_path: Path, tmp_path: Path, mask: int) -> None:
    """Not mkstemp's 0600: 0666 less the umask, as any file the shell or open() creates."""
    import os
    import stat

    out = tmp_path / f"out-{mask:o}.jsonl"
    old = os.umask(mask)
    try:
        assert main(["log", "export", str(log_path), "--out", str(out)]) == 0
        plain = tmp_path / f"plain-{mask:o}"
        plain.write_bytes(b"")
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~mask
    assert stat.S_IMODE(out.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)


def test_export_import_round_trip_is_byte_identical(log_path: Path, tmp_path: Path) -> None:
    jsonl = tmp_path / "run.jsonl"
    assert main(["log", "export", str(log_path), "--out", str(jsonl)]) == 0
    copy = tmp_path / "copy.twinlog"
    assert main(["log", "import", str(jsonl), "--log", str(copy)]) == 0
    again = tmp_path / "again.jsonl"
    assert main(["log", "export", str(copy), "--out", str(again)]) == 0
    assert again.read_bytes() == jsonl.read_bytes()
    with SqliteEventLog(log_path) as a, SqliteEventLog(copy) as b:
        assert list(a.read_raw()) == list(b.read_raw())
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "again.jsonl",
        "copy.twinlog",
        "run.jsonl",
        "run.twinlog",
    ]


def test_import_replaces_an_existing_log_only_with_force(
    log_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jsonl = tmp_path / "run.jsonl"
    assert main(["log", "export", str(log_path), "--out", str(jsonl)]) == 0
    other = tmp_path / "other.twinlog"
    with SqliteEventLog(other, mode="w") as log:
        log.append(sample_run(n_sats=1, run_id="other"))
    before = other.read_bytes()
    capsys.readouterr()
    assert main(["log", "import", str(jsonl), "--log", str(other)]) == 2
    err = capsys.readouterr().err
    assert "other.twinlog" in err and "--force" in err
    assert other.read_bytes() == before
    assert main(["log", "import", str(jsonl), "--log", str(other), "--force"]) == 0
    with SqliteEventLog(log_path) as a, SqliteEventLog(other) as b:
        assert list(a.read_raw()) == list(b.read_raw())


def test_import_upcasts_old_versions_and_skips_blank_lines(tmp_path: Path) -> None:
    f = EventFactory()
    events = [f.scenario_started(), *f.to_operational("s", t_s=1.0)]
    lines = [encode(e).decode() for e in events]
    old = json.loads(lines[-1])
    old["schema_version"] = 1
    old["telemetry"]["battery_soc_pct"] = old["telemetry"].pop("soc") * 100
    lines[-1] = json.dumps(old)
    jsonl = tmp_path / "old.jsonl"
    jsonl.write_text("\n".join(lines[:3]) + "\n\n" + "\n".join(lines[3:]) + "\n")
    assert main(["log", "import", str(jsonl), "--log", str(tmp_path / "x.twinlog")]) == 0
    with SqliteEventLog(tmp_path / "x.twinlog") as log:
        assert list(log.read()) == events  # 90 % -> 0.9, plane defaults to 0


def _bad_import(tmp_path: Path, lines: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    jsonl = tmp_path / "bad.jsonl"
    jsonl.write_text("".join(line + "\n" for line in lines))
    target = tmp_path / "out" / "bad.twinlog"
    target.parent.mkdir()
    assert main(["log", "import", str(jsonl), "--log", str(target)]) == 2
    assert list(target.parent.iterdir()) == [], "nothing may be written on error"
    err = capsys.readouterr().err
    assert err.startswith("twin: error: ")
    return err


def test_import_bad_line_names_file_line_and_reason(
    tmp_path: Path, events: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [encode(e).decode() for e in events]
    jsonl = tmp_path / "bad.jsonl"
    err = _bad_import(tmp_path, [*lines[:2], '{"type": "launched", "oops"', *lines[2:]], capsys)
    assert f"{jsonl}:3:" in err and "invalid_json" in err
    unknown = json.dumps({**json.loads(lines[2]), "type": "teleported"})
    err = _bad_import_again(tmp_path, [*lines[:2], unknown, *lines[3:]], capsys)
    assert f"{jsonl}:3:" in err and "unknown_type" in err
    newer = json.dumps({**json.loads(lines[4]), "schema_version": 7})
    err = _bad_import_again(tmp_path, [*lines[:4], newer], capsys)
    assert f"{jsonl}:5:" in err and "newer_schema_version" in err
    missing = json.loads(lines[1])
    del missing["sim_time"]
    err = _bad_import_again(tmp_path, [lines[0], json.dumps(missing)], capsys)
    assert f"{jsonl}:2:" in err and "invalid_event" in err and "sim_time" in err


def _bad_import_again(tmp_path: Path, lines: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    (tmp_path / "out").rmdir()
    return _bad_import(tmp_path, lines, capsys)


def test_import_refuses_offset_gaps_with_the_line(
    tmp_path: Path, events: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [encode(e).decode() for e in events]
    err = _bad_import(tmp_path, lines[:6] + lines[7:], capsys)
    assert "bad.jsonl:7:" in err and "offset 7, the log expects 6" in err


def test_import_missing_file_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["log", "import", str(tmp_path / "nope.jsonl"), "--log", str(tmp_path / "x")])
    assert code == 2
    assert "nope.jsonl" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_info(log_path: Path, events: list[Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["log", "info", str(log_path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["count"] == len(events)
    assert info["run_id"] == "contract-run"
    assert info["satellites"] == 3
    assert info["counts_by_type"]["eclipse_entered"] == 6
    assert main(["log", "info", str(log_path)]) == 0
    text = capsys.readouterr().out
    assert "contract-run" in text and f"{len(events)}" in text and "eclipse_entered" in text


def test_info_reads_the_tables_and_check_decodes_every_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`twin log info` answers from the log's tables and first record, so a record corrupted
    further on goes unnoticed (and a 44M-event log answers at once); `--check` decodes every
    record and reports it, exit 2."""
    log = tmp_path / "run.twinlog"
    assert main(["run", "demo", "--until", "6h", "--log", str(log), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["log", "info", str(log), "--json"]) == 0
    before = json.loads(capsys.readouterr().out)
    replace_record(log, 300, b"\x00\x01garbage")
    assert main(["log", "info", str(log), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == before  # nothing decoded past record 0
    assert main(["log", "info", str(log), "--check"]) == 2  # noqa: PLR2004
    err = capsys.readouterr().err
    assert str(log) in err and "offset 300" in err


def test_info_check_compares_the_tables_with_the_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The tables `twin log info` answers from must agree with the records: `--check` names
    the figure and the types that differ, exit 2."""
    import sqlite3

    log = tmp_path / "run.twinlog"
    assert main(["run", "demo", "--until", "6h", "--log", str(log), "--quiet"]) == 0
    assert main(["log", "info", str(log), "--check"]) == 0
    with contextlib.closing(sqlite3.connect(log)) as conn:
        launched = conn.execute("SELECT count FROM type_counts WHERE type='launched'").fetchone()[0]
        conn.execute("UPDATE type_counts SET count = count + 5 WHERE type = 'launched'")
        conn.commit()
    capsys.readouterr()
    assert main(["log", "info", str(log), "--check"]) == 2  # noqa: PLR2004
    err = capsys.readouterr().err
    assert str(log) in err and "counts_by_type" in err
    assert f"{{'launched': {launched + 5}}} but its records {{'launched': {launched}}}" in err


def test_missing_log_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["log", "info"], ["log", "export"], ["state"]):
        assert main([*argv, str(tmp_path / "missing.twinlog")]) == 2
        err = capsys.readouterr().err
        assert "missing.twinlog" in err and "does not exist" in err


def test_state_json_is_the_fold_summary(
    log_path: Path, events: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["state", str(log_path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary == json.loads(json.dumps(fold(events).summary()))


def test_state_at_a_time_or_a_duration(
    log_path: Path, events: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    t = "2026-11-23T00:03:00Z"  # after the first three eclipse entries (100, 160, 220 s)
    prefix = [e for e in events if e.sim_time <= "2026-11-23T00:03:00.000Z"]
    expected = json.loads(json.dumps(fold(prefix).summary()))
    expected["position"]["requested_until"] = "2026-11-23T00:03:00.000Z"
    for at in (t, "180s", "3m"):
        assert main(["state", str(log_path), "--until", at, "--json"]) == 0
        assert json.loads(capsys.readouterr().out) == expected, at
    assert expected["fleet"]["in_shadow"] == 2
    assert main(["state", str(log_path), "--until", "yesterday"]) == 2
    assert "--until" in capsys.readouterr().err


def test_state_human_table(log_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["state", str(log_path), "--at", "3m"]) == 0
    out = capsys.readouterr().out
    assert "operational" in out and "in_eclipse" in out
    for label in ("compute online", "in eclipse", "compute delivered", "repairs", "MTTR"):
        assert label in out
    mttr = next(line for line in out.splitlines() if line.startswith("MTTR"))
    assert main(["state", str(log_path), "--at", "3m", "--json"]) == 0
    if json.loads(capsys.readouterr().out)["repair"]["mttr_s"] is None:
        assert mttr.split() == ["MTTR", "—"]  # no repair yet: no figure and no unit
    else:
        assert mttr.endswith(" h")


@pytest.mark.parametrize(
    ("command", "words"),
    [
        (["log", "export"], "exactly the codec's bytes"),
        (["log", "info"], "count of each event type"),
        (["schema"], "JSON Schema"),
        (["scenarios"], "presets shipped with the twin"),
    ],
)
def test_sub_commands_describe_themselves(
    command: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command, "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    head = out.split("positional arguments:")[0].split("options:")[0]
    assert words in head, out


def test_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    out = capsys.readouterr().out
    schema = json.loads(out)
    assert set(schema["discriminator"]["mapping"]) == set(EVENT_TYPES)
    assert out.startswith('{\n  "$defs"')  # indent=2


def test_scenarios_lists_presets(capsys: pytest.CaptureFixture[str]) -> None:
    from twin.sim.scenario import list_presets

    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out.splitlines()
    presets = list_presets()
    assert len(out) == len(presets) > 0
    for line, (name, description) in zip(out, presets, strict=True):
        assert line.startswith(name) and line.endswith(description.strip())


def test_state_until_says_as_of_when_and_refuses_before_the_epoch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``twin state --until T`` folds the events up to T and says so; a T before the epoch
    is refused (exit 2); a T past the end of the log is the final state, with a note."""
    log = tmp_path / "d.twinlog"
    assert main(["run", "demo", "--until", "6h", "--log", str(log), "--quiet"]) == 0
    capsys.readouterr()

    assert main(["state", str(log), "--until", "3h", "--json"]) == 0
    out = capsys.readouterr()
    pos = json.loads(out.out)["position"]
    assert pos["requested_until"] == "2026-11-23T03:00:00.000Z"
    assert pos["sim_time"] <= pos["requested_until"]
    assert out.err == ""

    assert main(["state", str(log), "--until", "3h"]) == 0
    assert "as of      2026-11-23T03:00:00.000Z" in capsys.readouterr().out

    assert main(["state", str(log), "--until", "12h", "--json"]) == 0
    out = capsys.readouterr()
    assert "the log ends at 2026-11-23T06:00:00.000Z" in out.err
    assert json.loads(out.out)["position"]["sim_time"] == "2026-11-23T06:00:00.000Z"

    assert main(["state", str(log), "--until", "2020-01-01T00:00:00Z"]) == 2
    err = capsys.readouterr().err
    assert "before the run's epoch" in err and "--until" in err
