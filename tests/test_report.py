"""`twin report`: a self-contained HTML file and a JSON sidecar whose numbers are those of
`twin state --json` for the same log; deltas against a second run or a sweep; costs."""

from __future__ import annotations

import io
import json
import re
from contextlib import redirect_stderr, redirect_stdout
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from services.cli import main
from twin.planning.cost import DEFAULTS


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("report")
    paths = {"run": d / "run.twinlog", "other": d / "other.twinlog", "sweep": d / "sweep"}
    assert _cli("run", "demo", "--until", "1d", "--log", str(paths["run"]), "--quiet")[0] == 0
    code = _cli(
        "run", "demo", "--until", "1d", "--set", "repair.robots=0", "--log", str(paths["other"]),
        "--quiet",
    )[0]  # fmt: skip
    assert code == 0
    code = _cli(
        "sweep", "demo", "--set", "repair.robots=0,1", "--seeds", "2", "--until", "3h",
        "--jobs", "1", "--out", str(paths["sweep"]), "--quiet",
    )[0]  # fmt: skip
    assert code == 0
    return paths


class _Cells(HTMLParser):
    """Every ``data-key``/``data-value`` cell, and every tag and URL-bearing attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[str, Any] = {}
        self.tags: set[str] = set()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        a = dict(attrs)
        if "data-key" in a:
            raw = a.get("data-value") or ""
            self.cells[a["data-key"] or ""] = json.loads(raw) if raw else None
        for name in ("src", "href"):
            if a.get(name):
                self.urls.append(a[name] or "")


def _state(log: Path) -> dict[str, Any]:
    code, out, _ = _cli("state", str(log), "--json")
    assert code == 0
    return json.loads(out)


def _report(tmp_path: Path, *args: str) -> tuple[dict[str, Any], _Cells, str]:
    out = tmp_path / "report.html"
    code, _, err = _cli("report", *args, "--out", str(out))
    assert code == 0, err
    text = out.read_text()
    cells = _Cells()
    cells.feed(text)
    return json.loads(out.with_suffix(".json").read_text()), cells, text


def test_report_numbers_match_twin_state(logs: dict[str, Path], tmp_path: Path) -> None:
    doc, html, text = _report(tmp_path, str(logs["run"]), "--vs", str(logs["other"]))
    state = _state(logs["run"])
    assert doc["state"] == state  # the sidecar holds the fold, as twin state prints it
    integ, losses, launch = state["integrals"], state["losses"], state["launch"]
    c = html.cells
    assert c["state.integrals.compute_accelerator_hours"] == integ["compute_accelerator_hours"]
    assert c["state.integrals.compute_pflop_days"] == integ["compute_pflop_days"]
    for cause, hours in losses["accelerator_hours"].items():
        assert c[f"state.losses.accelerator_hours.{cause}"] == hours
    assert c["seed_questions.energy.energy_generated_kwh"] == integ["energy_generated_kwh"]
    assert c["seed_questions.maintenance.availability"] == losses["availability"]
    assert c["seed_questions.launch.tonnes_to_orbit"] == launch["tonnes_to_orbit"]
    assert c["seed_questions.launch.tonnes_per_year"] == launch["tonnes_per_year"]
    assert c["seed_questions.launch.flights"] == launch["flights"]
    assert c["seed_questions.cooling.lost_power_thermal_cap_share"] == pytest.approx(
        losses["accelerator_hours"]["power_thermal_cap"] / losses["potential_accelerator_hours"]
    )
    # deltas against the run without robots
    other = _state(logs["other"])
    deltas = {d["outcome"]: d for d in doc["vs"]["deltas"]}
    assert deltas["availability"]["other"] == other["losses"]["availability"]
    assert deltas["availability"]["delta"] == pytest.approx(
        losses["availability"] - other["losses"]["availability"]
    )
    assert c["outcomes.availability"] == losses["availability"]
    # every assumption with a source, in the HTML too
    assert [a["name"] for a in doc["assumptions"]] == list(DEFAULTS)
    assert all(a["source"] for a in doc["assumptions"])
    for a in doc["assumptions"]:
        assert c[f"assumptions.{a['name']}"] == a["value"]
    # self-contained: no scripts, nothing fetched
    assert "script" not in html.tags and "link" not in html.tags
    assert all(u.startswith(("data:", "#")) for u in html.urls)
    assert not re.search(r"url\(|@import", text)


def test_report_against_a_sweep_embeds_its_plot(logs: dict[str, Path], tmp_path: Path) -> None:
    doc, html, _ = _report(tmp_path, str(logs["run"]), "--sweep", str(logs["sweep"]))
    sweep = json.loads((logs["sweep"] / "sweep.json").read_text())
    assert doc["sweep"]["grid"] == {"repair.robots": [0, 1]}
    means = {(p["repair.robots"], p["outcome"]): p["mean"] for p in sweep["points"]}
    for row in doc["sweep"]["this_vs_mean"]:
        assert row["mean"] == means[row["repair.robots"], row["outcome"]]
    assert any(u.startswith("data:image/png;base64,") for u in html.urls)


def test_cost_and_its_sensitivity(logs: dict[str, Path], tmp_path: Path) -> None:
    doc, _, _ = _report(tmp_path, str(logs["run"]))
    base = doc["cost"]["result"]
    fleet = doc["cost"]["fleet"]
    assert fleet["satellite_mass_kg"] == 700.0 and fleet["accelerators"] == 8
    assert fleet["compute_share"] == doc["state"]["losses"]["compute_share"]
    # by hand: (700 kg × ($200 + $1,000)/kg + 8 × $30,000) / (8 × 5 × 8,766 h × share)
    hours = 8 * 5 * 8766 * fleet["compute_share"]
    assert base["orbit_usd_per_accelerator_hour"] == pytest.approx((700 * 1200 + 8 * 30000) / hours)
    assert base["ground_usd_per_accelerator_hour"] == pytest.approx(
        (30000 + 1000 * 10.0) / (5 * 8766 * 0.99) + 1.0 * 1.56 * 0.08 / 0.99
    )
    swings = [s["ratio_swing"] for s in doc["cost"]["sensitivity"]]
    assert swings == sorted(swings, reverse=True) and len(swings) == len(DEFAULTS)
    costs = tmp_path / "costs.toml"
    costs.write_text("launch_usd_per_kg = 4000\n")
    dearer, _, _ = _report(tmp_path, str(logs["run"]), "--costs", str(costs))
    assert dearer["cost"]["result"]["orbit_launch_usd_per_satellite"] == 700 * 4000
    assert {a["name"]: a["source"] for a in dearer["assumptions"]}["launch_usd_per_kg"] == (
        f"{costs} (given)"
    )


def test_cost_per_useful_goodput_hour_beside_per_delivered_hour(
    logs: dict[str, Path], tmp_path: Path
) -> None:
    """The README calls goodput the useful work: with a workload the report prices a goodput
    accelerator-hour (orbit and ground) beside a delivered one, from twin state's numbers."""
    doc, html, text = _report(tmp_path, str(logs["run"]))
    state = _state(logs["run"])
    workload = state["workload"]
    ratio = workload["goodput_accelerator_hours"] / state["integrals"]["compute_accelerator_hours"]
    assert ratio == pytest.approx(workload["goodput_ratio"], rel=1e-12) and 0 < ratio < 1
    r, c = doc["cost"]["result"], html.cells
    assert doc["cost"]["fleet"]["goodput_ratio"] == workload["goodput_ratio"]
    for where in ("orbit", "ground"):
        per_delivered = r[f"{where}_usd_per_accelerator_hour"]
        per_goodput = r[f"{where}_usd_per_goodput_accelerator_hour"]
        assert per_goodput == pytest.approx(per_delivered / ratio, rel=1e-12)
        assert per_goodput > per_delivered
        assert c[f"cost.result.{where}_usd_per_goodput_accelerator_hour"] == per_goodput
        assert c[f"cost.result.{where}_usd_per_accelerator_hour"] == per_delivered
        assert f"{where}, per useful (goodput) accelerator-hour (USD)" in text
        assert f"{where}, per delivered accelerator-hour (USD)" in text
    # readable labels with units, not raw keys
    for raw in (
        "workload available_accelerator_hours",
        "accelerator w<",
        "orbit usd per accelerator hour",
    ):
        assert raw not in text
    assert "compute available to the workload (accelerator-hours)" in text
    assert "power per accelerator (W)" in text
    # a count is shown whole, its exact value kept in data-value
    requests = workload["inference_requests"]
    assert c["state.workload.inference_requests"] == requests
    shown = re.search(r'data-key="state.workload.inference_requests"[^>]*>([^<]*)<', text)
    assert shown and shown.group(1) == f"{round(requests):,}"
    # lost work and shed compute are told apart
    assert "measure different things" in text


