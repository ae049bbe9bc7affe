"""Small scenarios for engine tests, written as TOML like a user would."""

from __future__ import annotations

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

[bus]
array_area_m2 = 55.0
array_efficiency = 0.22
battery_wh = {battery_wh}
max_depth_of_discharge = 0.35
bus_idle_w = 800.0
accelerators = 8
accelerator_w = 1000.0
accelerator_tflops = 918.0
radiator_area_m2 = 12.0
radiator_emissivity = 0.92
radiator_absorptivity = 0.15
radiator_temperature_k = 293.15

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
        battery_wh=battery_wh,
        sats_per_launch=sats_per_launch,
    )
    if faults_scale_years is not None:
        text += FAULTS.format(scale_years=faults_scale_years, spares=spares)
    return text + extra
