"""Shadow model and eclipse search against an independent brute-force search.

The reference evaluates the shadow functions with real SGP4 every 1 s and bisects each sign
change to 1e-5 s; the search under test must match every crossing within 1 s and miss no
pass longer than 60 s.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest
from factories import satrec_from_elements
from sgp4.api import Satrec

from twin.constants import WGS84_FLATTENING
from twin.physics.eclipses import eclipse_table, find_eclipses
from twin.physics.orbits import Fleet, sso_inclination_deg, sun_synchronous
from twin.physics.shadow import (
    EARTH_RADIUS_KM,
    illumination_fraction,
    penumbra_distance,
    shadow_distances,
    umbra_distance,
)
from twin.physics.sun import AU_KM, sun_position_teme_km
from twin.timeutil import julian_dates

EPOCH = datetime(2026, 11, 23, tzinfo=UTC)
JUNE = datetime(2026, 6, 21, tzinfo=UTC)
MU = 398600.4418
F = WGS84_FLATTENING  # the search's default Earth (the spherical one: test_eclipse_reference)


def satellite(
    satnum: int,
    inclination_deg: float,
    perigee_alt_km: float,
    raan_deg: float,
    anomaly_deg: float,
    *,
    ecc: float = 0.0,
    argp_deg: float = 0.0,
    epoch: datetime = EPOCH,
) -> Satrec:
    a = (6378.137 + perigee_alt_km) / (1 - ecc)
    return satrec_from_elements(
        satnum, epoch, a, ecc, inclination_deg, raan_deg, argp_deg, anomaly_deg
    )


# ---------------------------------------------------------------- independent reference


def _roots(sat: Satrec, epoch: datetime, t: np.ndarray, g: np.ndarray, k: int) -> np.ndarray:
    neg = g[k] < 0
    i = np.flatnonzero(neg[1:] != neg[:-1])
    a, b = t[i].copy(), t[i + 1].copy()
    falling = ~neg[i]
    for _ in range(20):
        mid = 0.5 * (a + b)
        jd, fr = julian_dates(epoch, mid)
        _, r, _ = sat.sgp4_array(jd, fr)
        gm = np.stack(shadow_distances(r, sun_position_teme_km(jd, fr), flattening=F))[k]
        left = (gm < 0) == falling  # root is left of mid
        b = np.where(left, mid, b)
        a = np.where(left, a, mid)
    return np.stack([0.5 * (a + b), falling.astype(float)], axis=1)


def _intervals(events: np.ndarray, neg_start: bool) -> list[list[float]]:
    out: list[list[float]] = []
    current = [math.nan] if neg_start else None
    for t, falling in events:
        if falling:
            current = [t]
        else:
            out.append([current[0] if current else math.nan, t])
            current = None
    if current is not None:
        out.append([current[0], math.nan])
    return out


def brute_force(sat: Satrec, epoch: datetime, start_s: float, end_s: float) -> list[tuple]:
    """Passes (shadow_start, umbra_start, umbra_end, shadow_end), NaN where cut/absent."""
    t = np.arange(start_s, end_s, 1.0)
    t = np.append(t, end_s)
    jd, fr = julian_dates(epoch, t)
    _, r, _ = sat.sgp4_array(jd, fr)
    g = np.stack(shadow_distances(r, sun_position_teme_km(jd, fr), flattening=F))
    pen = _intervals(_roots(sat, epoch, t, g, 0), g[0, 0] < 0)
    umb = _intervals(_roots(sat, epoch, t, g, 1), g[1, 0] < 0)
    passes = []
    for a, b in pen:
        inside = [
            u for u in umb
            if (math.isnan(a) or np.nan_to_num(u[0], nan=start_s) >= a - 1e-6)
            and (math.isnan(b) or np.nan_to_num(u[1], nan=end_s) <= b + 1e-6)
        ]  # fmt: skip
        ua, ub = inside[0] if inside else (math.nan, math.nan)
        passes.append((a, ua, ub, b))
    return passes


def _duration(p: tuple, start_s: float, end_s: float) -> float:
    a = start_s if math.isnan(p[0]) else p[0]
    b = end_s if math.isnan(p[3]) else p[3]
    return b - a


def check_against_brute_force(
    fleet: Fleet, epoch: datetime, start_s: float, end_s: float, *, min_passes: int = 0
) -> float:
    """Assert the search matches the reference; return the largest time error (s)."""
    found = find_eclipses(fleet, epoch, start_s, end_s)
    worst = 0.0
    total = 0
    for i, sat in enumerate(fleet.satrecs):
        ours = [
            (p.shadow_start, p.umbra_start, p.umbra_end, p.shadow_end)
            for p in found
            if p.sat_index == i
        ]
        ours_arr = [tuple(math.nan if x is None else x for x in p) for p in ours]
        ref = brute_force(sat, epoch, start_s, end_s)
        total += len(ref)
        matched = set()
        for rp in ref:
            mid = 0.5 * (np.nan_to_num(rp[0], nan=start_s) + np.nan_to_num(rp[3], nan=end_s))
            cands = [
                j for j, p in enumerate(ours_arr)
                if np.nan_to_num(p[0], nan=start_s) - 1 <= mid <= np.nan_to_num(p[3], nan=end_s) + 1
            ]  # fmt: skip
            if not cands:
                assert _duration(rp, start_s, end_s) < 60, f"{fleet.names[i]} missed pass {rp}"
                continue
            j = cands[0]
            matched.add(j)
            for x, y in zip(rp, ours_arr[j], strict=True):
                assert math.isnan(x) == math.isnan(y), (fleet.names[i], rp, ours_arr[j])
                if not math.isnan(x):
                    worst = max(worst, abs(x - y))
        assert len(matched) == len(ours_arr), f"{fleet.names[i]}: spurious passes"
    assert total >= min_passes
    assert worst < 1.0
    return worst


# ---------------------------------------------------------------- shadow model


def test_shadow_functions_and_illumination() -> None:
    sun = np.array([AU_KM, 0.0, 0.0])
    r = 6928.0
    # sweep a satellite (550 km, ecliptic plane) into the shadow: entry near 113°
    ang = np.radians(np.linspace(105, 125, 20001))
    pos = np.stack([r * np.cos(ang), r * np.sin(ang), np.zeros_like(ang)], axis=1)
    frac = illumination_fraction(pos, sun)
    pen, umb = shadow_distances(pos, sun)
    assert np.array_equal(pen, penumbra_distance(pos, sun))
    assert np.array_equal(umb, umbra_distance(pos, sun))
    assert np.all((frac >= 0) & (frac <= 1))
    assert np.all(frac[pen > 1e-9] == 1.0)
    assert np.all(frac[umb < -1e-9] == 0.0)
    partial = (pen < 0) & (umb > 0)
    assert partial.any()
    assert np.all((frac[partial] > 0) & (frac[partial] < 1))
    assert np.all(np.diff(frac) <= 1e-12)  # falls monotonically on entry
    # boundaries: angle from the anti-Sun direction = θE ± θS (parallax ~0.003°)
    theta_e = np.degrees(np.arcsin(EARTH_RADIUS_KM / r))
    theta_s = np.degrees(696000 / AU_KM)
    assert np.degrees(ang[np.argmax(pen < 0)]) == pytest.approx(180 - theta_e - theta_s, abs=0.01)
    assert np.degrees(ang[np.argmax(umb < 0)]) == pytest.approx(180 - theta_e + theta_s, abs=0.01)
    # half the disc hidden at the middle of the penumbra
    mid = np.radians(180 - theta_e)
    half = illumination_fraction([r * np.cos(mid), r * np.sin(mid), 0.0], sun)
    assert float(half) == pytest.approx(0.5, abs=0.01)


def test_earth_radius_is_configurable() -> None:
    sun = np.array([AU_KM, 0.0, 0.0])
    pos = np.array([-6928.0, 6300.0, 0.0])
    assert penumbra_distance(pos, sun, earth_radius_km=6300.0) > penumbra_distance(pos, sun)


# ---------------------------------------------------------------- eclipse search


def test_leo_iss_550_and_eccentric_match_brute_force() -> None:
    fleet = Fleet(
        ["ISS-LIKE", "SHELL-550", "ECC-0.1", "MOLNIYA"],
        [
            satellite(1, 51.6, 420, 30, 0),
            satellite(2, 53.0, 550, 200, 40),
            satellite(3, 40.0, 550, 100, 180, ecc=0.1, argp_deg=30),
            satellite(4, 63.4, 600, 250, 0, ecc=0.72, argp_deg=270),
        ],
    )
    worst = check_against_brute_force(fleet, EPOCH, 0.0, 12 * 3600.0, min_passes=20)
    assert worst < 0.05  # typically ~1e-4 s


def test_dawn_dusk_sso_in_and_out_of_season() -> None:
    inside = sun_synchronous(
        altitude_km=650, ltan_hours=18.0, planes=1, sats_per_plane=2, phasing=0, epoch=JUNE
    )
    worst = check_against_brute_force(inside, JUNE, 0.0, 6 * 3600.0, min_passes=6)
    assert worst < 0.05
    passes = find_eclipses(inside, JUNE, 0.0, 6 * 3600.0)
    durations = [p.shadow_end - p.shadow_start for p in passes if p.shadow_start and p.shadow_end]
    assert 17 * 60 < max(durations) < 22 * 60  # β ≈ 58.6°: ~20 min
    december = datetime(2026, 12, 21, tzinfo=UTC)
    outside = sun_synchronous(
        altitude_km=650, ltan_hours=18.0, planes=1, sats_per_plane=2, phasing=0, epoch=december
    )
    assert find_eclipses(outside, december, 0.0, 6 * 3600.0) == []
    assert brute_force(outside.satrecs[0], december, 0.0, 6 * 3600.0) == []


def test_edge_of_season_short_passes_and_grazes() -> None:
    # SSO planes turned so β sweeps the season edge (β* ≈ 65.2° at 650 km): short passes,
    # penumbra-only grazes and no eclipse at all
    base = sun_synchronous(
        altitude_km=650, ltan_hours=18.0, planes=1, sats_per_plane=1, phasing=0, epoch=JUNE
    )
    raan0 = math.degrees(base.satrecs[0].nodeo)
    incl = sso_inclination_deg(650)
    # nodes turned 157..161° from the dawn–dusk plane: β ≈ −62.7° .. −65.8°; passes from
    # ~13 min down to short penumbra grazes, then none (oblate Earth: the edge is at ~160.2°)
    turns = np.concatenate(
        [
            np.linspace(157.0, 159.5, 6),
            np.linspace(159.6, 160.1, 6),
            np.linspace(160.12, 160.22, 11),
            [161.0],
        ]
    )
    sats = [satellite(10 + k, incl, 650, raan0 + d, 0.0, epoch=JUNE) for k, d in enumerate(turns)]
    fleet = Fleet([f"EDGE{k}" for k in range(len(sats))], sats)
    check_against_brute_force(fleet, JUNE, 0.0, 4 * 3600.0, min_passes=5)
    table = eclipse_table(fleet, JUNE, 0.0, 4 * 3600.0)
    dur = table.shadow_end_s - table.shadow_start_s
    assert np.nanmin(dur) < 60  # some really short passes were exercised
    assert (~table.has_umbra).any()  # penumbra-only grazes were exercised
    assert len(set(table.sat.tolist())) < len(sats)  # and satellites with no eclipse


def test_span_edges_are_cut_and_sorted() -> None:
    fleet = Fleet(["A", "B"], [satellite(1, 51.6, 420, 30, 0), satellite(2, 53, 550, 200, 40)])
    table = eclipse_table(fleet, EPOCH, 0.0, 3 * 3600.0)
    assert np.all(np.diff(table.sat) >= 0)
    a = table.sat == 0
    assert np.isnan(table.shadow_start_s[a][0])  # ISS-like starts in shadow
    starts = np.nan_to_num(table.shadow_start_s, nan=-1.0)
    for s in (0, 1):
        assert np.all(np.diff(starts[table.sat == s]) > 0)
    ok = ~np.isnan(table.shadow_start_s) & ~np.isnan(table.umbra_start_s)
    assert np.all(table.umbra_start_s[ok] - table.shadow_start_s[ok] > 5)  # penumbra ~8-13 s
    assert np.all(table.umbra_start_s[ok] - table.shadow_start_s[ok] < 20)


def test_beta_zero_eclipse_at_550_km() -> None:
    # orbit plane containing the Sun (β ≈ 0): docs/sources.md ≈ 35.6 min (±1 min)
    jd, fr = julian_dates(EPOCH, [0.0])
    sun = sun_position_teme_km(jd, fr)[0]
    ra = math.degrees(math.atan2(sun[1], sun[0]))
    # a polar orbit whose node points at the Sun contains the Sun direction: β = 0
    fleet = Fleet(["B0"], [satellite(1, 90.0, 550, ra, 0)])
    from twin.physics.geometry import fleet_beta_angles_rad

    assert abs(math.degrees(fleet_beta_angles_rad(fleet, EPOCH, [0.0])[0, 0])) < 0.5
    passes = [
        p for p in find_eclipses(fleet, EPOCH, 0, 6 * 3600) if p.shadow_start and p.shadow_end
    ]
    assert passes
    for p in passes:
        assert (p.shadow_end - p.shadow_start) / 60 == pytest.approx(35.6, abs=1.0)


def test_dawn_dusk_650_km_eclipse_season_over_a_year() -> None:
    # docs/sources.md (cylindrical shadow): ~88 days/yr, up to ~20 min, ~3.9 % of the year;
    # measured here (conical): 93 days, 20.1 min, 4.1 %. One satellite, whole year: ~0.5 s.
    start = datetime(2026, 1, 1, tzinfo=UTC)
    fleet = sun_synchronous(
        altitude_km=650, ltan_hours=18.0, planes=1, sats_per_plane=1, phasing=0, epoch=start
    )
    year_s = 365 * 86400.0
    table = eclipse_table(fleet, start, 0.0, year_s)
    a = np.nan_to_num(table.shadow_start_s, nan=0.0)
    b = np.nan_to_num(table.shadow_end_s, nan=year_s)
    days = np.unique(np.floor(a / 86400.0)).size
    assert days == pytest.approx(88, abs=15)
    assert np.max(b - a) / 60 == pytest.approx(20, abs=2)
    assert np.sum(b - a) / year_s == pytest.approx(0.039, abs=0.01)


def test_empty_fleet_and_sgp4_failure_give_no_passes() -> None:
    assert len(eclipse_table([], EPOCH, 0.0, 3600.0)) == 0
    decayed = satellite(1, 51.6, -200, 0, 0)  # perigee below ground: SGP4 error, no raise
    table = eclipse_table([decayed, satellite(2, 53.0, 550, 200, 40)], EPOCH, 0.0, 3 * 3600.0)
    assert set(table.sat.tolist()) == {1}


def test_mean_illumination_does_not_depend_on_its_chunks() -> None:
    """Memory stays flat because passes are integrated in chunks; each pass's mean is the
    same bits whatever chunk (or shard) it falls in."""
    from twin.physics.eclipses import mean_illumination

    sats = [satellite(100 + k, 53.0, 550.0, 37.0 * k, 11.0 * k) for k in range(12)]
    sats.append(satellite(200, 97.6, 600.0, 150.0, 0.0))  # near the terminator: grazes
    tab = eclipse_table(sats, EPOCH, 0.0, 86400.0)
    assert tab.sat.size > 150
    a = np.where(np.isnan(tab.shadow_start_s), 0.0, tab.shadow_start_s)
    b = np.where(np.isnan(tab.shadow_end_s), 86400.0, tab.shadow_end_s)
    cols = (tab.sat, a, tab.umbra_start_s, tab.umbra_end_s, b, tab.has_umbra)
    whole = mean_illumination(sats, EPOCH, *cols)
    assert ((whole >= 0.0) & (whole <= 1.0)).all() and (whole > 0.0).mean() > 0.9
    for chunk in (1, 7, 64):
        assert mean_illumination(sats, EPOCH, *cols, chunk_size=chunk).tobytes() == whole.tobytes()
    # and a pass's value does not depend on the other passes computed with it
    half = tab.sat < 6
    part = mean_illumination(sats, EPOCH, *(c[half] for c in cols))
    assert part.tobytes() == whole[half].tobytes()
    # short penumbra phases interpolate their nodes between SGP4 states at their ends: the
    # means stay within 1e-6 of SGP4 at every node (grazes, longer, take SGP4 anyway)
    every_node = mean_illumination(sats, EPOCH, *cols, hermite_max_s=0.0)
    assert np.abs(whole - every_node).max() < 1e-6
    assert (whole != every_node).any()  # the interpolated path was taken


def test_mean_illumination_matches_a_dense_trapezoid_on_sgp4() -> None:
    """Each pass's mean visible share of the disc against a brute force: SGP4 and the Sun
    series every 0.05 s over each penumbra phase, trapezoid rule (umbra counts 0): full
    passes (two ~10 s phases, interpolated nodes) to 1e-8 of the disc, dawn–dusk grazes
    (long phases, SGP4 at every node) to 1e-4."""
    from twin.physics.eclipses import _penumbra_segments, mean_illumination
    from twin.physics.propagate import propagate_points

    sats = [satellite(100 + k, 53.0, 550.0, 37.0 * k, 11.0 * k) for k in range(4)]
    # near the terminator: penumbra-only grazes of ~100 s and ~350 s
    sats += [satellite(200, 97.6, 1000.0, 160.0, 0.0), satellite(201, 97.6, 1000.0, 300.0, 0.0)]
    tab = eclipse_table(sats, EPOCH, 3600.0, 6 * 3600.0)
    whole = np.isfinite(tab.shadow_start_s) & np.isfinite(tab.shadow_end_s)
    whole &= ~tab.has_umbra | (np.isfinite(tab.umbra_start_s) & np.isfinite(tab.umbra_end_s))
    cols = tuple(
        c[whole]
        for c in (tab.sat, tab.shadow_start_s, tab.umbra_start_s, tab.umbra_end_s,
                  tab.shadow_end_s, tab.has_umbra)
    )  # fmt: skip
    assert cols[0].size > 10 and (~cols[5]).any() and cols[5].any()  # both kinds of pass
    got = mean_illumination(sats, EPOCH, *cols)
    lo, hi = _penumbra_segments(*cols[1:])
    seg_sat = np.concatenate([cols[0], cols[0]])
    integral = np.zeros(lo.size)
    for k in range(lo.size):
        if hi[k] <= lo[k]:
            continue
        t = np.linspace(lo[k], hi[k], max(int((hi[k] - lo[k]) / 0.05), 2) + 1)
        r, _, err = propagate_points(sats, np.full(t.size, seg_sat[k]), EPOCH, t)
        assert (err == 0).all()
        sun = sun_position_teme_km(*julian_dates(EPOCH, t))
        frac = illumination_fraction(r, sun, flattening=WGS84_FLATTENING)
        integral[k] = float(np.sum(0.5 * (frac[1:] + frac[:-1]) * np.diff(t)))
    n = cols[0].size
    expected = (integral[:n] + integral[n:]) / (cols[4] - cols[1])
    error = np.abs(got - expected)
    # full passes: two short phases, smooth in time, interpolated nodes
    assert error[cols[5]].max() < 1e-8
    # grazes: the overlap of the discs starts and ends inside the phase (a kink), which
    # 8-point Gauss-Legendre resolves to a few 1e-5 of the disc
    assert error[~cols[5]].max() < 1e-4
