"""Orbit sources: TLE/3LE/OMM parsing, generated Walker and sun-synchronous shells."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sgp4.api import Satrec, SatrecArray

from twin.errors import InputError
from twin.physics.orbits import (
    EARTH_RADIUS_KM,
    TLE_LINE1_TEMPLATE,
    TLE_LINE2_TEMPLATE,
    Fleet,
    load_file,
    parse_text,
    sso_inclination_deg,
    sun_synchronous,
    walker_delta,
)

DATA = Path(__file__).parent / "data"
EPOCH = datetime(2026, 11, 23, tzinfo=UTC)
ISS_L1, ISS_L2 = (DATA / "iss.tle").read_text().splitlines()

Array = npt.NDArray[np.float64]


def _checksum(line: str) -> str:
    """Independent TLE checksum: digits plus one per minus sign, mod 10."""
    total = sum(int(c) for c in line[:68] if c.isdigit()) + line[:68].count("-")
    return str(total % 10)


def _states(fleet: Fleet, minutes: Array) -> tuple[Array, Array]:
    """TEME r, v (km, km/s) of every satellite at ``minutes`` after the first one's epoch."""
    s0 = fleet.satrecs[0]
    jd = np.full(minutes.shape, s0.jdsatepoch)
    fr = s0.jdsatepochF + minutes / 1440.0
    err, r, v = SatrecArray(fleet.satrecs).sgp4(jd, fr)
    assert not err.any()
    return r, v


def _plane_angles(r: Array, v: Array) -> tuple[Array, Array, Array]:
    """Inclination, RAAN and argument of latitude (deg) from states via h = r × v."""
    h = np.cross(r, v)
    hn = h / np.linalg.norm(h, axis=-1, keepdims=True)
    inc = np.degrees(np.arccos(hn[..., 2]))
    raan = np.degrees(np.arctan2(hn[..., 0], -hn[..., 1])) % 360.0
    node = np.stack([np.cos(np.radians(raan)), np.sin(np.radians(raan)), np.zeros_like(raan)], -1)
    rn = r / np.linalg.norm(r, axis=-1, keepdims=True)
    sin_u = np.einsum("...i,...i", np.cross(node, rn), hn)
    u = np.degrees(np.arctan2(sin_u, np.einsum("...i,...i", node, rn))) % 360.0
    return inc, raan, u


def _angle_diff(a: npt.ArrayLike, b: npt.ArrayLike) -> Array:
    """Signed smallest difference a − b in degrees, in (−180, 180]."""
    return np.asarray((np.asarray(a) - np.asarray(b) + 180.0) % 360.0 - 180.0)


def _true_sun_ra_deg(jd: float) -> float:
    """Apparent right ascension of the Sun (Astronomical Almanac low-precision, ~0.01°)."""
    n = jd - 2451545.0
    mean_long = 280.460 + 0.9856474 * n
    g = math.radians(357.528 + 0.9856003 * n)
    lam = math.radians(mean_long + 1.915 * math.sin(g) + 0.020 * math.sin(2 * g))
    eps = math.radians(23.439 - 0.0000004 * n)
    return math.degrees(math.atan2(math.cos(eps) * math.sin(lam), math.cos(lam))) % 360.0


# --------------------------------------------------------------------------- TLE / 3LE


def test_tle_round_trip_matches_twoline2rv() -> None:
    fleet = load_file(str(DATA / "iss.tle"))
    assert fleet.names == ["25544"]  # no name line: the catalog-number field
    assert fleet.shell == [0] and fleet.plane == [0]
    direct = Satrec.twoline2rv(ISS_L1, ISS_L2)
    minutes = np.linspace(0.0, 1440.0, 25)
    r, v = _states(fleet, minutes)
    err, r_ref, v_ref = SatrecArray([direct]).sgp4(
        np.full(25, direct.jdsatepoch), direct.jdsatepochF + minutes / 1440.0
    )
    assert not err.any()
    np.testing.assert_array_equal(r, r_ref)
    np.testing.assert_array_equal(v, v_ref)
    assert math.degrees(fleet.satrecs[0].inclo) == pytest.approx(51.6391)


