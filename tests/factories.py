"""Build valid events with little typing: envelope, offsets and per-satellite seq are tracked.

    f = EventFactory()
    log = [f.scenario_started(satellites_planned=2)]
    log += f.to_operational("sat-0", t_s=60.0)
    log.append(f.event("eclipse_entered", "sat-0", t_s=600.0, compute_online=8))

Fields a test does not name get plausible defaults (:data:`DEFAULTS`); telemetry fields
(``soc``, ``power_generated_w``, ``power_consumed_w``, ``compute_online``) can be passed
flat and are gathered into the event's :class:`~twin.events.Telemetry`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sgp4.api import WGS72, Satrec

from twin.constants import MU_KM3_S2
from twin.events import EVENT_TYPES, ShellInfo, Telemetry
from twin.timeutil import format_sim, parse_time

EPOCH = "2026-11-23T00:00:00.000Z"
TELEMETRY_FIELDS = ("soc", "power_generated_w", "power_consumed_w", "compute_online", "stored_wh")
TELEMETRY_DEFAULTS: dict[str, Any] = {
    "soc": 0.9,
    "power_generated_w": 1000.0,
    "power_consumed_w": 800.0,
    "compute_online": 8,
}
DEFAULTS: dict[str, dict[str, Any]] = {
    "launched": {"launch_id": 1, "vehicle": "starship"},
    "launch_failed": {"launch_id": 1, "vehicle": "starship"},
    "orbit_raising_started": {"target_altitude_km": 550.0},
    "orbit_raised": {"altitude_km": 550.0},
    "eclipse_entered": {"umbra": True},
    "eclipse_exited": {"duration_s": 0.0},
    "load_shed": {"reason": "battery_floor"},
    "load_restored": {"shed_s": 0.0},
    "fault_detected": {"component": "accelerator", "kind": "transient"},
    "rebooted": {"downtime_s": 0.0},
    "repair_requested": {"component": "accelerator", "queue_length": 1},
    "repair_robot_dispatched": {
        "robot": "robot-0",
        "travel_s": 0.0,
        "phase_gap_deg": 0.0,
        "waited_s": 0.0,
    },
    "repair_robot_arrived": {"robot": "robot-0"},
    "repair_completed": {
        "robot": "robot-0",
        "component": "accelerator",
        "spares_left": 0,
        "time_to_repair_s": 0.0,
    },
    "deorbit_started": {"reason": "end_of_life"},
    "scenario_finished": {"events": 0, "satellites_by_state": {}},
    "contact_started": {"station": "svalbard"},
    "contact_ended": {
        "station": "svalbard",
        "duration_s": 0.0,
        "inference_served": 0.0,
        "data_gb": 0.0,
    },
    "job_submitted": {
        "job": "job-1",
        "job_class": "llm",
        "satellites": 2,
        "accelerators": 16,
        "work_accelerator_s": 3600.0,
    },
    "job_started": {
        "job": "job-1",
        "job_class": "llm",
        "members": ("sat-1", "sat-2"),
        "cluster": "S0-P00-C0",
        "wait_s": 0.0,
        "restart": False,
        "saved_accelerator_s": 0.0,
    },
    "job_checkpointed": {
        "job": "job-1",
        "job_class": "llm",
        "saved_accelerator_s": 0.0,
        "gained_accelerator_s": 0.0,
    },
    "job_interrupted": {
        "job": "job-1",
        "job_class": "llm",
        "cause_satellite": "sat-1",
        "cause_event": "fault_detected",
        "lost_accelerator_s": 0.0,
        "saved_accelerator_s": 0.0,
    },
    "job_completed": {
        "job": "job-1",
        "job_class": "llm",
        "gained_accelerator_s": 0.0,
        "work_accelerator_s": 3600.0,
        "completion_s": 0.0,
    },
    "inference_reported": {
        "inference_class": "chat",
        "region": "eu",
        "interval_s": 3600.0,
        "requests": 0.0,
        "served": 0.0,
        "unserved": 0.0,
        "served_accelerator_s": 0.0,
    },
    "spares_changed": {"change": -1, "spares_left": 0, "cause": "repair"},
}
#: Run-level types besides scenario_started/finished (no satellite); job types use a stream
#: of their own, keyed by the job id.
RUN_LEVEL_TYPES = frozenset(t for t, cls in EVENT_TYPES.items() if "shell" not in cls.model_fields)
SHELL = ShellInfo(
    shell=0, kind="walker", altitude_km=550.0, inclination_deg=53.0, planes=2, sats_per_plane=2
)


class EventFactory:
    """Makes consecutive events of one run: offsets from 0, seq per satellite from 1."""

    def __init__(self, run_id: str = "test-run", epoch: str = EPOCH) -> None:
        self.run_id = run_id
        self.epoch = epoch
        self._epoch_dt = parse_time(epoch)
        self.offset = 0
        self.seq: defaultdict[str | None, int] = defaultdict(int)
        self.placement: dict[str, tuple[int, int]] = {}

    def time(self, t_s: float) -> str:
        """Wire time ``t_s`` seconds after the epoch."""
        return format_sim(self._epoch_dt, t_s)

    def event(
        self,
        type_: str,
        satellite: str | None = None,
        *,
        t_s: float = 0.0,
        shell: int | None = None,
        plane: int | None = None,
        **fields: Any,
    ) -> Any:
        """The next event of type ``type_`` at ``t_s`` s after the epoch (typed event model)."""
        cls = EVENT_TYPES[type_]
        data: dict[str, Any] = dict(DEFAULTS.get(type_, {}))
        telemetry = {k: fields.pop(k) for k in TELEMETRY_FIELDS if k in fields}
        has = "telemetry" in cls.model_fields
        required = has and cls.model_fields["telemetry"].is_required()
        if has and (required or telemetry) and "telemetry" not in fields:
            data["telemetry"] = Telemetry(**{**TELEMETRY_DEFAULTS, **telemetry})
        data.update(fields)
        if satellite is not None:
            default_place = self.placement.get(satellite, (0, 0))
            place = (
                default_place[0] if shell is None else shell,
                default_place[1] if plane is None else plane,
            )
            self.placement[satellite] = place
            data["shell"], data["plane"] = place
        stream = satellite if satellite is not None else data.get("job")
        if stream is None and type_ == "spares_changed" and data.get("pool"):
            stream = f"{self.run_id}/{data['pool']}"  # a robot pool's stock: its own stream
        self.seq[stream] += 1
        event = cls(
            type=type_,
            event_id=f"{self.run_id}-{self.offset:010d}",
            run_id=self.run_id,
            seq=self.seq[stream],
            offset=self.offset,
            sim_time=self.time(t_s),
            satellite=satellite,
            **data,
        )
        self.offset += 1
        return event

    def scenario_started(self, *, t_s: float = 0.0, **fields: Any) -> Any:
        """``scenario_started`` with one small shell; override any field."""
        data: dict[str, Any] = {
            "scenario": "test",
            "seed": 1,
            "epoch": self.epoch,
            "until": self.time(86400.0),
            "satellites_planned": 4,
            "shells": (SHELL,),
            "accelerators_per_satellite": 8,
            "tflops_per_accelerator": 1000.0,
            "accelerator_w": 100.0,
            "robots": 1,
            "spares": 2,
        }
        data.update(fields)
        return self.event("scenario_started", t_s=t_s, **data)

    def to_operational(
        self,
        satellite: str,
        *,
        t_s: float = 0.0,
        shell: int | None = None,
        plane: int | None = None,
        **telemetry: Any,
    ) -> list[Any]:
        """launched → deployed → raising → commissioning → operational, one second apart;
        ``telemetry`` fields go to ``powered_up``."""
        steps = ("launched", "deployed", "orbit_raising_started", "orbit_raised")
        out = [
            self.event(t, satellite, t_s=t_s + i, shell=shell, plane=plane)
            for i, t in enumerate(steps)
        ]
        out.append(self.event("powered_up", satellite, t_s=t_s + len(steps), **telemetry))
        return out


def satrec_from_elements(
    satnum: int,
    epoch: datetime,
    a_km: float,
    ecc: float,
    inc_deg: float,
    raan_deg: float,
    argp_deg: float,
    anomaly_deg: float,
    bstar: float = 0.0,
) -> Satrec:
    """A WGS-72 SGP4 satellite from Keplerian elements at ``epoch`` (semi-major axis in km,
    angles in degrees), for physics tests."""
    sat = Satrec()
    sat.sgp4init(
        WGS72, "i", satnum, (epoch - datetime(1949, 12, 31, tzinfo=UTC)).total_seconds() / 86400,
        bstar, 0.0, 0.0, ecc, math.radians(argp_deg), math.radians(inc_deg),
        math.radians(anomaly_deg), math.sqrt(MU_KM3_S2 / a_km**3) * 60, math.radians(raan_deg),
    )  # fmt: skip
    return sat
