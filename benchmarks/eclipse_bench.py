"""Eclipse search cost vs raw SGP4 propagation of the same fleet.

``python -m benchmarks.eclipse_bench [n_sats] [hours] [repeats]`` prints a JSON dict with
``raw_propagation_s`` (``SatrecArray.sgp4`` on a 60 s grid, all satellites × all times),
``eclipse_s`` (:func:`twin.physics.eclipses.eclipse_table` over the same span) and their ratio
``eclipse_cost_ratio`` (target ≤ 0.5). The fleet is a Walker-like shell at 550 km / 53°
plus a dawn–dusk sun-synchronous shell at 650 km, built with ``sgp4init`` directly.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime

import numpy as np
from sgp4.api import WGS72, Satrec, SatrecArray

from twin.physics.eclipses import eclipse_table
from twin.physics.orbits import Fleet
from twin.timeutil import julian_dates

EPOCH = datetime(2026, 11, 23, tzinfo=UTC)
MU_KM3_S2 = 398600.4418
EARTH_RADIUS_KM = 6378.137


def _circular(
    satnum: int, altitude_km: float, inclination_deg: float, raan_deg: float, anomaly_deg: float
) -> Satrec:
    sat = Satrec()
    a = EARTH_RADIUS_KM + altitude_km
    n_rad_min = np.sqrt(MU_KM3_S2 / a**3) * 60.0
    epoch_days = (EPOCH - datetime(1949, 12, 31, tzinfo=UTC)).total_seconds() / 86400.0
    sat.sgp4init(
        WGS72, "i", satnum, epoch_days, 0.0, 0.0, 0.0, 0.0, 0.0,
        np.radians(inclination_deg), np.radians(anomaly_deg), n_rad_min, np.radians(raan_deg),
    )  # fmt: skip
    return sat


def bench_fleet(n_sats: int) -> Fleet:
    """~80 % Walker shell (550 km, 53°, 72 planes) and ~20 % dawn–dusk SSO (650 km, 97.99°)."""
    n_walker = int(round(n_sats * 0.8))
    planes = 72
    sats, names = [], []
    for k in range(n_walker):
        p, j = k % planes, k // planes
        per_plane = int(np.ceil(n_walker / planes))
        sats.append(_circular(k + 1, 550.0, 53.0, 360.0 * p / planes, 360.0 * j / per_plane + p))
        names.append(f"W{k}")
    n_sso = n_sats - n_walker
    # RAAN of a 06:00 LTAN plane on 2026-11-23: Sun RA ~238.6°, minus 90°
    for k in range(n_sso):
        raan = 148.6 + (k % 4) * 0.5
        sats.append(_circular(n_walker + k + 1, 650.0, 97.99, raan, 360.0 * k / max(n_sso, 1)))
        names.append(f"S{k}")
    return Fleet(names, sats)


def run(n_sats: int = 10000, hours: float = 24, repeats: int = 1) -> dict[str, float]:
    """Time raw 60 s-grid propagation and the eclipse search for one fleet.

    With ``repeats`` > 1 both are run alternately that many times and the fastest of each
    is kept (robust against other load on the machine).
    """
    fleet = bench_fleet(n_sats)
    span_s = hours * 3600.0
    seconds = np.arange(0.0, span_s + 1.0, 60.0)
    jd, fr = julian_dates(EPOCH, seconds)
    array = SatrecArray(fleet.satrecs)
    raw, ecl, passes = np.inf, np.inf, 0
    for _ in range(max(repeats, 1)):
        t0 = time.perf_counter()
        array.sgp4(jd, fr)
        raw = min(raw, time.perf_counter() - t0)
        t0 = time.perf_counter()
        table = eclipse_table(fleet, EPOCH, 0.0, span_s)
        ecl = min(ecl, time.perf_counter() - t0)
        passes = len(table)
    return {
        "n_sats": float(n_sats),
        "hours": float(hours),
        "passes": float(passes),
        "raw_propagation_s": raw,
        "eclipse_s": ecl,
        "eclipse_cost_ratio": ecl / raw,
    }


if __name__ == "__main__":
    args = [float(a) for a in sys.argv[1:]]
    result = run(
        int(args[0]) if args else 10000,
        args[1] if len(args) > 1 else 24,
        int(args[2]) if len(args) > 2 else 1,
    )
    print(json.dumps(result, indent=2))