@pytest.mark.parametrize("filename", ["sample.3le", "sample_space_track.3le"])
def test_3le_names_with_and_without_zero_prefix(filename: str) -> None:
    fleet = load_file(str(DATA / filename))
    assert fleet.names == ["ISS (ZARYA)", "SSO DEMO 1", "MOLNIYA-LIKE"]
    assert [s.satnum for s in fleet.satrecs] == [25544, 99001, 99002]
    plain = load_file(str(DATA / "sample.tle"))
    assert plain.names == ["25544", "99001", "99002"]
    r1, _ = _states(fleet, np.array([0.0, 600.0]))
    r2, _ = _states(plain, np.array([0.0, 600.0]))
    np.testing.assert_array_equal(r1, r2)


def test_tle_tolerates_crlf_blank_lines_and_trailing_spaces() -> None:
    text = (DATA / "sample.3le").read_text()
    messy = "\r\n\r\n".join(line + "   " for line in text.splitlines()) + "\r\n\r\n"
    assert parse_text(messy, "messy.3le").names == ["ISS (ZARYA)", "SSO DEMO 1", "MOLNIYA-LIKE"]


def test_bad_checksum_names_file_line_and_checksum() -> None:
    bad_l1 = ISS_L1[:68] + str((int(ISS_L1[68]) + 1) % 10)
    with pytest.raises(InputError) as exc:
        parse_text(f"ISS (ZARYA)\n{bad_l1}\n{ISS_L2}\n", "bad.tle")
    msg = str(exc.value)
    assert "bad.tle:2" in msg
    assert "checksum" in msg
    assert "mod 10" in msg  # what is allowed


def test_bad_column_layout_shows_template_above_line() -> None:
    # inclination written left-aligned: "51.6391 " instead of " 51.6391"
    shifted = ISS_L2[:8] + ISS_L2[9:16] + " " + ISS_L2[16:]
    assert len(shifted) == 69
    with pytest.raises(InputError) as exc:
        parse_text(f"{ISS_L1}\n{shifted}\n", "shift.tle")
    err = exc.value
    assert "shift.tle:2" in str(err)
    assert "column 11" in err.problem and "layout" in err.problem
    assert err.context is not None
    lines = err.context.splitlines()
    assert lines[0].endswith(TLE_LINE2_TEMPLATE)
    assert lines[1].endswith(shifted)
    # The template sits directly above the user's line, column for column.
    assert lines[0].index(TLE_LINE2_TEMPLATE) == lines[1].index(shifted)
    assert lines[2].index("^") == lines[1].index(shifted) + 10


def _with_checksum(line: str) -> str:
    return line + _checksum(line)


def _incl_191() -> str:
    return _with_checksum(ISS_L2[:8] + "191.6391" + ISS_L2[16:68])


def _catalog_25545() -> str:
    return _with_checksum(ISS_L2[:2] + "25545" + ISS_L2[7:68])


@pytest.mark.parametrize(
    ("text", "source", "where", "phrases"),
    [
        pytest.param(
            f"{ISS_L1[:60]}\n{ISS_L2}\n",
            "short.tle",
            "short.tle:1",
            ("60 columns instead of 69", TLE_LINE1_TEMPLATE),
            id="short-line-is-a-layout-error",
        ),
        pytest.param(
            f"ISS (ZARYA)\n{ISS_L2}\n",
            "orphan.tle",
            "orphan.tle:2",
            ("line 2 without its line 1",),
            id="line2-without-line1",
        ),
        pytest.param(
            f"{ISS_L1}\nISS (ZARYA)\n",
            "half.tle",
            "half.tle:2",
            ("not followed by its line 2",),
            id="line1-without-line2",
        ),
        pytest.param(
            f"{ISS_L1}\n{_catalog_25545()}\n",
            "mismatch.tle",
            "mismatch.tle:2",
            ("'25544'", "'25545'"),
            id="catalog-numbers-must-agree",
        ),
        pytest.param(
            f"FIRST\nSECOND\n{ISS_L1}\n{ISS_L2}\n",
            "names.3le",
            "names.3le:2",
            ("expected TLE line 1",),
            id="two-name-lines-in-a-row",
        ),
        pytest.param(
            f"{ISS_L1}\n{_incl_191()}\n",
            "incl.tle",
            "incl.tle:2",
            ("inclination", "0 to 180"),
            id="out-of-range-field",
        ),
    ],
)
def test_tle_errors_name_file_line_and_problem(
    text: str, source: str, where: str, phrases: tuple[str, ...]
) -> None:
    with pytest.raises(InputError) as exc:
        parse_text(text, source)
    msg = str(exc.value)
    assert where in msg
    for phrase in phrases:
        assert phrase in msg


