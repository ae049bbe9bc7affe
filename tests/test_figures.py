"""Figures a planner can put in a report: the run plot, the season plot and the sweep plot,
opened and checked through the Figures their builders return, and as the files they write."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from PIL import Image  # noqa: E402

from grafana import generate  # noqa: E402
from services import figures  # noqa: E402
from services.cli import main  # noqa: E402
from services.cli import plot as plot_cmd  # noqa: E402
from services.cli import season as season_cmd  # noqa: E402
from services.sweep import build_figure as sweep_figure  # noqa: E402
from twin.lifecycle import State  # noqa: E402
from twin.sim.scenario import build_fleet, resolve_scenario  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="module")
def demo_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    log = tmp_path_factory.mktemp("plot") / "demo.twinlog"
    assert main(["run", "demo", "--until", "1d", "--log", str(log), "--quiet"]) == 0
    return log


def legend_is_outside(fig: Any, ax: Any, legend: Any) -> bool:
    """True when ``legend``'s box does not overlap ``ax``'s data area (in display pixels)."""
    fig.canvas.draw()
    box = legend.get_window_extent()
    area = ax.get_window_extent()
    return not box.overlaps(area)


def is_date_axis(ax: Any) -> bool:
    return isinstance(ax.xaxis.get_major_formatter(), mdates.ConciseDateFormatter)


def test_every_state_has_its_own_colour_and_the_boards_use_the_same() -> None:
    assert set(figures.STATE_COLOURS) == set(State)
    assert len(set(figures.STATE_COLOURS.values())) == len(State) == 14
    assert figures.STATE_COLOURS[State.FAULTED] != figures.STATE_COLOURS[State.OPERATIONAL]
    # every state name the projector exports gets its override on the fleet board
    board = generate.dashboards()["fleet-overview.json"]
    fixed = {
        o["matcher"]["options"]: o["properties"][0]["value"]["fixedColor"]
        for p in board["panels"]
        for o in p.get("fieldConfig", {}).get("overrides", [])
        if o["matcher"]["id"] == "byName"
    }
    for state, colour in figures.STATE_COLOURS.items():
        assert fixed.get(state.value) == colour, state


def test_the_run_plot_shows_interval_means_that_add_up_to_the_totals(demo_log: Path) -> None:
    """Compute and power are means over each sample interval, from the fold's exact
    integrals: summed over the intervals they give the run's totals (no aliasing)."""
    from services.eventlog import SqliteEventLog
    from twin.projections import fold

    data = plot_cmd.sample(str(demo_log), 37)
    rows = data["rows"]
    with SqliteEventLog(demo_log) as log:
        state = fold(log.read())
    pflop_s = sum(r["pflops"] * (r["t_s"] - p["t_s"]) for p, r in zip(rows, rows[1:], strict=False))
    assert pflop_s / 86400 == pytest.approx(state.compute_pflop_days, rel=1e-9)
    kwh = sum(
        r["generated_kw"] * (r["t_s"] - p["t_s"]) for p, r in zip(rows, rows[1:], strict=False)
    )
    assert kwh / 3600 == pytest.approx(state.energy_generated_kwh, rel=1e-9)


def test_the_run_plot_reads_at_a_glance(demo_log: Path) -> None:
    data = plot_cmd.sample(str(demo_log), 60)
    fig = plot_cmd.build_figure(data)
    axes = fig.axes
    # seven panels and no twin axes: shadow is not drawn over power, the queue not over faults
    assert len(axes) == 7
    titles = [ax.get_title(loc="left") for ax in axes]
    assert titles[2].startswith("fleet power") and titles[5] == "repair queue"
    assert [line.get_label() for line in axes[2].get_lines()] == ["generated", "consumed"]
    assert [line.get_label() for line in axes[4].get_lines()] == ["faults", "repairs"]
    assert [line.get_label() for line in axes[5].get_lines()] == ["awaiting a robot"]
    # states stacked in their colours, legend beside the data
    legend = axes[0].get_legend()
    entries = {t.get_text(): to_hex(h.get_facecolor()) for t, h in zip(legend.get_texts(), legend.legend_handles, strict=True)}  # fmt: skip
    assert "operational" in entries and "faulted" in entries
    for state in State:
        name = state.value.replace("_", " ")
        if name in entries:
            assert entries[name] == figures.STATE_COLOURS[state]
    for ax in axes:
        assert ax.get_ylim()[0] == 0, ax.get_title(loc="left")
        assert legend_is_outside(fig, ax, ax.get_legend()), ax.get_title(loc="left")
    # dates on the time axis, from the log's epoch, in UTC
    assert is_date_axis(axes[-1]) and "UTC" in axes[-1].get_xlabel()
    lo, hi = (mdates.num2date(x) for x in axes[-1].get_xlim())
    assert lo.isoformat().startswith("2026-11-23T00:00") and (hi - lo).days == 1
    # the caption names the run and the sources
    caption = fig.get_supxlabel()
    assert data["run_id"] in caption and "docs/sources.md" in caption and "SGP4" in caption
    assert "demo" in fig.get_suptitle()
    plt.close(fig)


