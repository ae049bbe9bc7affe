"""Orbit cases the eclipse search is validated on against DE421, and the comparison itself.

``python tests/validation_cases.py`` (from the repository root) prints the tables of
``docs/validation.md``; ``tests/test_eclipse_reference.py`` asserts the same numbers.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sgp4.api import WGS72, Satrec

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reference import RefPass, depth_km, reference_passes  # noqa: E402

from twin.constants import WGS84_FLATTENING  # noqa: E402
from twin.physics.eclipses import eclipse_table  # noqa: E402

MU_KM3_S2 = 398600.4418
EARTH_RADIUS_KM = 6378.137
WINDOW_S = 48 * 3600.0
BOUND_TOL_S = 0.5
GRAZE_TOL_KM = 0.050
MIN_PASS_S = 60.0


@dataclass(frozen=True)
class OrbitCase:
    name: str
    epoch: datetime
    perigee_km: float
    apogee_km: float
    inclination_deg: float
    raan_deg: float
    argp_deg: float
    anomaly_deg: float = 0.0
    note: str = ""

    def satrec(self) -> Satrec:
        a = EARTH_RADIUS_KM + 0.5 * (self.perigee_km + self.apogee_km)
        e = (self.apogee_km - self.perigee_km) / (2 * a)
        n_rad_min = math.sqrt(MU_KM3_S2 / a**3) * 60.0
        days = (self.epoch - datetime(1949, 12, 31, tzinfo=UTC)).total_seconds() / 86400.0
        sat = Satrec()
        sat.sgp4init(
            WGS72, "i", 1, days, 0.0, 0.0, 0.0, e, math.radians(self.argp_deg),
            math.radians(self.inclination_deg), math.radians(self.anomaly_deg), n_rad_min,
            math.radians(self.raan_deg),
        )  # fmt: skip
        return sat


def _utc(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)


MARCH_EQUINOX = _utc(2026, 3, 19, 12)
JUNE_SOLSTICE = _utc(2026, 6, 20, 0)

CASES = (
    OrbitCase("LEO 420 km 51.6°", _utc(2026, 11, 23), 420, 420, 51.64, 200.0, 0.0),
    OrbitCase("SSO 650 km 10:30 LTAN", JUNE_SOLSTICE, 650, 650, 97.99, 247.0, 0.0),
    # dawn–dusk (LTAN 18:00): RAAN = Sun RA + 90° at the equinox (out of season: β ≈ 82°) and
    # at the June solstice (in season: β ≈ 59° < 66.6°, eclipses of up to ~20 min)
    OrbitCase("SSO dawn–dusk, out of season", MARCH_EQUINOX, 650, 650, 97.99, 89.0, 0.0),
    OrbitCase("SSO dawn–dusk, in season", JUNE_SOLSTICE, 650, 650, 97.99, 180.0, 0.0),
    OrbitCase("GEO, March equinox", MARCH_EQUINOX, 35786, 35786, 0.05, 0.0, 0.0),
    OrbitCase("Molniya 63.4°", MARCH_EQUINOX, 600, 39750, 63.4, 10.0, 270.0),
    OrbitCase("GTO 28.5°", MARCH_EQUINOX, 250, 35786, 28.5, 20.0, 170.0),
    OrbitCase("GPS 55°", MARCH_EQUINOX, 20180, 20180, 55.0, 5.0, 0.0),
)


@dataclass
class Comparison:
    case: OrbitCase
    flattening: float
    ref: list[RefPass]
    matched: list[tuple[RefPass, tuple[float, float, float, float]]] = field(default_factory=list)
    twin_only: list[tuple[float, float, float]] = field(default_factory=list)
    """(start, end, reference depth km over the twin's pass) for passes the reference lacks."""
    ref_only: list[RefPass] = field(default_factory=list)

    def bound_errors_s(self, min_duration_s: float = MIN_PASS_S) -> np.ndarray:
        """Twin − reference for every bound of matched passes ≥ ``min_duration_s``."""
        out = []
        for ref, tw in self.matched:
            if ref.shadow_end - ref.shadow_start < min_duration_s:
                continue
            pairs = [(ref.shadow_start, tw[0]), (ref.shadow_end, tw[3])]
            if ref.umbra_start is not None and not math.isnan(tw[1]):
                pairs.append((ref.umbra_start, tw[1]))
            if ref.umbra_end is not None and not math.isnan(tw[2]):
                pairs.append((ref.umbra_end, tw[2]))
            out += [t - r for r, t in pairs]
        return np.asarray(out)


def compare(case: OrbitCase, flattening: float) -> Comparison:
    sat = case.satrec()
    ref, g = reference_passes(sat, case.epoch, 0.0, WINDOW_S, flattening=flattening)
    tab = eclipse_table([sat], case.epoch, 0.0, WINDOW_S, flattening=flattening)
    cmp = Comparison(case, flattening, ref)
    used = set()
    for k in range(len(tab)):
        a, b = float(tab.shadow_start_s[k]), float(tab.shadow_end_s[k])
        if math.isnan(a) or math.isnan(b):
            continue  # cut by the window
        tw = (a, float(tab.umbra_start_s[k]), float(tab.umbra_end_s[k]), b)
        hit = [i for i, r in enumerate(ref) if r.shadow_start < b and a < r.shadow_end]
        if hit:
            used.add(hit[0])
            cmp.matched.append((ref[hit[0]], tw))
        else:
            cmp.twin_only.append((a, b, depth_km(g, sat, case.epoch, a, b)))
    cmp.ref_only = [r for i, r in enumerate(ref) if i not in used]
    return cmp


def _fmt(x: float) -> str:
    return f"{x:+.3f}" if np.isfinite(x) else "—"


def table(flattening: float) -> str:
    lines = [
        "| orbit | epoch | passes (ref) | ≥ 60 s | max \\|Δ bound\\| s | mean Δ s "
        "| twin-only (depth km) | missed (depth km) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for case in CASES:
        c = compare(case, flattening)
        err = c.bound_errors_s()
        long = sum(1 for r, _ in c.matched if r.shadow_end - r.shadow_start >= MIN_PASS_S)
        worst = float(np.max(np.abs(err))) if err.size else float("nan")
        mean = float(np.mean(err)) if err.size else float("nan")
        only = ", ".join(f"{d:+.3f}" for _, _, d in c.twin_only) or "0"
        missed = ", ".join(f"{r.min_penumbra_km:+.3f}" for r in c.ref_only) or "0"
        lines.append(
            f"| {case.name} | {case.epoch:%Y-%m-%d} | {len(c.ref)} | {long} | "
            f"{_fmt(worst)} | {_fmt(mean)} | {only} | {missed} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    for f, label in ((WGS84_FLATTENING, "oblate (WGS-84)"), (0.0, "spherical")):
        print(f"\n### Earth {label}\n")
        print(table(f))