@given(
    line_no=st.sampled_from([1, 2]),
    position=st.integers(min_value=2, max_value=67),
    delta=st.integers(min_value=1, max_value=9),
)
def test_any_single_digit_change_is_caught(line_no: int, position: int, delta: int) -> None:
    line = ISS_L1 if line_no == 1 else ISS_L2
    if not line[position].isdigit():
        return
    changed = line[:position] + str((int(line[position]) + delta) % 10) + line[position + 1 :]
    text = f"{changed}\n{ISS_L2}\n" if line_no == 1 else f"{ISS_L1}\n{changed}\n"
    with pytest.raises(InputError) as exc:
        parse_text(text, "flip.tle")
    assert f"flip.tle:{line_no}" in str(exc.value)


# --------------------------------------------------------------------------- OMM


@pytest.mark.parametrize(
    "filename", ["sample_omm.json", "sample_omm.csv", "sample_omm.xml", "sample_omm.kvn"]
)
def test_omm_matches_equivalent_tle(filename: str) -> None:
    omm = load_file(str(DATA / filename))
    tle = load_file(str(DATA / "sample.3le"))
    assert omm.names == tle.names
    hour = np.array([60.0])
    for sat_omm, sat_tle in zip(omm.satrecs, tle.satrecs, strict=True):
        jd, fr = sat_tle.jdsatepoch, sat_tle.jdsatepochF + hour / 1440.0
        e1, r1, _ = sat_omm.sgp4(jd, fr[0])
        e2, r2, _ = sat_tle.sgp4(jd, fr[0])
        assert e1 == e2 == 0
        assert np.linalg.norm(np.subtract(r1, r2)) < 1e-3  # km: within 1 m at epoch + 1 h
        assert sat_omm.satnum == sat_tle.satnum
        assert sat_omm.intldesg == sat_tle.intldesg


# The example of CCSDS 502.0-B-3 (GOES 9, annex G) in its two encodings: day-of-year epoch,
# SGP/SGP4 theory, units in brackets, GM and a user-defined keyword, a covariance block and
# header fields that are not elements.
BLUE_BOOK_KVN = """CCSDS_OMM_VERS = 3.0
CREATION_DATE = 2020-065T16:00:00
ORIGINATOR = NOAA
COMMENT GOES 9, the standard's OMM example
OBJECT_NAME = GOES 9
OBJECT_ID = 1995-025A
CENTER_NAME = EARTH
REF_FRAME = TEME
TIME_SYSTEM = UTC
MEAN_ELEMENT_THEORY = SGP/SGP4
EPOCH = 2020-064T10:34:41.4264
MEAN_MOTION = 1.00273272 [rev/day]
ECCENTRICITY = 0.0005013
INCLINATION = 3.0539 [deg]
RA_OF_ASC_NODE = 81.7939 [deg]
ARG_OF_PERICENTER = 249.2363 [deg]
MEAN_ANOMALY = 150.1602 [deg]
GM = 398600.8 [km**3/s**2]
EPHEMERIS_TYPE = 0
CLASSIFICATION_TYPE = U
NORAD_CAT_ID = 23581
ELEMENT_SET_NO = 0925
REV_AT_EPOCH = 4316
BSTAR = 0.0001 [1/ER]
MEAN_MOTION_DOT = -0.00000113 [rev/day**2]
MEAN_MOTION_DDOT = 0.0 [rev/day**3]
USER_DEFINED_EARTH_MODEL = WGS-84
"""

