"""The event codec: round trips, deterministic bytes, upcasting, decode errors, JSON Schema."""

from __future__ import annotations

import json
from typing import Any

import pytest
from factories import RUN_LEVEL_TYPES, EventFactory

from twin.errors import DecodeError
from twin.events import (
    EVENT_TYPES,
    SCHEMA_VERSION,
    EclipseEntered,
    construct,
    decode,
    encode,
    json_schema,
    stream_key,
    to_json,
)

RUN_LEVEL = {"scenario_started", "scenario_finished"}


def one_of_each() -> list[Any]:
    f = EventFactory()
    out: list[Any] = [f.scenario_started()]
    for i, etype in enumerate(sorted(set(EVENT_TYPES) - RUN_LEVEL)):
        if etype in RUN_LEVEL_TYPES:  # jobs, inference: no satellite
            out.append(f.event(etype, t_s=float(i)))
        else:
            out.append(f.event(etype, "sat-1", t_s=float(i), shell=1, plane=2))
    out.append(f.event("scenario_finished", t_s=100.0, events=21))
    return out


@pytest.mark.parametrize("event", one_of_each(), ids=lambda e: e.type)
def test_round_trip_every_type(event: Any) -> None:
    raw = encode(event)
    back = decode(raw)
    assert back == event
    assert type(back) is type(event)
    assert encode(back) == raw
    assert decode(raw.decode()) == event  # text works too
    assert to_json(back) == raw.decode()


@pytest.mark.parametrize("event", one_of_each(), ids=lambda e: e.type)
def test_construct_without_validation_equals_the_validated_model(event: Any) -> None:
    """The engine's unvalidated path gives the same model, the same bytes, and the bytes
    ``model_dump_json`` gives (``encode`` takes them straight from the serializer)."""
    given = {name: getattr(event, name) for name in event.model_fields_set}
    built = construct(type(event), given)
    assert built == event
    assert list(built.__dict__) == list(type(event).model_fields)  # schema order
    assert built.model_fields_set == event.model_fields_set
    assert encode(built) == encode(event) == event.model_dump_json().encode()


def test_every_type_is_covered() -> None:
    assert {e.type for e in one_of_each()} == set(EVENT_TYPES)


def test_bytes_are_deterministic_and_in_schema_order() -> None:
    a = [encode(e) for e in one_of_each()]
    b = [encode(e) for e in one_of_each()]
    assert a == b
    ev = EventFactory().event("eclipse_entered", "sat-7", t_s=61.5, soc=0.5)
    assert encode(ev) == (
        b'{"type":"eclipse_entered","schema_version":4,"event_id":"test-run-0000000000",'
        b'"run_id":"test-run","seq":1,"offset":0,"sim_time":"2026-11-23T00:01:01.500Z",'
        b'"satellite":"sat-7","shell":0,"plane":0,"telemetry":{"soc":0.5,'
        b'"power_generated_w":1000.0,"power_consumed_w":800.0,"compute_online":8,'
        b'"stored_wh":null},"umbra":true}'
    )


def _v1(event: EclipseEntered, soc_pct: float) -> bytes:
    data = json.loads(encode(event))
    data["schema_version"] = 1
    del data["plane"]
    del data["telemetry"]["soc"]
    data["telemetry"]["battery_soc_pct"] = soc_pct
    return json.dumps(data).encode()


def test_v1_is_upcast_to_current() -> None:
    event = EventFactory().event("eclipse_entered", "sat-1", t_s=10.0, plane=3, soc=0.1)
    back = decode(_v1(event, 45.5))
    assert isinstance(back, EclipseEntered)
    assert back.schema_version == SCHEMA_VERSION
    assert back.telemetry.soc == pytest.approx(0.455, abs=1e-12)
    assert back.plane == 0  # v1 had no plane
    assert back.model_copy(update={"plane": 3}).telemetry.compute_online == 8
    # the upcast event is re-encoded in the current version
    assert json.loads(encode(back))["schema_version"] == SCHEMA_VERSION