def test_a_run_without_workload_is_priced_per_delivered_hour_only() -> None:
    from twin.planning.cost import DEFAULTS, Fleet, costs, goodput_costs

    values = {k: a.value for k, a in DEFAULTS.items()}
    bare = Fleet(700.0, 8, 1000.0, 0.9)
    assert goodput_costs(bare, values) == {}
    idle = Fleet(700.0, 8, 1000.0, 0.9, goodput_ratio=0.0)
    assert goodput_costs(idle, values) == {
        "orbit_usd_per_goodput_accelerator_hour": None,
        "ground_usd_per_goodput_accelerator_hour": None,
    }
    half = goodput_costs(Fleet(700.0, 8, 1000.0, 0.9, goodput_ratio=0.5), values)
    assert half["orbit_usd_per_goodput_accelerator_hour"] == pytest.approx(
        2 * costs(bare, values)["orbit_usd_per_accelerator_hour"]
    )


def test_report_help_names_the_sidecar_after_out() -> None:
    code, out, _ = _cli("report", "--help")
    text = " ".join(out.split())
    assert code == 0 and "report.json beside it" not in text
    assert "named after --out" in text


@pytest.mark.parametrize(
    ("text", "field"),
    [("launch_usd = 1\n", "launch_usd"), ("# c\npue = -1.0\n", "pue"), ('pue = "x"\n', "pue")],
)
def test_bad_cost_assumptions_are_refused(
    logs: dict[str, Path], tmp_path: Path, text: str, field: str
) -> None:
    costs = tmp_path / "costs.toml"
    costs.write_text(text)
    line = text.count("\n")
    code, _, err = _cli("report", str(logs["run"]), "--costs", str(costs), "--out", "r.html")
    assert code == 2
    assert f"{costs}:{line}: {field}:" in err and "allowed:" in err


def test_a_missing_sweep_directory_is_refused(logs: dict[str, Path], tmp_path: Path) -> None:
    code, _, err = _cli(
        "report", str(logs["run"]), "--sweep", str(tmp_path), "--out", str(tmp_path / "r.html")
    )
    assert code == 2 and "--sweep" in err and "sweep.json" in err