BLUE_BOOK_XML = """<?xml version="1.0" encoding="UTF-8"?>
<omm xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
 xsi:noNamespaceSchemaLocation="https://sanaregistry.org/r/ndmxml_unqualified/ndmxml-3.0.0-master-3.0.xsd"
 id="CCSDS_OMM_VERS" version="3.0">
<header>
<COMMENT>an XML version of the OMM</COMMENT>
<CLASSIFICATION>CUI</CLASSIFICATION>
<CREATION_DATE>2020-065T16:00:00</CREATION_DATE>
<ORIGINATOR>NOAA</ORIGINATOR>
</header>
<body><segment>
<metadata>
<OBJECT_NAME>GOES-9</OBJECT_NAME>
<OBJECT_ID>1995-025A</OBJECT_ID>
<CENTER_NAME>EARTH</CENTER_NAME>
<REF_FRAME>TEME</REF_FRAME>
<TIME_SYSTEM>UTC</TIME_SYSTEM>
<MEAN_ELEMENT_THEORY>SGP4</MEAN_ELEMENT_THEORY>
</metadata>
<data>
<meanElements>
<EPOCH>2020-064T10:34:41.4264</EPOCH>
<MEAN_MOTION>1.00273272</MEAN_MOTION>
<ECCENTRICITY>0.0005013</ECCENTRICITY>
<INCLINATION>3.0539</INCLINATION>
<RA_OF_ASC_NODE>81.7939</RA_OF_ASC_NODE>
<ARG_OF_PERICENTER>249.2363</ARG_OF_PERICENTER>
<MEAN_ANOMALY>150.1602</MEAN_ANOMALY>
<GM>398600.8</GM>
</meanElements>
<tleParameters>
<NORAD_CAT_ID>23581</NORAD_CAT_ID>
<ELEMENT_SET_NO>0925</ELEMENT_SET_NO>
<REV_AT_EPOCH>4316</REV_AT_EPOCH>
<BSTAR>0.0001</BSTAR>
<MEAN_MOTION_DOT>-0.00000113</MEAN_MOTION_DOT>
<MEAN_MOTION_DDOT>0.0</MEAN_MOTION_DDOT>
</tleParameters>
<covarianceMatrix>
<COV_REF_FRAME>TEME</COV_REF_FRAME>
<CX_X>3.331349476038534e-04</CX_X>
</covarianceMatrix>
</data>
</segment></body>
</omm>
"""


@pytest.mark.parametrize(("text", "name"), [(BLUE_BOOK_KVN, "GOES 9"), (BLUE_BOOK_XML, "GOES-9")])
def test_the_ccsds_example_reads_in_both_encodings(text: str, name: str) -> None:
    fleet = parse_text(text, "goes9")
    assert fleet.names == [name]
    sat = fleet.satrecs[0]
    assert sat.satnum == 23581 and sat.intldesg == "95025A" and sat.elnum == 925
    # 2020-064 is 4 March 2020 (a leap year): JD 2458912.5 + 10:34:41.4264
    assert sat.jdsatepoch + sat.jdsatepochF == pytest.approx(
        2458912.5 + (10 * 3600 + 34 * 60 + 41.4264) / 86400.0, abs=1e-9
    )
    assert sat.no_kozai * 1440.0 / (2 * np.pi) == pytest.approx(1.00273272)
    e, r, _ = sat.sgp4(sat.jdsatepoch, sat.jdsatepochF)
    assert e == 0 and 42_000 < np.linalg.norm(r) < 42_300  # geostationary radius, km


def kvn_lines() -> list[str]:
    return (DATA / "sample_omm.kvn").read_text().splitlines()


def error_of(text: str, source: str) -> str:
    with pytest.raises(InputError) as exc:
        parse_text(text, source)
    return str(exc.value)