def test_v2_launch_events_are_upcast_with_unknown_mass() -> None:
    """v2 recorded no launch mass and no campaign: v3 reads them as null (unknown)."""
    f = EventFactory()
    for etype in ("launched", "launch_failed"):
        data = json.loads(encode(f.event(etype, "sat-1", mass_kg=800.0)))
        data["schema_version"] = 2
        del data["mass_kg"]
        back = decode(json.dumps(data))
        assert back.schema_version == SCHEMA_VERSION and back.mass_kg is None
    data = json.loads(encode(f.scenario_started()))
    data["schema_version"] = 2
    del data["launch"]
    back = decode(json.dumps(data))
    assert back.launch is None and back.schema_version == SCHEMA_VERSION


def test_v3_spares_are_upcast_as_the_fleet_stock() -> None:
    """v3 had one fleet-wide stock of spares: v4 reads its events with no pool."""
    f = EventFactory()
    for etype, field in (
        ("spares_changed", "pool"),
        ("repair_completed", "pool"),
        ("scenario_started", "spares_pools"),
    ):
        if etype == "scenario_started":
            event = f.scenario_started()
        else:
            event = f.event(etype, "sat-1" if etype == "repair_completed" else None)
        data = json.loads(encode(event))
        data["schema_version"] = 3
        del data[field]
        back = decode(json.dumps(data))
        assert back.schema_version == SCHEMA_VERSION and getattr(back, field) is None
        assert back == event


def test_a_pools_stock_is_its_own_stream() -> None:
    f = EventFactory()
    fleet = f.event("spares_changed", None)
    pooled = f.event("spares_changed", None, pool="R0-P03")
    assert stream_key(fleet) == fleet.run_id
    assert stream_key(pooled) == f"{pooled.run_id}/R0-P03"
    assert decode(encode(pooled)) == pooled


def test_v1_run_level_event_gets_no_plane() -> None:
    event = EventFactory().scenario_started()
    data = json.loads(encode(event))
    data["schema_version"] = 1
    back = decode(json.dumps(data))
    assert back == event


def _reason(raw: bytes | str) -> str:
    with pytest.raises(DecodeError) as info:
        decode(raw)
    return info.value.reason


def test_decode_error_reasons() -> None:
    good = json.loads(encode(EventFactory().event("deployed", "sat-1")))
    assert _reason(b"{not json") == "invalid_json"
    assert _reason(b"\xff\xfe") == "invalid_json"
    assert _reason(b"[1, 2]") == "not_an_object"
    assert _reason(json.dumps({**good, "type": "warp_drive_engaged"})) == "unknown_type"
    assert _reason(json.dumps({k: v for k, v in good.items() if k != "type"})) == "unknown_type"
    newer = SCHEMA_VERSION + 1
    assert _reason(json.dumps({**good, "schema_version": newer})) == "newer_schema_version"
    assert _reason(json.dumps({**good, "schema_version": 0})) == "bad_schema_version"
    missing = {k: v for k, v in good.items() if k != "seq"}
    with pytest.raises(DecodeError) as info:
        decode(json.dumps(missing))
    assert info.value.reason == "invalid_event"
    assert "seq" in info.value.detail
    assert _reason(json.dumps({**good, "seq": 0})) == "invalid_event"  # seq >= 1
    assert _reason(json.dumps({**good, "extra": 1})) == "invalid_event"  # extra fields forbidden


def test_newer_version_message_says_upgrade() -> None:
    good = json.loads(encode(EventFactory().event("deployed", "sat-1")))
    with pytest.raises(DecodeError, match="upgrade the consumer"):
        decode(json.dumps({**good, "schema_version": 99}))


def test_json_schema_lists_every_type() -> None:
    schema = json_schema()
    assert schema["title"] == "OrbitalTwinEvent"
    assert set(schema["discriminator"]["mapping"]) == set(EVENT_TYPES)
    assert len(schema["oneOf"]) == len(EVENT_TYPES)
    consts = {
        d["properties"]["type"]["const"]
        for d in schema["$defs"].values()
        if "type" in d.get("properties", {})
    }
    assert consts == set(EVENT_TYPES)
    json.dumps(schema)  # serialisable
