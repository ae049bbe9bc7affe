"""Small scenarios for engine tests, written as TOML like a user would."""

from __future__ import annotations

from benchmarks.scale_bench import BUS

BASE = """
[scenario]
name = "one-sat"
epoch = "2026-11-23T00:00:00Z"
duration = "{duration}"
seed = 7

[[constellation.shells]]
kind = "walker"
altitude_km = 550
inclination_deg = 53
planes = {planes}
sats_per_plane = {sats_per_plane}
phasing = 0

{bus}

[launch]
vehicle = "Falcon 9"
sats_per_launch = {sats_per_launch}
cadence = "12h"
first_launch = "1h"
deployment = "1h"
orbit_raising = "1d"
commissioning = "12h"
"""

FAULTS = """
[[reliability.components]]
name = "accelerator"
weibull_shape = 1.0
weibull_scale_years = {scale_years}
repairable = true

[repair]
robots_per = "plane"
robots = 1
dispatch = "fifo"
altitude_offset_km = 20.0
duration = "6h"
spares_initial = {spares}
"""


def scenario_text(
    *,
    duration: str = "3d",
    planes: int = 1,
    sats_per_plane: int = 1,
    battery_wh: float = 15000.0,
    sats_per_launch: int = 1,
    faults_scale_years: float | None = None,
    spares: int = 5,
    extra: str = "",
) -> str:
    text = BASE.format(
        duration=duration,
        planes=planes,
        sats_per_plane=sats_per_plane,
        bus=BUS.format(battery_wh=battery_wh).strip(),
        sats_per_launch=sats_per_launch,
    )
    if faults_scale_years is not None:
        text += FAULTS.format(scale_years=faults_scale_years, spares=spares)
    return text + extra