def test_the_run_plot_is_saved_at_print_resolution_or_as_vectors(
    demo_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    png, pdf, svg = tmp_path / "r.png", tmp_path / "r.pdf", tmp_path / "r.svg"
    for out in (png, pdf, svg):
        assert main(["plot", str(demo_log), "--out", str(out), "--samples", "40"]) == 0
    with Image.open(png) as image:
        dpi = image.info["dpi"]
        assert min(dpi) >= 199.5  # PNG stores pixels per metre
        assert image.size[0] >= 11 * 200 - 2
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert b"<svg" in svg.read_bytes()[:1000]
    capsys.readouterr()
    assert main(["plot", str(demo_log), "--out", str(tmp_path / "r.jpg")]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and ".png, .pdf, .svg" in err


def test_the_season_plot_draws_one_curve_per_orbit_family_and_the_daily_shadow() -> None:
    scenario = resolve_scenario("demo")
    fleet = build_fleet(scenario)
    fleet = fleet.subset(sorted({k * len(fleet) // 12 for k in range(12)}))
    start = scenario.scenario.epoch
    result = season_cmd.season(fleet, start, 60, show_progress=False)
    fams = season_cmd.families(fleet, result)
    # two shells: 53° Walker planes and the SSO shell; satellites of one plane are one family
    assert 2 <= len(fams) < len(fleet)
    assert sorted(i for f in fams for i in f.members) == list(range(len(fleet)))
    for fam in fams:
        planes = {(fleet.shell[i], fleet.plane[i]) for i in fam.members}
        assert len(planes) == 1, fam
    fig = season_cmd.build_figure(fleet, result, source="demo")
    beta_ax, longest_ax, shadow_ax = fig.axes[:3]
    assert len(beta_ax.get_lines()) == len(fams) + 1  # + the beta = 0 line
    assert len(shadow_ax.get_lines()) == len(fams)
    assert len(beta_ax.get_legend().get_texts()) == len(fams)
    assert legend_is_outside(fig, beta_ax, beta_ax.get_legend())
    # the daily shadow panel holds each family's minutes in shadow per day
    assert "per day" in shadow_ax.get_ylabel()
    for line, fam in zip(shadow_ax.get_lines(), fams, strict=True):
        assert np.allclose(line.get_ydata(), result.shadow_min[fam.members[0]])
    # a 53° plane at 550 km spends about a third of most days in shadow (35.6 of 95.6 min
    # at beta 0, docs/sources.md)
    assert 400 < float(np.median(result.shadow_min[0])) < 560
    assert longest_ax.get_ylim()[0] == 0 and shadow_ax.get_ylim()[0] == 0
    assert is_date_axis(shadow_ax) and "UTC" in shadow_ax.get_xlabel()
    assert mdates.num2date(shadow_ax.get_xlim()[0]).date() == start.date()
    assert "SGP4" in fig.get_supxlabel() and "Meeus" in fig.get_supxlabel()
    plt.close(fig)


def test_a_formation_is_one_family_and_the_cli_writes_the_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    png, out_csv = tmp_path / "s.png", tmp_path / "s.csv"
    argv = ["season", "suncatcher", "--days", "40", "--csv", str(out_csv), "--out", str(png)]
    assert main(argv) == 0
    with Image.open(png) as image:
        assert min(image.info["dpi"]) >= 199.5
    rows = list(csv.DictReader(out_csv.open()))
    assert len({r["satellite"] for r in rows}) == 12
    scenario = resolve_scenario("suncatcher")
    fleet = build_fleet(scenario).subset(range(0, 81, 7))
    result = season_cmd.season(fleet, scenario.scenario.epoch, 5, show_progress=False)
    assert len(season_cmd.families(fleet, result)) == 1


def test_the_sweep_plot_starts_amounts_at_zero_with_the_legend_beside() -> None:
    points = [
        {"repair.robots": r, "seed_note": s, "outcome": "availability", "mean": m,
         "ci95_half_width": 0.01}
        for r, s, m in ((1, "a", 0.91), (2, "a", 0.95), (1, "b", 0.93), (2, "b", 0.97))
    ]  # fmt: skip
    fig = sweep_figure(points, ["repair.robots", "seed_note"], ["availability"])
    (ax,) = fig.axes
    assert ax.get_ylim()[0] == 0
    (legend,) = fig.legends
    assert legend_is_outside(fig, ax, legend)
    assert "docs/sources.md" in fig.get_supxlabel()
    plt.close(fig)


def test_dates_are_utc_seconds_from_the_epoch() -> None:
    epoch = datetime.fromisoformat("2026-11-23T00:00:00+00:00")
    assert figures.dates(epoch, [0, 86_400.0])[1].isoformat() == "2026-11-24T00:00:00+00:00"