def test_omm_kvn_errors_name_the_line_and_keyword() -> None:
    lines = kvn_lines()
    second = [i for i, ln in enumerate(lines) if ln.startswith("CCSDS_OMM_VERS")][1]
    bad = list(lines)
    at = next(i for i in range(second, len(bad)) if bad[i].startswith("INCLINATION"))
    bad[at] = "INCLINATION = 200.0 [deg]"
    msg = error_of("\n".join(bad), "cat.kvn")
    assert f"cat.kvn:{at + 1}: INCLINATION" in msg and "0 to 180" in msg
    # a missing keyword: the message's first line
    bad = [ln for i, ln in enumerate(lines) if not (i > second and ln.startswith("MEAN_MOTION ="))]
    msg = error_of("\n".join(bad), "cat.kvn")
    assert f"cat.kvn:{second + 1}: MEAN_MOTION" in msg and "missing" in msg
    # elements of another theory or frame are not SGP4's
    bad = [ln.replace("REF_FRAME = TEME", "REF_FRAME = GCRF") for ln in lines]
    assert "cat.kvn:9: REF_FRAME" in error_of("\n".join(bad), "cat.kvn")
    bad = [ln.replace("= SGP4", "= DSST") for ln in lines]
    assert "SGP4 or SGP/SGP4" in error_of("\n".join(bad), "cat.kvn")
    # keywords before the version line, a line without '=', a keyword twice
    assert "before CCSDS_OMM_VERS" in error_of(
        "EPOCH = 2026-11-23T00:00:00\n" + "\n".join(lines), "x"
    )
    bad = list(lines)
    bad[5] = "OBJECT_NAME ISS"
    assert "x:6" in error_of("\n".join(bad), "x") and "KEYWORD = value" in error_of(
        "\n".join(bad), "x"
    )
    bad = list(lines)
    bad.insert(14, lines[13])
    msg = error_of("\n".join(bad), "x")
    assert "x:15: MEAN_MOTION" in msg and "twice" in msg


def test_omm_xml_errors_name_the_line_and_element() -> None:
    text = (DATA / "sample_omm.xml").read_text()
    lines = text.splitlines()
    at = [i for i, ln in enumerate(lines) if ln.startswith("<ECCENTRICITY>")][2]
    bad = list(lines)
    bad[at] = "<ECCENTRICITY>1.5</ECCENTRICITY>"
    msg = error_of("\n".join(bad), "cat.xml")
    assert f"cat.xml:{at + 1}: omm[2].ECCENTRICITY" in msg and "0 <= e < 1" in msg
    bad = [ln for i, ln in enumerate(lines) if i != at]
    omm = [i for i, ln in enumerate(lines) if ln.startswith("<omm ")][2]
    msg = error_of("\n".join(bad), "cat.xml")
    assert f"cat.xml:{omm + 1}: omm[2].ECCENTRICITY" in msg and "missing" in msg
    msg = error_of(text.replace("</MEAN_ANOMALY>", "</MEAN_ANOMALYX>", 1), "cat.xml")
    first = next(i for i, ln in enumerate(lines) if "</MEAN_ANOMALY>" in ln)
    assert "not well-formed XML: mismatched tag" in msg and f"cat.xml:{first + 1}" in msg
    doctype = '<?xml version="1.0"?>\n<!DOCTYPE omm [<!ENTITY a "aaaa">]>\n<omm/>'
    assert "document type" in error_of(doctype, "evil.xml")
    assert "root element is <kml>" in error_of("<kml></kml>", "map.xml")
    assert "no OMM message" in error_of("<ndm></ndm>", "empty.xml")


def test_omm_single_object_and_defaults() -> None:
    record = json.loads((DATA / "sample_omm.json").read_text())[0]
    for key in ("OBJECT_NAME", "OBJECT_ID", "ELEMENT_SET_NO"):
        del record[key]
    fleet = parse_text(json.dumps(record), "one.json")
    assert fleet.names == ["25544"]


def test_omm_json_missing_field_names_path() -> None:
    records = json.loads((DATA / "sample_omm.json").read_text())
    del records[1]["MEAN_MOTION"]
    with pytest.raises(InputError) as exc:
        parse_text(json.dumps(records), "cat.json")
    msg = str(exc.value)
    assert "cat.json: [1].MEAN_MOTION" in msg
    assert "missing" in msg and "revolutions per day" in msg


