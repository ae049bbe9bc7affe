"""Typed, versioned, frozen events: the source of truth of a twin run.

Every event has the same envelope:

``type``            discriminator (``"launched"``, ``"eclipse_entered"``, ...)
``schema_version``  version of the event schema that wrote it (see :data:`SCHEMA_VERSION`)
``event_id``        deterministic id: ``{run_id}-{offset:010d}``
``run_id``          deterministic id of the run (scenario content + seed)
``seq``             per-satellite sequence number, gap-free from 1 (run-level events count
                    their own sequence under ``satellite = null``)
``offset``          position of the event in the run's log, from 0
``sim_time``        simulation time, UTC ISO-8601 with milliseconds and ``Z``
``satellite``       satellite id, ``null`` for run-level events

Satellite events also carry ``shell`` and ``plane`` so a projection can count by them
without a registry; power-related events carry a :class:`Telemetry` snapshot (state of
charge, generated and consumed power, accelerators online).

Bytes go through one codec (:func:`encode` / :func:`decode`). Older schema versions are
upcast on decode (:data:`UPCASTERS`); newer versions, unknown types and malformed bytes
raise :class:`twin.errors.DecodeError` with a short reason code, which consumers use to
dead-letter the message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from twin.errors import DecodeError

SCHEMA_VERSION = 2
"""Current schema version. v1 (pre-release) carried ``battery_soc_pct`` (0–100) instead of
``soc`` (0–1) and had no ``plane`` on satellite events."""


class _Frozen(BaseModel):
    # JSON allows NaN and Infinity tokens; no field of an event may hold either.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class EventBase(_Frozen):
    type: str
    schema_version: int = SCHEMA_VERSION
    event_id: str
    run_id: str
    seq: int = Field(ge=1)
    offset: int = Field(ge=0)
    sim_time: str
    satellite: str | None = None


class SatelliteEvent(EventBase):
    satellite: str
    shell: int = Field(ge=0)
    plane: int = Field(ge=0)


class Telemetry(_Frozen):
    """Power snapshot at the event: SoC 0..1, power in W, accelerators computing, and the
    energy stored in the battery (Wh; ``None`` in logs written before it was reported).

    ``power_generated_w`` is what the array can deliver (its *available* output), not what is
    used: the fold splits it into harvested and curtailed energy from the change of
    ``stored_wh`` between two telemetry events (:mod:`twin.projections.fleet`)."""

    soc: float = Field(ge=0.0, le=1.0)
    power_generated_w: float = Field(ge=0.0)
    power_consumed_w: float = Field(ge=0.0)
    compute_online: int = Field(ge=0)
    stored_wh: float | None = Field(default=None, ge=0.0)


class _WithTelemetry(SatelliteEvent):
    telemetry: Telemetry


# ---------------------------------------------------------------- run-level events


class ShellInfo(_Frozen):
    shell: int
    kind: str
    altitude_km: float
    inclination_deg: float
    planes: int
    sats_per_plane: int


class ScenarioStarted(EventBase):
    type: Literal["scenario_started"] = "scenario_started"
    scenario: str
    seed: int
    epoch: str
    until: str
    satellites_planned: int
    shells: tuple[ShellInfo, ...]
    accelerators_per_satellite: int
    tflops_per_accelerator: float
    accelerator_w: float
    robots: int
    spares: int


class ScenarioFinished(EventBase):
    type: Literal["scenario_finished"] = "scenario_finished"
    events: int
    satellites_by_state: dict[str, int]


# ---------------------------------------------------------------- lifecycle events


class Launched(SatelliteEvent):
    type: Literal["launched"] = "launched"
    launch_id: int
    vehicle: str


class LaunchFailed(SatelliteEvent):
    type: Literal["launch_failed"] = "launch_failed"
    launch_id: int
    vehicle: str


class Deployed(SatelliteEvent):
    """Arrays out, bus on: energy is accounted from here, for every satellite. Its telemetry
    is optional only so that logs written before it was reported still decode."""

    type: Literal["deployed"] = "deployed"
    telemetry: Telemetry | None = None


class OrbitRaisingStarted(SatelliteEvent):
    type: Literal["orbit_raising_started"] = "orbit_raising_started"
    target_altitude_km: float


class OrbitRaised(SatelliteEvent):
    type: Literal["orbit_raised"] = "orbit_raised"
    altitude_km: float


class PoweredUp(_WithTelemetry):
    type: Literal["powered_up"] = "powered_up"


class EclipseEntered(_WithTelemetry):
    type: Literal["eclipse_entered"] = "eclipse_entered"
    umbra: bool = True
    """False for a penumbra-only graze."""


class EclipseExited(_WithTelemetry):
    type: Literal["eclipse_exited"] = "eclipse_exited"
    duration_s: float


class LoadShed(_WithTelemetry):
    type: Literal["load_shed"] = "load_shed"
    reason: Literal["battery_floor"]


class LoadRestored(_WithTelemetry):
    type: Literal["load_restored"] = "load_restored"
    shed_s: float


class FaultDetected(_WithTelemetry):
    type: Literal["fault_detected"] = "fault_detected"
    component: str
    kind: Literal["transient", "permanent"]
    in_saa: bool = False


class Rebooted(_WithTelemetry):
    type: Literal["rebooted"] = "rebooted"
    downtime_s: float


class RepairRequested(SatelliteEvent):
    type: Literal["repair_requested"] = "repair_requested"
    component: str
    queue_length: int
    """Satellites waiting for a robot of this pool, this one included."""


class RepairRobotDispatched(SatelliteEvent):
    type: Literal["repair_robot_dispatched"] = "repair_robot_dispatched"
    robot: str
    travel_s: float
    phase_gap_deg: float
    waited_s: float


class RepairRobotArrived(SatelliteEvent):
    type: Literal["repair_robot_arrived"] = "repair_robot_arrived"
    robot: str


class RepairCompleted(_WithTelemetry):
    type: Literal["repair_completed"] = "repair_completed"
    robot: str
    component: str
    spares_left: int
    time_to_repair_s: float
    """From fault detection to completion."""


class DeorbitStarted(_WithTelemetry):
    type: Literal["deorbit_started"] = "deorbit_started"
    reason: Literal["end_of_life", "unrepairable"]


class Deorbited(SatelliteEvent):
    type: Literal["deorbited"] = "deorbited"


Event = Annotated[
    ScenarioStarted
    | ScenarioFinished
    | Launched
    | LaunchFailed
    | Deployed
    | OrbitRaisingStarted
    | OrbitRaised
    | PoweredUp
    | EclipseEntered
    | EclipseExited
    | LoadShed
    | LoadRestored
    | FaultDetected
    | Rebooted
    | RepairRequested
    | RepairRobotDispatched
    | RepairRobotArrived
    | RepairCompleted
    | DeorbitStarted
    | Deorbited,
    Field(discriminator="type"),
]

_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
EVENT_TYPES: dict[str, type[EventBase]] = {
    cls.model_fields["type"].default: cls
    for cls in (
        ScenarioStarted,
        ScenarioFinished,
        Launched,
        LaunchFailed,
        Deployed,
        OrbitRaisingStarted,
        OrbitRaised,
        PoweredUp,
        EclipseEntered,
        EclipseExited,
        LoadShed,
        LoadRestored,
        FaultDetected,
        Rebooted,
        RepairRequested,
        RepairRobotDispatched,
        RepairRobotArrived,
        RepairCompleted,
        DeorbitStarted,
        Deorbited,
    )
}


# ---------------------------------------------------------------- codec


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1 → v2: ``battery_soc_pct`` (0–100) became ``telemetry.soc`` (0–1); ``plane`` added."""
    out = dict(data)
    telemetry = out.get("telemetry")
    if isinstance(telemetry, dict) and "battery_soc_pct" in telemetry:
        telemetry = dict(telemetry)
        telemetry["soc"] = round(float(telemetry.pop("battery_soc_pct")) / 100.0, 6)
        out["telemetry"] = telemetry
    if out.get("satellite") is not None and "plane" not in out:
        out["plane"] = 0
    out["schema_version"] = 2
    return out


