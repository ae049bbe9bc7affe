"""Typed, versioned, frozen events: the source of truth of a twin run.

Every event has the same envelope:

``type``            discriminator (``"launched"``, ``"eclipse_entered"``, ...)
``schema_version``  version of the event schema that wrote it (see :data:`SCHEMA_VERSION`)
``event_id``        deterministic id: ``{run_id}-{offset:010d}``
``run_id``          deterministic id of the run (scenario content + seed)
``seq``             sequence number within the event's stream (:func:`stream_key`: its
                    satellite, job, robot pool's stock or the run), gap-free from 1
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
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic_core import to_json as _to_json

from twin.errors import DecodeError

SCHEMA_VERSION = 4
"""Current schema version. v1 (pre-release) carried ``battery_soc_pct`` (0–100) instead of
``soc`` (0–1) and had no ``plane`` on satellite events. v2 had no launch mass: v3 adds
``mass_kg`` to ``launched``/``launch_failed`` and the campaign (``launch``) to
``scenario_started``, both ``null`` when unknown (a v2 event is upcast with ``null``). v4
adds spares per robot pool (``repair.spares_per = "pool"``): ``pool`` on ``spares_changed``
and ``repair_completed`` and ``spares_pools`` on ``scenario_started``, ``null`` for the one
fleet-wide stock (what every v3 log had, so a v3 event is upcast with ``null``)."""


class _Frozen(BaseModel):
    # JSON allows NaN and Infinity tokens; no field of an event may hold either.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


M = TypeVar("M", bound=_Frozen)


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


class LaunchCampaign(_Frozen):
    """The launch campaign as planned at the start (``scenario_started.launch``): what
    flies, how much of it per flight and how often. ``satellite_mass_kg`` and ``payload_t``
    are ``null`` when the scenario does not give them."""

    vehicle: str
    satellites: int = Field(ge=0)
    """Satellites to launch (those in orbit at the epoch are not counted)."""
    sats_per_flight: int = Field(ge=1)
    flights: int = Field(ge=0)
    cadence_s: float = Field(ge=0)
    first_launch_s: float = Field(ge=0)
    ready_s: float = Field(ge=0)
    """Sim seconds until the last flight's satellites are in service (the fleet is built)."""
    satellite_mass_kg: float | None = Field(default=None, gt=0)
    payload_t: float | None = Field(default=None, gt=0)


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
    """Spares in stock at the start: the fleet's, or with ``spares_pools`` the sum over the
    pools (each starts with ``spares / spares_pools``)."""
    launch: LaunchCampaign | None = None
    """``null`` without a ``[launch]`` table (every satellite in orbit at the epoch)."""
    spares_pools: int | None = Field(default=None, ge=0)
    """Robot pools that each hold their own stock (``repair.spares_per = "pool"``); ``null``:
    one fleet-wide stock."""


class ScenarioFinished(EventBase):
    type: Literal["scenario_finished"] = "scenario_finished"
    events: int
    satellites_by_state: dict[str, int]


# ---------------------------------------------------------------- lifecycle events


class Launched(SatelliteEvent):
    type: Literal["launched"] = "launched"
    launch_id: int
    """The flight, from 1; 0 for a satellite already in orbit at the epoch."""
    vehicle: str
    mass_kg: float | None = Field(default=None, gt=0)
    """The satellite's launch mass; ``null`` when the scenario does not give it."""
    flight_lead: bool | None = None
    """True for the first satellite of its flight: the one that counts the flight, so that
    folds of separate partitions add up to the flights flown; ``null`` before v3."""


class LaunchFailed(SatelliteEvent):
    type: Literal["launch_failed"] = "launch_failed"
    launch_id: int
    vehicle: str
    mass_kg: float | None = Field(default=None, gt=0)
    flight_lead: bool | None = None


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
    """Spares left in the stock the part came from: the fleet's, or the robot's pool's."""
    time_to_repair_s: float
    """From fault detection to completion."""
    pool: str | None = None
    """The robot pool whose stock ``spares_left`` is (``spares_per = "pool"``); ``null``
    for the fleet-wide stock."""


class SparesChanged(EventBase):
    """A stock of spare parts changed: a robot took one for a repair, or a resupply
    arrived. The fleet-wide stock (``pool = null``) is run-level: keyed by the run id, so
    the fold holding the run knows it exactly however satellites are spread over
    partitions. A robot pool's own stock (``repair.spares_per = "pool"``) is its own stream
    (:func:`stream_key`: ``{run_id}/{pool}``, ``seq`` gap-free from 1), written by the one
    engine or shard that simulates the pool, so each pool's reports stay in one partition,
    in order. Within a stream, ``spares_left`` = the previous ``spares_left`` + ``change``."""

    type: Literal["spares_changed"] = "spares_changed"
    change: int
    """Parts added (resupply, > 0) or taken (repair, -1)."""
    spares_left: int = Field(ge=0)
    cause: Literal["repair", "resupply"]
    pool: str | None = Field(default=None, min_length=1)
    """The robot pool whose stock this is (``R{shell}`` or ``R{shell}-P{plane}``, the prefix
    of its robots' names); ``null`` for the fleet-wide stock."""


