"""GeoJSON of an area's cases (GET /v1/public/areas/{area_id}/cases.geojson) on the cases service as a
running process against the session stack: a public case is a Point at its coordinates, a status_only
case shows no place, a hidden one is absent, another village's case is not in this village's
collection, nothing personal is in the body, and an unknown area is a 404 problem."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from shapely.geometry import shape

from govctl import areas as area_file
from govctl.ports import free_port
from govkit.auth import mint

from .service_process import serving

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "services" / "cases" / "config" / "policy.yaml"
GEOJSON = "application/geo+json"
PROBLEM = "application/problem+json"
VILLAGE = "changping.kongjiafan"
GRID = "changping.kongjiafan.g03"
LAT, LON = 31.7183, 111.3508  # inside GRID's demo shape
REPORTER, PHONE = "欧阳晓明", "13912345678"
ADDRESS = "孔家畈村三组后山王家院子东侧"
# no name in it: the Open311 list shows a public case's description (phones and ID numbers redacted) to anyone, and
# the Open311 e2e test looks for its reporter's surname in every public read
DESCRIPTION = "三组村民反映四组在争议山林内砍伐树木，请求调处山林边界。"


def other_village_point() -> tuple[str, float, float]:
    """A grid of another village, and a point inside its demo shape."""
    events, _ = area_file.load(area_file.DEFAULT_FILE)
    grid = next(e for e in events if e.kind == "grid" and e.geometry and not e.id.startswith(VILLAGE + "."))
    assert grid.geometry is not None
    point = shape(grid.geometry.model_dump(mode="json")).representative_point()
    return grid.id, point.y, point.x


@pytest.fixture(scope="module")
def cases_url(stack, tmp_path_factory):
    """The cases service with a policy where `other` (901) is hidden, on its own port."""
    policy = tmp_path_factory.mktemp("geojson") / "policy.yaml"
    text, n = re.subn(
        r"^(  other:.*visibility: )public\}", r"\1hidden}", POLICY.read_text(encoding="utf-8"), flags=re.M
    )
    assert n == 1, "the shipped policy's `other` category is public"
    policy.write_text(text, encoding="utf-8")
    port = free_port()
    env = {**stack.service_env("cases"), "CASES_HTTP_PORT": str(port), "CASES_POLICY_FILE": str(policy)}
    with serving(["cases", "serve"], port, env, stack.logs / "geojson-cases.log") as url:
        area_file.publish(stack.bootstrap, area_file.DEFAULT_FILE)
        deadline = time.monotonic() + 90
        while httpx.get(url + "/v1/areas", timeout=3).json()["count"] < 137:
            assert time.monotonic() < deadline, "the area tree did not arrive within 90 s"
            time.sleep(0.3)
        yield url


@pytest.fixture(scope="module")
def made(stack, cases_url):
    """One case of each kind the map must tell apart, with personal data in every one: number by kind."""
    token = mint(key=stack.state["jwt_secret"], sub="geojson-test", roles=["town_admin"], areas=["changping"])
    staff = httpx.Client(base_url=cases_url, headers={"Authorization": f"Bearer {token}"}, timeout=20)
    other_grid, other_lat, other_lon = other_village_point()
    personal = {"reporter_name": REPORTER, "reporter_phone": PHONE, "address": ADDRESS, "description": DESCRIPTION}
    kinds: dict[str, dict[str, Any]] = {
        "public": {"category": "dispute.land", "grid_id": GRID, "lat": LAT, "lon": LON},
        "status_only": {"category": "dispute.neighbor", "grid_id": GRID, "lat": LAT, "lon": LON},
        "hidden": {"category": "other", "grid_id": GRID, "lat": LAT, "lon": LON},
        "no_place": {"category": "hazard.safety", "grid_id": GRID},
        "other_village": {"category": "hazard.fire", "grid_id": other_grid, "lat": other_lat, "lon": other_lon},
    }
    numbers = {}
    for kind, fields in kinds.items():
        r = staff.post("/v1/cases", json={"title": f"地图测试 {kind}", **personal, **fields})
        assert r.status_code == 201, r.text
        numbers[kind] = r.json()["number"]
    staff.close()
    return numbers


def geojson(url: str, area: str, **params) -> httpx.Response:
    return httpx.get(f"{url}/v1/public/areas/{area}/cases.geojson", params=params, timeout=20)


def features(r: httpx.Response) -> dict[str, dict]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == GEOJSON
    body = r.json()
    assert body["type"] == "FeatureCollection"
    return {f["id"]: f for f in body["features"]}


def test_a_public_case_is_a_point_at_its_coordinates_with_public_fields(cases_url, made):
    found = features(geojson(cases_url, VILLAGE))
    feature = found[made["public"]]
    assert feature["type"] == "Feature"
    assert feature["geometry"] == {"type": "Point", "coordinates": [LON, LAT]}
    props = feature["properties"]
    assert props["number"] == made["public"]
    assert props["service_code"] == "103" and props["service_name"] == "土地山林纠纷"
    assert props["status"] == "open" and props["grid_id"] == GRID
    assert props["requested_datetime"].endswith("+08:00") and props["updated_datetime"].endswith("+08:00")
    assert set(props) == {
        "number",
        "service_code",
        "service_name",
        "status",
        "status_notes",
        "requested_datetime",
        "updated_datetime",
        "grid_id",
    }
    # the grid's and the town's collections hold it too
    assert made["public"] in features(geojson(cases_url, GRID))
    assert made["public"] in features(geojson(cases_url, "changping"))


def test_status_only_hidden_and_unplaced_cases_show_no_place(cases_url, made):
    for area in (VILLAGE, GRID, "changping"):
        found = features(geojson(cases_url, area))
        assert made["status_only"] not in found, area
        assert made["hidden"] not in found, area
        assert made["no_place"] not in found, area
        # no feature of the collection lacks a point
        assert all(f["geometry"]["type"] == "Point" and len(f["geometry"]["coordinates"]) == 2 for f in found.values())


def test_another_villages_case_is_only_in_its_own_areas(cases_url, made):
    assert made["other_village"] not in features(geojson(cases_url, VILLAGE))
    assert made["other_village"] not in features(geojson(cases_url, GRID))
    town = features(geojson(cases_url, "changping"))
    assert town[made["other_village"]]["properties"]["service_name"] == "消防隐患"


def test_nothing_personal_is_in_the_body(cases_url, made):
    for area in (VILLAGE, GRID, "changping"):
        text = geojson(cases_url, area).text
        for secret in (REPORTER, PHONE, ADDRESS, "王家院子", DESCRIPTION[:10], "欧阳"):
            assert secret not in text, (area, secret)


def test_filters(cases_url, made):
    assert made["public"] in features(geojson(cases_url, VILLAGE, status="open"))
    assert made["public"] not in features(geojson(cases_url, VILLAGE, status="closed"))
    assert made["public"] in features(geojson(cases_url, VILLAGE, service_code="103,301"))
    assert made["public"] not in features(geojson(cases_url, VILLAGE, service_code="301"))
    # a status_only service code is valid and shows nothing
    assert features(geojson(cases_url, VILLAGE, service_code="101")) == {}
    assert features(geojson(cases_url, VILLAGE, start_date="2100-01-01T00:00:00")) == {}
    assert made["public"] in features(geojson(cases_url, VILLAGE, start_date="2020-01-01T00:00:00+08:00"))
    assert len(features(geojson(cases_url, "changping", limit=1))) == 1


def assert_problem(r: httpx.Response, status: int, field: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["status"] == status and body["detail"].startswith(f"{field}:"), body


def test_an_unknown_area_is_a_404_problem(cases_url, made):
    assert_problem(geojson(cases_url, "changping.nowhere"), 404, "path.area_id")
    assert_problem(geojson(cases_url, "changping.kongjiafan.g99"), 404, "path.area_id")


@pytest.mark.parametrize(
    ("area", "params", "field"),
    [
        ("changping..x", {}, "path.area_id"),
        (VILLAGE, {"status": "pending"}, "query.status"),
        (VILLAGE, {"service_code": "103,999"}, "query.service_code"),
        (VILLAGE, {"start_date": "yesterday"}, "query.start_date"),
        (VILLAGE, {"start_date": "0001-01-01T00:00:00+14:00"}, "query.start_date"),
        (VILLAGE, {"start_date": "2026-11-02T00:00:00", "end_date": "2026-11-01T00:00:00"}, "query.end_date"),
        (VILLAGE, {"limit": "0"}, "query.limit"),
        (VILLAGE, {"limit": "1001"}, "query.limit"),
    ],
)
def test_bad_input_is_a_422_naming_the_parameter(cases_url, area, params, field):
    assert_problem(geojson(cases_url, area, **params), 422, field)