#: ``UPCASTERS[v]`` turns a decoded dict of version ``v`` into version ``v + 1``.
UPCASTERS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}


def encode(event: EventBase) -> bytes:
    """The one way an event becomes bytes: compact JSON, fields in schema order."""
    return event.model_dump_json().encode()


def to_json(event: EventBase) -> str:
    """The event as a JSON string (the same text as :func:`encode`)."""
    return event.model_dump_json()


def upcast(data: dict[str, Any]) -> dict[str, Any]:
    """Bring a decoded dict up to :data:`SCHEMA_VERSION`; raise DecodeError if impossible."""
    version = data.get("schema_version")
    if not isinstance(version, int) or version < 1:
        raise DecodeError("bad_schema_version", f"schema_version={version!r}")
    if version > SCHEMA_VERSION:
        raise DecodeError(
            "newer_schema_version",
            f"schema_version {version} > supported {SCHEMA_VERSION}; upgrade the consumer",
        )
    while version < SCHEMA_VERSION:
        data = UPCASTERS[version](data)
        version = data["schema_version"]
    return data


def decode(raw: bytes | str) -> Event:
    """Bytes (or text) → a typed event, upcasting older versions.

    Raises :class:`DecodeError` with ``reason`` one of ``invalid_json``, ``not_an_object``,
    ``unknown_type``, ``bad_schema_version``, ``newer_schema_version``, ``invalid_event``.
    """
    try:  # fast path: current-version events parse and validate in pydantic-core
        event = _ADAPTER.validate_json(raw)
        if event.schema_version == SCHEMA_VERSION:
            return event
    except ValidationError:
        pass
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DecodeError("invalid_json", str(exc)) from None
    if not isinstance(data, dict):
        raise DecodeError("not_an_object", f"expected a JSON object, got {type(data).__name__}")
    return _from_dict(data)


def _from_dict(data: dict[str, Any]) -> Event:
    if data.get("type") not in EVENT_TYPES:
        raise DecodeError("unknown_type", f"type={data.get('type')!r}")
    if data.get("schema_version") != SCHEMA_VERSION:
        data = upcast(data)
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise DecodeError("invalid_event", f"{where}: {first['msg']}") from None


def json_schema() -> dict[str, Any]:
    """JSON Schema of the event union, for consumers in other languages."""
    schema = _ADAPTER.json_schema()
    schema["title"] = "OrbitalTwinEvent"
    schema["description"] = (
        f"Orbital Twin event, schema_version {SCHEMA_VERSION}. Discriminated on 'type'."
    )
    return schema