class DeorbitStarted(_WithTelemetry):
    type: Literal["deorbit_started"] = "deorbit_started"
    reason: Literal["end_of_life", "unrepairable"]


class Deorbited(SatelliteEvent):
    type: Literal["deorbited"] = "deorbited"


# ---------------------------------------------------------------- ground contacts


class ContactStarted(SatelliteEvent):
    """The satellite rose above the station's elevation mask (acquisition of signal)."""

    type: Literal["contact_started"] = "contact_started"
    station: str


class ContactEnded(SatelliteEvent):
    """Loss of signal: the contact's length and what went through it."""

    type: Literal["contact_ended"] = "contact_ended"
    station: str
    duration_s: float = Field(ge=0.0)
    inference_served: float = Field(ge=0.0)
    """Inference requests served through this contact (by the satellite or its ISL
    neighbours), aggregated: per-request events are not written."""
    data_gb: float = Field(ge=0.0)
    """Gigabytes the link could carry in the contact (downlink rate × duration)."""


# ---------------------------------------------------------------- workload


class JobEvent(EventBase):
    """A training job's event: run-level (no satellite), its own stream keyed by ``job``.

    ``seq`` counts the job's events gap-free from 1, and the Kafka key is the job id, so
    each job's events stay in one partition and in order.
    """

    satellite: None = None
    job: str = Field(min_length=1)
    job_class: str


class JobSubmitted(JobEvent):
    type: Literal["job_submitted"] = "job_submitted"
    satellites: int = Field(ge=1)
    """Members the job needs, all in one ISL cluster."""
    accelerators: int = Field(ge=1)
    """Accelerators the job computes on (its work rate, accelerator-seconds per second)."""
    work_accelerator_s: float = Field(gt=0.0)


class JobStarted(JobEvent):
    type: Literal["job_started"] = "job_started"
    members: tuple[str, ...]
    cluster: str
    wait_s: float = Field(ge=0.0)
    """Time since the job was submitted or last interrupted."""
    restart: bool
    """True when the job resumes from a checkpoint (it pays the restart cost first)."""
    saved_accelerator_s: float = Field(ge=0.0)


class JobCheckpointed(JobEvent):
    type: Literal["job_checkpointed"] = "job_checkpointed"
    saved_accelerator_s: float = Field(ge=0.0)
    """Work saved so far (the last checkpoint's)."""
    gained_accelerator_s: float = Field(ge=0.0)
    """Work this checkpoint saved (useful work: goodput)."""


class JobInterrupted(JobEvent):
    type: Literal["job_interrupted"] = "job_interrupted"
    cause_satellite: str
    cause_event: str
    """Type of the cause satellite's event at this sim time that stopped it computing."""
    lost_accelerator_s: float = Field(ge=0.0)
    """Work done since the last checkpoint, lost."""
    saved_accelerator_s: float = Field(ge=0.0)


class JobCompleted(JobEvent):
    type: Literal["job_completed"] = "job_completed"
    gained_accelerator_s: float = Field(ge=0.0)
    """Work since the last checkpoint, kept at completion (goodput)."""
    work_accelerator_s: float = Field(gt=0.0)
    completion_s: float = Field(ge=0.0)
    """From submission to completion."""


class InferenceReported(EventBase):
    """Inference demand of one region in one interval and how much of it was served."""

    type: Literal["inference_reported"] = "inference_reported"
    inference_class: str
    region: str
    interval_s: float = Field(gt=0.0)
    requests: float = Field(ge=0.0)
    served: float = Field(ge=0.0)
    unserved: float = Field(ge=0.0)
    served_accelerator_s: float = Field(ge=0.0)
    """Accelerator-seconds the served requests took (goodput of inference)."""


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
    | Deorbited
    | ContactStarted
    | ContactEnded
    | JobSubmitted
    | JobStarted
    | JobCheckpointed
    | JobInterrupted
    | JobCompleted
    | InferenceReported
    | SparesChanged,
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
        SparesChanged,
        DeorbitStarted,
        Deorbited,
        ContactStarted,
        ContactEnded,
        JobSubmitted,
        JobStarted,
        JobCheckpointed,
        JobInterrupted,
        JobCompleted,
        InferenceReported,
    )
}

#: Event types of job streams (keyed by ``job``, not by satellite or run).
JOB_EVENT_TYPES = frozenset(name for name, cls in EVENT_TYPES.items() if issubclass(cls, JobEvent))


def field(event: EventBase, name: str, default: Any = None) -> Any:
    """``getattr(event, name, default)`` for a field only some event types have, without
    the cost of pydantic's ``__getattr__`` on the types that lack it (~2 µs: a fold asks
    every event for its telemetry)."""
    return event.__dict__.get(name, default)