def test_omm_json_unusable_value_names_path() -> None:
    records = json.loads((DATA / "sample_omm.json").read_text())
    records[2]["ECCENTRICITY"] = 1.2
    with pytest.raises(InputError) as exc:
        parse_text(json.dumps(records), "cat.json")
    assert "[2].ECCENTRICITY" in str(exc.value) and "0 <= e < 1" in str(exc.value)
    records[2]["ECCENTRICITY"] = 0.01
    records[2]["EPOCH"] = "yesterday"
    with pytest.raises(InputError) as exc:
        parse_text(json.dumps(records), "cat.json")
    assert "[2].EPOCH" in str(exc.value) and "ISO-8601" in str(exc.value)


def test_invalid_json_names_line() -> None:
    with pytest.raises(InputError) as exc:
        parse_text('[\n {"EPOCH": 1,\n }\n]', "broken.json")
    assert "broken.json:3" in str(exc.value) and "not valid JSON" in str(exc.value)


def test_omm_csv_missing_value_names_line_and_column() -> None:
    lines = (DATA / "sample_omm.csv").read_text().splitlines()
    header = lines[0].split(",")
    row = lines[2].split(",")
    row[header.index("BSTAR")] = ""
    text = "\n".join([lines[0], lines[1], ",".join(row)])
    with pytest.raises(InputError) as exc:
        parse_text(text, "cat.csv")
    msg = str(exc.value)
    assert "cat.csv:3: BSTAR" in msg and "missing" in msg


def test_omm_csv_missing_column() -> None:
    lines = (DATA / "sample_omm.csv").read_text().splitlines()
    text = "\n".join(line.rsplit(",", 1)[0] for line in lines)  # drop MEAN_MOTION_DDOT
    with pytest.raises(InputError) as exc:
        parse_text(text, "cat.csv")
    assert "cat.csv:1: MEAN_MOTION_DDOT" in str(exc.value)


# --------------------------------------------------------------------------- files


def test_load_file_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_file(str(tmp_path / "missing.tle"))
    with pytest.raises(InputError, match="directory"):
        load_file(str(tmp_path))
    empty = tmp_path / "empty.tle"
    empty.write_text("\n  \n")
    with pytest.raises(InputError, match="empty"):
        load_file(str(empty))
    xml = tmp_path / "cat.xml"
    xml.write_text("<ndm></ndm>")
    with pytest.raises(InputError, match="no OMM message"):
        load_file(str(xml))


def test_fleet_concat_and_subset() -> None:
    a = load_file(str(DATA / "sample.3le"))
    b = walker_delta(
        altitude_km=550, inclination_deg=53, planes=2, sats_per_plane=2, phasing=1, epoch=EPOCH,
        shell=3,
    )  # fmt: skip
    both = Fleet.concat([a, b])
    assert len(both) == 7
    assert both.shell == [0, 0, 0, 3, 3, 3, 3]
    assert both.plane == [0, 0, 0, 0, 0, 1, 1]
    sub = both.subset(np.array([6, 0]))
    assert sub.names == ["S3-P01-001", "ISS (ZARYA)"]
    assert sub.satrecs[1] is a.satrecs[0]
    assert sub.shell == [3, 0]
    with pytest.raises(ValueError, match="differ in length"):
        Fleet(["x"], [], [0], [0])


# --------------------------------------------------------------------------- shells


