"""The cyclic collector during a run (services/collector.py): off, survivors frozen at each
step. That is only sound if a run makes almost no cyclic garbage: measured here on a run
with everything that interrupts processes (load shedding on a small battery, permanent faults
with repair robots and spares, upsets)."""

from __future__ import annotations

import gc
from typing import Any

from engine_scenarios import scenario_text

from services import collector
from services.cli.run import simulate
from twin.sim.engine import Engine, config_from_scenario
from twin.sim.scenario import parse_scenario

UPSETS = """
[reliability.upsets]
rate_per_sat_day = 2.0
saa_multiplier = 5.0
reboot = "10m"
"""

#: two planes of six on a small battery (load shedding), fast-failing accelerators with one
#: robot per plane and 3 spares (repairs, waits), for 8 days
EVERY_INTERRUPTION: dict[str, Any] = {
    "duration": "8d",
    "planes": 2,
    "sats_per_plane": 6,
    "sats_per_launch": 12,
    "battery_wh": 3000.0,
    "faults_scale_years": 0.02,
    "spares": 3,
}


def test_a_run_makes_almost_no_cyclic_garbage_and_leaves_the_collector_as_it_was() -> None:
    text = scenario_text(**EVERY_INTERRUPTION, extra=UPSETS)
    config = config_from_scenario(parse_scenario(text, "test.toml"))
    counts: dict[str, int] = {}

    def sink(event: object) -> None:
        kind = event.type  # type: ignore[attr-defined]
        counts[kind] = counts.get(kind, 0) + 1

    engine = Engine(config, 7, sink)
    gc.collect()
    assert gc.isenabled()
    simulate(engine, config.until_s, lambda: None, live=False)
    # what the run left for the collector: cycles that died while it was off
    garbage = gc.collect()
    events = sum(counts.values())
    for kind in ("load_shed", "fault_detected", "repair_completed", "rebooted"):
        assert counts.get(kind, 0) > 0, (kind, counts)
    assert gc.isenabled() and gc.get_freeze_count() == 0
    assert garbage < max(200, events // 100), (garbage, events)


def test_settle_freezes_survivors_and_quiet_restores_the_collector() -> None:
    gc.collect()
    with collector.quiet():
        assert not gc.isenabled()
        kept = [[i] for i in range(1000)]
        collector.settle()
        assert gc.get_freeze_count() >= len(kept)
        assert gc.get_count()[0] == 0
    assert gc.isenabled() and gc.get_freeze_count() == 0