def stream_key(event: EventBase) -> str:
    """The stream an event belongs to, which is its Kafka key: the satellite id, the job id
    for job events, ``{run_id}/{pool}`` for a robot pool's stock (:class:`SparesChanged`
    with a ``pool``), else the run id. ``seq`` is gap-free within a stream."""
    key = event.satellite or field(event, "job")
    if key:
        return key
    pool = pool_stream(event)
    return f"{event.run_id}/{pool}" if pool else event.run_id


def pool_stream(event: EventBase) -> str | None:
    """The robot pool whose stock stream a run-level event belongs to, else ``None``."""
    return field(event, "pool") if event.type == "spares_changed" else None


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


def _v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    """v2 → v3: launch mass, the flight lead and the campaign were not recorded: ``null``
    (unknown)."""
    out = dict(data)
    if out.get("type") in ("launched", "launch_failed"):
        out.setdefault("mass_kg", None)
        out.setdefault("flight_lead", None)
    elif out.get("type") == "scenario_started":
        out.setdefault("launch", None)
    out["schema_version"] = 3
    return out


def _v3_to_v4(data: dict[str, Any]) -> dict[str, Any]:
    """v3 → v4: spares were one fleet-wide stock: no pool (``null``)."""
    out = dict(data)
    if out.get("type") in ("spares_changed", "repair_completed"):
        out.setdefault("pool", None)
    elif out.get("type") == "scenario_started":
        out.setdefault("spares_pools", None)
    out["schema_version"] = 4
    return out


#: ``UPCASTERS[v]`` turns a decoded dict of version ``v`` into version ``v + 1``.
UPCASTERS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    1: _v1_to_v2,
    2: _v2_to_v3,
    3: _v3_to_v4,
}


def encode(event: EventBase) -> bytes:
    """The one way an event becomes bytes: compact JSON, fields in schema order (what
    ``model_dump_json`` gives, straight from the serializer as bytes, without its round trip
    through ``str``)."""
    return event.__pydantic_serializer__.to_json(event)


_DEFAULTS: dict[type[_Frozen], dict[str, Any]] = {}
_new = object.__new__
_set = object.__setattr__


def _defaults(cls: type[_Frozen]) -> dict[str, Any]:
    """Every field of ``cls`` in schema order, with its default (``None`` if required)."""
    defaults = _DEFAULTS.get(cls)
    if defaults is None:
        defaults = _DEFAULTS[cls] = {
            name: None if f.is_required() else f.get_default(call_default_factory=True)
            for name, f in cls.model_fields.items()
        }
    return defaults


def encode_fields(cls: type[EventBase], fields: dict[str, Any]) -> bytes:
    """``encode(construct(cls, fields))`` without building the event: the values in schema
    order, defaults filled in, written by pydantic-core's JSON writer (:func:`encode`'s,
    but led by the values' own types, not the schema). So it is stricter than
    :func:`construct`: every value must already be of its field's JSON type (a float for a
    float field, never an int or a bool for another type, no NaN), and a nested model must
    be a dict of all its fields in schema order. For the engine only; twice as fast, and
    ``tests/test_engine.py`` checks it gives :func:`encode`'s bytes for every event of
    several runs."""
    values = _defaults(cls).copy()
    values.update(fields)
    return _to_json(values)


def construct(cls: type[M], fields: dict[str, Any]) -> M:
    """Build a model from values already of the right types, **without validation**: each
    field in schema order, defaults filled in. For the engine only, which guarantees its
    types (its hot path built every event through validation); whatever reads bytes
    validates (:func:`decode`), and ``tests/test_shards.py`` re-validates every event of a
    run. Callers pass only the model's own fields (``tests/test_events.py`` checks that
    the result equals the validated model)."""
    values = _defaults(cls).copy()  # schema order; update() keeps each key where it is
    values.update(fields)
    obj = _new(cls)
    _set(obj, "__dict__", values)
    _set(obj, "__pydantic_fields_set__", set(fields))
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj


def with_offset(raw: bytes, offset: int) -> bytes:
    """The codec bytes of an event moved to ``offset``: ``offset`` and ``event_id`` (its
    ``{run_id}-{offset:010d}``) rewritten, every other byte kept. For writers that renumber
    events they encoded themselves (a sharded run merged into one log); the fields are found
    in the envelope's fixed order (``event_id`` … ``"offset":``), so the result is exactly
    what :func:`encode` gives for the event at ``offset``."""
    i = raw.index(b'"event_id":"') + 12
    j = raw.index(b'"', i)
    dash = raw.rindex(b"-", i, j)
    k = raw.index(b',"offset":', j) + 10
    m = raw.index(b",", k)
    digits = str(offset).encode()
    return b"".join((raw[: dash + 1], digits.rjust(10, b"0"), raw[j:k], digits, raw[m:]))


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