def test_walker_geometry_from_propagated_state() -> None:
    planes, per_plane, phasing = 3, 4, 1
    fleet = walker_delta(
        altitude_km=550,
        inclination_deg=53,
        planes=planes,
        sats_per_plane=per_plane,
        phasing=phasing,
        epoch=EPOCH,
        raan0_deg=10.0,
        shell=2,
        name_prefix="W",
    )
    assert len(fleet) == 12
    assert fleet.names[:5] == ["W2-P00-000", "W2-P00-001", "W2-P00-002", "W2-P00-003", "W2-P01-000"]
    assert fleet.plane == [0] * 4 + [1] * 4 + [2] * 4
    assert fleet.shell == [2] * 12
    r, v = _states(fleet, np.array([0.0]))
    inc, raan, u = _plane_angles(r[:, 0], v[:, 0])
    k = np.repeat(np.arange(planes), per_plane)
    j = np.tile(np.arange(per_plane), planes)
    np.testing.assert_allclose(inc, 53.0, atol=0.05)
    assert np.abs(_angle_diff(raan, 10.0 + 120.0 * k)).max() < 0.05
    expected_u = 90.0 * j + 360.0 * phasing * k / (planes * per_plane)
    # mean elements exactly; osculating argument of latitude within SGP4's short-period terms
    mean_u = np.degrees([s.mo + s.argpo for s in fleet.satrecs])
    assert np.abs(_angle_diff(mean_u, expected_u)).max() < 1e-9
    assert np.abs(_angle_diff(u, expected_u)).max() < 0.15


@pytest.mark.parametrize("inclination_deg", [0.0, 53.0, 97.6])
def test_generated_altitude_over_one_orbit(inclination_deg: float) -> None:
    fleet = walker_delta(
        altitude_km=550,
        inclination_deg=inclination_deg,
        planes=2,
        sats_per_plane=3,
        phasing=1,
        epoch=EPOCH,
    )
    period_min = 2 * math.pi / fleet.satrecs[0].no_kozai
    r, _ = _states(fleet, np.linspace(0.0, period_min, 400, endpoint=False))
    altitude = np.linalg.norm(r, axis=-1) - EARTH_RADIUS_KM
    assert np.abs(altitude.mean(axis=1) - 550.0).max() < 15.0  # the brief's tolerance
    assert np.abs(altitude.mean(axis=1) - 550.0).max() < 0.05  # what the construction achieves
    assert np.abs(altitude - 550.0).max() < 15.0  # circular: J2 ripple only


def test_sso_inclination_values() -> None:
    assert sso_inclination_deg(550) == pytest.approx(97.59, abs=0.01)
    assert sso_inclination_deg(650) == pytest.approx(97.99, abs=0.01)
    assert sso_inclination_deg(800) == pytest.approx(98.6, abs=0.05)  # common EO value
    with pytest.raises(InputError, match="no sun-synchronous orbit"):
        sso_inclination_deg(7000)


def test_sso_plane_follows_the_sun_under_sgp4() -> None:
    fleet = sun_synchronous(
        altitude_km=650, ltan_hours=18.0, planes=1, sats_per_plane=1, phasing=0, epoch=EPOCH
    )
    r, v = _states(fleet, np.array([0.0, 30 * 1440.0]))
    _, raan, _ = _plane_angles(r[0], v[0])
    rate_deg_day = _angle_diff(raan[1], raan[0]) / 30.0
    assert rate_deg_day == pytest.approx(360.0 / 365.2422, rel=0.005)


@pytest.mark.parametrize("ltan_hours", [6.0, 18.0, 10.5])
def test_ltan_sets_the_node_against_gmst(ltan_hours: float) -> None:
    epoch = datetime(2026, 3, 1, 5, 30, tzinfo=UTC)
    fleet = sun_synchronous(
        altitude_km=650, ltan_hours=ltan_hours, planes=1, sats_per_plane=3, phasing=0, epoch=epoch
    )
    sat = fleet.satrecs[0]
    assert math.degrees(sat.inclo) == pytest.approx(sso_inclination_deg(650), abs=1e-9)
    r, v = _states(fleet, np.array([0.0]))
    _, raan, _ = _plane_angles(r[:, 0], v[:, 0])
    # Node longitude = (LTAN − UT)·15°/h east of Greenwich; SGP4's gsto is GMST at epoch.
    expected = math.degrees(sat.gsto) + (ltan_hours - 5.5) * 15.0
    assert np.abs(_angle_diff(raan, expected)).max() < 0.05


