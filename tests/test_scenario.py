"""Scenarios: presets load and build, bad files fail with file:line, key path and range."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pydantic
import pytest

from twin.errors import InputError
from twin.sim.scenario import (
    SECONDS_PER_YEAR,
    Scenario,
    build_fleet,
    list_presets,
    load_scenario,
    parse_scenario,
    phasing_drift_deg_per_day,
    plane_change_dv_m_s,
    preset_path,
    resolve_scenario,
    split_upset_rate,
)
from twin.timeutil import julian_date

DATA = Path(__file__).parent / "data" / "scenarios"
VALID = (DATA / "valid.toml").read_text()

# An ISS element set from python-sgp4's documentation (valid checksums).
ISS_TLE = """ISS (ZARYA)
1 25544U 98067A   19343.69339541  .00001764  00000-0  38792-4 0  9991
2 25544  51.6439 211.2001 0007417  17.6667  85.6398 15.50103472202482
"""


def _error(path: Path) -> InputError:
    with pytest.raises(InputError) as info:
        load_scenario(str(path))
    return info.value


def _weibull_cdf(t_years: float, shape: float, scale_years: float) -> float:
    return 1.0 - math.exp(-((t_years / scale_years) ** shape))


# ------------------------------------------------------------------ presets


@pytest.mark.parametrize(
    ("name", "satellites", "shells"),
    [
        ("demo", 240, 2),
        ("suncatcher", 81, 1),
        ("starlink-shell", 1584, 1),
        ("gigawatt", 10_000, 2),
        ("walker-scale", 1584, 1),
    ],
)
def test_preset_loads_and_builds_fleet_of_expected_size(
    name: str, satellites: int, shells: int
) -> None:
    scenario = resolve_scenario(name)
    assert scenario.scenario.name == name
    assert scenario.constellation.generated_satellites == satellites
    fleet = build_fleet(scenario)
    assert len(fleet) == satellites
    assert sorted(set(fleet.shell)) == list(range(shells))
    assert len(set(fleet.names)) == satellites  # names unique across shells


def test_list_presets_names_and_describes_every_preset() -> None:
    presets = dict(list_presets())
    assert set(presets) == {"demo", "suncatcher", "starlink-shell", "gigawatt", "walker-scale"}
    assert all(description for description in presets.values())
    assert resolve_scenario("demo") == load_scenario(preset_path("demo"))


def test_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(InputError) as info:
        resolve_scenario("demoo")
    assert "demoo" in str(info.value)
    assert info.value.allowed is not None and "demo" in info.value.allowed


def test_demo_has_launches_faults_and_repairs_within_its_run() -> None:
    s = resolve_scenario("demo")
    assert s.scenario.duration_s == 7 * 86400.0
    assert s.launch is not None and s.repair is not None
    n = s.constellation.generated_satellites
    launches = math.ceil((n - s.launch.in_orbit_at_epoch) / s.launch.sats_per_launch)
    last_in_service_s = (
        s.launch.first_launch_s
        + (launches - 1) * s.launch.cadence_s
        + s.launch.deployment_s
        + s.launch.orbit_raising_s
        + s.launch.commissioning_s
    )
    assert last_in_service_s < s.scenario.duration_s / 2
    run_years = s.scenario.duration_s / SECONDS_PER_YEAR
    failures = sum(
        n * _weibull_cdf(run_years, c.weibull_shape, c.weibull_scale_years)
        for c in s.reliability.components
        if c.repairable
    )
    assert failures > 5  # accelerated: several repairs per run
    upsets = n * s.reliability.upsets.rate_per_sat_day * s.scenario.duration_s / 86400.0
    assert upsets > 50


def test_starlink_castet_saleh_gives_about_three_percent_in_year_one() -> None:
    (component,) = resolve_scenario("starlink-shell").reliability.components
    assert (component.weibull_shape, component.weibull_scale_years) == (0.4521, 2607.0)
    assert (
        0.025 <= _weibull_cdf(1.0, component.weibull_shape, component.weibull_scale_years) <= 0.03
    )


def test_suncatcher_cluster_fits_in_one_kilometre_radius() -> None:
    s = resolve_scenario("suncatcher")
    fleet = build_fleet(s)
    jd, fr = julian_date(s.scenario.epoch)
    positions = []
    for sat in fleet.satrecs:
        err, r, _ = sat.sgp4(jd, fr)
        assert err == 0
        positions.append(r)
    r_km = np.array(positions)
    radius_km = np.linalg.norm(r_km - r_km.mean(axis=0), axis=1).max()
    assert 0.5 < radius_km <= 1.0


def test_suncatcher_upset_rate_follows_from_trillium_figures() -> None:
    s = resolve_scenario("suncatcher")
    per_chip_per_year = 150.0 / 5000.0  # 150 rad/yr, 1 interrupt per 5 krad
    expected = s.bus.accelerators * per_chip_per_year / 365.25
    assert s.reliability.upsets.rate_per_sat_day == pytest.approx(expected, rel=0.01)


def test_gigawatt_is_a_gigawatt() -> None:
    s = resolve_scenario("gigawatt")
    load_w = s.bus.compute_w + s.bus.bus_idle_w
    assert load_w * s.constellation.generated_satellites == pytest.approx(1e9, rel=0.01)
    array_w = 1361.0 * s.bus.array_area_m2 * s.bus.array_efficiency
    # at aphelion (flux × 0.967) the array carries the load over a whole in-season orbit
    # (96.7 min, up to 21 min in shadow) and recharges the battery (gigawatt.toml)
    assert 0.967 * array_w >= load_w * 96.7 / (96.7 - 21.0)
    assert array_w <= 1.4 * load_w
    assert s.launch is not None and s.launch.cadence_s == 3600.0


# ------------------------------------------------------------------ bad files


@pytest.mark.parametrize(
    ("name", "line", "field", "allowed"),
    [
        (
            "altitude_too_low",
            16,
            "constellation.shells[1].altitude_km",
            "160 <= altitude_km <= 40000",
        ),
        (
            "inclination_200",
            10,
            "constellation.shells[0].inclination_deg",
            "0 <= inclination_deg <= 180",
        ),
        ("planes_zero", 11, "constellation.shells[0].planes", "1 <= planes <= 1000000"),
        ("depth_of_discharge", 25, "bus.max_depth_of_discharge", "0 < max_depth_of_discharge <= 1"),
        ("negative_battery", 24, "bus.battery_wh", "0 < battery_wh <= 1e+09"),
    ],
)
def test_out_of_range_value_names_file_line_key_and_range(
    name: str, line: int, field: str, allowed: str
) -> None:
    path = DATA / f"{name}.toml"
    err = _error(path)
    assert (err.location.file, err.location.line, err.location.field) == (str(path), line, field)
    assert err.allowed == allowed
    message = str(err)
    assert message.startswith(f"{path}:{line}: {field}: ")
    assert f"(allowed: {allowed})" in message


def test_unknown_key_is_rejected_with_file_line_and_suggestion() -> None:
    path = DATA / "unknown_key.toml"
    err = _error(path)
    assert (err.location.line, err.location.field) == (27, "bus.bus_idel_w")
    assert str(err).startswith(f"{path}:27: bus.bus_idel_w: unknown key 'bus_idel_w'")
    assert err.allowed is not None and "did you mean 'bus_idle_w'" in err.allowed


def test_toml_syntax_error_names_file_and_line() -> None:
    path = DATA / "syntax_error.toml"
    err = _error(path)
    assert err.location.line == 37
    assert str(err).startswith(f"{path}:37: TOML syntax error")
    assert err.context is not None and "sats_per_launch =" in err.context


def test_bad_duration_names_key_path_and_format() -> None:
    path = DATA / "bad_duration.toml"
    err = _error(path)
    assert (err.location.line, err.location.field) == (38, "launch.cadence")
    assert "'6 hours'" in err.problem
    assert err.allowed is not None and '"36h"' in err.allowed and "y (365.25 d)" in err.allowed


def test_all_problems_of_a_file_are_reported_together() -> None:
    path = DATA / "several_errors.toml"
    message = str(_error(path))
    assert message.startswith(f"{path}:16: constellation.shells[1].altitude_km")
    assert f"{path}:25: bus.battery_wh: bad value 'lots'" in message
    assert f"{path}:36: lunch: unknown key" in message
    assert "did you mean 'launch'" in message


def test_valid_baseline_loads() -> None:
    s = load_scenario(str(DATA / "valid.toml"))
    assert s.launch is not None and s.launch.cadence_s == 6 * 3600.0
    assert s.repair is None and s.end_of_life is None and s.reliability.components == ()
    assert len(build_fleet(s)) == 10


def test_missing_scenario_file_is_an_input_error() -> None:
    err = _error(DATA / "no_such_file.toml")
    assert "not found" in err.problem


# ------------------------------------------------------------------ values and locator


def test_durations_accept_years_and_combinations() -> None:
    text = VALID.replace('duration = "1d"', 'duration = "1y12h"')
    s = parse_scenario(text, "years.toml")
    assert s.scenario.duration_s == SECONDS_PER_YEAR + 12 * 3600.0


def test_duration_without_unit_is_refused() -> None:
    with pytest.raises(InputError) as info:
        parse_scenario(VALID.replace('cadence = "6h"', "cadence = 6"), "n.toml")
    assert info.value.location.field == "launch.cadence"
    assert "needs a unit" in info.value.problem


def test_first_launch_may_be_an_absolute_time_not_before_epoch() -> None:
    text = VALID + "first_launch = 2026-11-24T06:00:00Z\n"
    launch = parse_scenario(text, "t.toml").launch
    assert launch is not None and launch.first_launch_s == 30 * 3600.0
    with pytest.raises(InputError) as info:
        parse_scenario(VALID + 'first_launch = "2026-11-22T00:00:00Z"\n', "t.toml")
    assert info.value.location.field == "launch.first_launch"
    assert info.value.location.line == 39


def test_types_are_strict() -> None:
    with pytest.raises(InputError) as info:
        parse_scenario(VALID.replace("planes = 2", 'planes = "2"'), "s.toml")
    assert info.value.allowed == "an integer, 1 <= planes <= 1000000"


def test_unknown_shell_kind_lists_the_kinds() -> None:
    with pytest.raises(InputError) as info:
        parse_scenario(VALID.replace('kind = "sso"', 'kind = "polar"'), "k.toml")
    assert (info.value.location.line, info.value.location.field) == (
        15,
        "constellation.shells[1].kind",
    )
    assert info.value.allowed == "one of 'walker', 'sso'"


def test_phasing_must_be_below_planes() -> None:
    text = VALID.replace("sats_per_plane = 3", "sats_per_plane = 3\nphasing = 2")
    with pytest.raises(InputError) as info:
        parse_scenario(text, "p.toml")
    assert info.value.location.field == "constellation.shells[0].phasing"
    assert info.value.allowed is not None and "0 <= phasing <= 1" in info.value.allowed


def test_missing_table_and_key_point_at_the_enclosing_table() -> None:
    with pytest.raises(InputError) as info:
        parse_scenario(VALID.replace("battery_wh = 3000.0\n", ""), "m.toml")
    assert (info.value.location.line, info.value.location.field) == (21, "bus.battery_wh")
    assert info.value.problem == "missing required key"


def test_locator_follows_dotted_keys_and_inline_arrays() -> None:
    text = (
        'end_of_life.design_life = "5q"\nend_of_life.deorbit = "1d"\n'
        + 'ground_stations = [\n  { name = "a", lat_deg = 0, lon_deg = 0 },\n'
        + '  { name = "b", lat_deg = 95, lon_deg = 0 },\n]\n'
        + VALID
    )
    with pytest.raises(InputError) as info:
        parse_scenario(text, "d.toml")
    # a value inside a multi-line inline array is reported on the array's key line
    assert (info.value.location.line, info.value.location.field) == (
        3,
        "ground_stations[1].lat_deg",
    )
    assert "d.toml:1: end_of_life.design_life: cannot read duration '5q'" in str(info.value)


def test_in_orbit_at_epoch_cannot_exceed_the_fleet() -> None:
    with pytest.raises(InputError) as info:
        parse_scenario(VALID + "in_orbit_at_epoch = 11\n", "o.toml")
    assert info.value.location.line == 39
    assert info.value.allowed == "0 <= in_orbit_at_epoch <= 10"


def test_models_are_frozen() -> None:
    s = load_scenario(str(DATA / "valid.toml"))
    with pytest.raises(pydantic.ValidationError):
        s.bus.battery_wh = 1.0  # type: ignore[misc]
    assert isinstance(s, Scenario)


def test_constellation_file_is_relative_to_the_scenario(tmp_path: Path) -> None:
    (tmp_path / "tle").mkdir()
    (tmp_path / "tle" / "iss.tle").write_text(ISS_TLE)
    text = VALID.replace("[bus]", '[constellation]\nfile = "tle/iss.tle"\n\n[bus]', 1)
    path = tmp_path / "mixed.toml"
    path.write_text(text)
    fleet = build_fleet(load_scenario(str(path)))
    assert len(fleet) == 11
    assert fleet.names[-1] == "ISS (ZARYA)"
    assert fleet.shell[-1] == 2  # after the two generated shells

    path.write_text(text.replace("iss.tle", "gone.tle"))
    err = _error(path)
    assert err.location.field == "constellation.file"
    assert err.location.line == text.splitlines().index('file = "tle/iss.tle"') + 1


# ------------------------------------------------------------------ orbital helpers


def test_phasing_drift_is_about_one_degree_per_day_per_km_at_650() -> None:
    assert phasing_drift_deg_per_day(650, 1) == pytest.approx(1.1, abs=0.1)
    assert phasing_drift_deg_per_day(650, -1) < 0 < phasing_drift_deg_per_day(650, 1)
    # ~linear in the offset for small offsets: 1.5·n·Δa/a
    assert phasing_drift_deg_per_day(650, 10) == pytest.approx(
        10 * phasing_drift_deg_per_day(650, 1), rel=0.01
    )


def test_plane_change_costs_about_131_m_s_per_degree_at_650() -> None:
    assert plane_change_dv_m_s(650, 1.0) == pytest.approx(131, abs=1)


def test_split_upset_rate_keeps_the_orbit_average() -> None:
    outside, inside = split_upset_rate(0.1, 100.0, 0.05)
    assert inside == pytest.approx(100 * outside)
    assert 0.05 * inside + 0.95 * outside == pytest.approx(0.1)
    assert 0.8 <= 0.05 * inside / 0.1 <= 0.97  # SAA share within the reported 80–97 %


def test_a_misspelt_key_is_reported_before_the_missing_key_it_causes() -> None:
    text = VALID.replace("battery_wh =", "battery_whh =")
    assert text != VALID
    with pytest.raises(InputError) as info:
        parse_scenario(text, "typo.toml")
    message = str(info.value)
    assert message.startswith("typo.toml:"), message
    first = message.splitlines()[0]
    assert "unknown key 'battery_whh'" in first and "did you mean 'battery_wh'" in first
    assert "bus.battery_wh: missing required key" in message