@pytest.mark.parametrize(("ltan_hours", "sign"), [(18.0, 1.0), (6.0, -1.0)])
def test_dawn_dusk_plane_faces_the_sun(ltan_hours: float, sign: float) -> None:
    fleet = sun_synchronous(
        altitude_km=650, ltan_hours=ltan_hours, planes=1, sats_per_plane=1, phasing=0, epoch=EPOCH
    )
    sat = fleet.satrecs[0]
    r, v = _states(fleet, np.array([0.0]))
    h = sign * np.cross(r[0, 0], v[0, 0])
    normal_ra = math.degrees(math.atan2(h[1], h[0]))
    sun_ra = _true_sun_ra_deg(sat.jdsatepoch + sat.jdsatepochF)
    # Equator-projected orbit normal points at (18 h) or away from (6 h) the Sun, within the
    # equation of time (mean vs true Sun, ≤ 4.1°; ~3.4° in late November).
    assert abs(_angle_diff(normal_ra, sun_ra)) < 4.5
    # node at ~6 h from the Sun
    _, raan, _ = _plane_angles(r[:, 0], v[:, 0])
    assert _angle_diff(raan[0], sun_ra) == pytest.approx((ltan_hours - 12.0) * 15.0, abs=4.5)


def test_sso_planes_spread_evenly() -> None:
    fleet = sun_synchronous(
        altitude_km=550, ltan_hours=6.0, planes=4, sats_per_plane=2, phasing=1, epoch=EPOCH
    )
    raan = np.degrees([s.nodeo for s in fleet.satrecs]).reshape(4, 2)
    np.testing.assert_allclose(_angle_diff(raan[1:, 0], raan[:-1, 0]), 90.0, atol=1e-9)


def test_along_track_cluster_spacing() -> None:
    # Suncatcher-like: 81 satellites in one plane, 12.5 m apart -> a 1 km long train.
    fleet = sun_synchronous(
        altitude_km=650,
        ltan_hours=18.0,
        planes=1,
        sats_per_plane=81,
        phasing=0,
        epoch=EPOCH,
        along_track_spacing_km=0.0125,
    )
    r, _ = _states(fleet, np.array([0.0, 45.0]))
    gaps_km = np.linalg.norm(np.diff(r, axis=0), axis=-1)
    np.testing.assert_allclose(gaps_km, 0.0125, rtol=0.01)
    span_km = np.linalg.norm(r[-1] - r[0], axis=-1)
    np.testing.assert_allclose(span_km, 1.0, rtol=0.01)


@pytest.mark.parametrize(
    ("overrides", "field", "allowed"),
    [
        ({"altitude_km": 100.0}, "altitude_km", "160 to 40000 km"),
        ({"altitude_km": 50_000.0}, "altitude_km", "160 to 40000 km"),
        ({"inclination_deg": 200.0}, "inclination_deg", "0 to 180 degrees"),
        ({"planes": 0}, "planes", "integer >= 1"),
        ({"sats_per_plane": 0}, "sats_per_plane", "integer >= 1"),
        ({"phasing": 3}, "phasing", "0 to 2"),
        ({"phasing": -1}, "phasing", "0 to 2"),
        ({"along_track_spacing_km": -1.0}, "along_track_spacing_km", "> 0"),
    ],
)
def test_walker_bad_input(overrides: dict[str, float], field: str, allowed: str) -> None:
    args: dict[str, object] = {
        "altitude_km": 550.0,
        "inclination_deg": 53.0,
        "planes": 3,
        "sats_per_plane": 4,
        "phasing": 1,
        "epoch": EPOCH,
    }
    args.update(overrides)
    with pytest.raises(InputError) as exc:
        walker_delta(**args)  # type: ignore[arg-type]
    assert exc.value.location.field == field
    assert str(exc.value).startswith(f"{field}: ")
    assert allowed in str(exc.value)


@pytest.mark.parametrize("ltan_hours", [24.0, -1.0])
def test_sso_bad_ltan(ltan_hours: float) -> None:
    with pytest.raises(InputError) as exc:
        sun_synchronous(
            altitude_km=650,
            ltan_hours=ltan_hours,
            planes=1,
            sats_per_plane=1,
            phasing=0,
            epoch=EPOCH,
        )
    assert exc.value.location.field == "ltan_hours"
    assert "[0, 24)" in str(exc.value)
