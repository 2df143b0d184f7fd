"""Open311 GeoReport v2 on the cases service, on the throwaway stack: a real
Open311 client library reads it, form-encoded reports become cases the staff
API sees, and the public reads carry no personal data."""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from georeport import GeoReport
from shapely.geometry import shape

from govctl import areas as area_file
from govkit.auth import mint
from tests.e2e.test_services_and_areas import wait_for

API_KEY = "test-key-1"
GRID = "changping.kongjiafan.g03"
LAT, LONG = "31.7183", "111.3508"  # inside GRID's demo shape
NAME_FIRST, NAME_LAST, PHONE = "晓明", "欧阳", "13912345678"
NUMBER = re.compile(r"^CP-\d{4}-\d{6}$")


@pytest.fixture(scope="module")
def services(stack):
    had = os.environ.get("CASES_OPEN311_API_KEYS")
    os.environ["CASES_OPEN311_API_KEYS"] = API_KEY
    try:
        stack.start_services(say=lambda *_: None)
    finally:
        if had is None:
            os.environ.pop("CASES_OPEN311_API_KEYS", None)
        else:
            os.environ["CASES_OPEN311_API_KEYS"] = had
    try:
        area_file.publish(stack.bootstrap, area_file.DEFAULT_FILE)
        wait_for(lambda: httpx.get(stack.url("cases") + "/v1/areas", timeout=5).json()["count"] == 137)
        yield stack
    finally:
        stack.stop_services()


@pytest.fixture(scope="module")
def base(services):
    return services.url("cases") + "/open311/v2"


@pytest.fixture(scope="module")
def staff(services):
    token = mint(
        key=services.state["jwt_secret"],
        sub="t",
        roles=["town_admin"],
        areas=["changping"],
        permissions=["personal_data:read"],
    )
    return httpx.Client(base_url=services.url("cases"), headers={"Authorization": f"Bearer {token}"}, timeout=10)


def post(
    base: str, fmt: str = "json", attributes: Mapping[str, str | None] | None = None, **fields: str | None
) -> httpx.Response:
    """A request with valid fields, some replaced (None: left out); `attributes` are attribute[...] fields."""
    form: dict[str, str | None] = {
        "api_key": API_KEY,
        "service_code": "103",
        "lat": LAT,
        "long": LONG,
        "address_string": "孔家畈村三组后山",
        "attribute[grid_id]": GRID,
        "description": "三组村民反映四组在争议山林内砍伐树木，双方多次发生口角，请求村里调处。",
    }
    form.update(fields)
    form.update({f"attribute[{name}]": v for name, v in (attributes or {}).items()})
    data = {k: v for k, v in form.items() if v is not None}
    return httpx.post(f"{base}/requests.{fmt}", data=data, timeout=10)


def created(base: str, **fields) -> str:
    r = post(base, **fields)
    assert r.status_code == 201, r.text
    return r.json()[0]["service_request_id"]


def one(base: str, number: str) -> dict:
    r = httpx.get(f"{base}/requests/{number}.json", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()[0]


def when(s: str) -> datetime:
    return datetime.fromisoformat(s)


def test_a_real_open311_client_lists_services_reads_definitions_and_follows_requests(base):
    for fmt in ("json", "xml"):
        client = GeoReport(root_address=base, api_key=API_KEY, jurisdiction="changping.xiangyang.cn", output_format=fmt)
        services = client.get_service_list()
        land = next(s for s in services if s["service_code"] == "103")
        assert land["service_name"] == "土地山林纠纷" and land["group"] == "dispute"
        assert land["keywords"] == "土地,山林,边界" and land["type"] == "realtime"
        assert str(land["metadata"]).lower() == "true"
        assert len(services) == 14 and len({s["service_code"] for s in services}) == 14

        definition = client.get_service_definition("103")
        assert definition["service_code"] == "103"
        attrs = definition["attributes"] if fmt == "json" else definition["attributes"]["attribute"]
        by_code = {a["code"]: a for a in attrs}
        assert str(by_code["grid_id"]["required"]).lower() == "false"  # lat/long may place the request
        assert by_code["grid_id"]["datatype"] == "string"
        assert "changping.kongjiafan.g03" in by_code["grid_id"]["datatype_description"]
        assert str(by_code["severity"]["required"]).lower() == "false"
        sev_values = by_code["severity"]["values"] if fmt == "json" else by_code["severity"]["values"]["value"]
        assert [v["key"] for v in sev_values] == ["low", "medium", "high", "critical"]
        assert by_code["parties"]["datatype"] == "text"
    plain = GeoReport(root_address=base).get_service_definition("401")
    assert {a["code"] for a in plain["attributes"]} == {"severity", "grid_id"}  # no parties outside disputes

    land_case = created(base, description="孔家畈村三组与四组山林边界纠纷，请求调处。")
    labor_case = created(base, service_code="104", description="某砖厂拖欠十二名工人三个月工资，工人要求结清。")
    client = GeoReport(root_address=base, api_key=API_KEY)
    got = client.get_service_request(land_case)
    assert got["service_request_id"] == land_case and got["service_code"] == "103"
    assert got["service_name"] == "土地山林纠纷" and got["status"] == "open"
    assert got["description"] == "孔家畈村三组与四组山林边界纠纷，请求调处。"

    open_land = client.get_service_requests(service_code="103", status="open")
    ids = {r["service_request_id"] for r in open_land}
    assert land_case in ids and labor_case not in ids
    assert all(r["service_code"] == "103" and r["status"] == "open" for r in open_land)
    both = client.get_service_requests(service_code="103,104")
    assert {land_case, labor_case} <= {r["service_request_id"] for r in both}
    closed = client.get_service_requests(service_code="103", status="closed")
    assert land_case not in {r["service_request_id"] for r in closed}
    assert all(r["status"] == "closed" for r in closed)
    picked = client.get_service_requests(service_request_id=f"{land_case},{labor_case}")
    assert sorted(r["service_request_id"] for r in picked) == sorted([land_case, labor_case])

    xml_client = GeoReport(root_address=base, output_format="xml")
    assert xml_client.get_service_request(labor_case)["service_code"] == "104"

    # date filters on requested_datetime
    now = datetime.now(UTC)
    recent = client.get_service_requests(
        service_request_id=None,
        service_code="104",
        start_date=(now - timedelta(hours=1)).isoformat(),
        end_date=(now + timedelta(hours=1)).isoformat(),
    )
    assert labor_case in {r["service_request_id"] for r in recent}
    earlier = client.get_service_requests(
        service_code="104", start_date="2020-01-01T00:00:00Z", end_date="2020-02-01T00:00:00Z"
    )
    assert earlier == []


def test_a_form_encoded_report_becomes_a_case_that_staff_handle_and_the_public_follows(base, staff):
    text = "孔家畈村三组与四组因山林边界发生纠纷，四组村民在争议山林内砍伐树木，请求调处。"
    r = post(
        base,
        description=text,
        first_name=NAME_FIRST,
        last_name=NAME_LAST,
        phone=PHONE,
        email="ouyang@example.org",
        media_url="https://files.changping.example/open311/photo-1.jpg",
        attributes={"severity": "high", "parties": "王某,13800000001,三组村民；赵某,,四组村民"},
    )
    assert r.status_code == 201, r.text
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    body = r.json()
    assert len(body) == 1 and set(body[0]) == {"service_request_id", "service_notice", "account_id"}
    number = body[0]["service_request_id"]
    assert NUMBER.match(number) and body[0]["account_id"] is None and number in body[0]["service_notice"]

    case = staff.get(f"/v1/cases/{number}").json()
    assert case["source"] == "open311" and case["category"] == "dispute.land" and case["grid_id"] == GRID
    assert case["severity"] == "high" and case["status"] == "reported" and case["level"] == "grid"
    assert case["title"] == text[:30] and case["description"] == text
    assert case["address"] == "孔家畈村三组后山" and case["lat"] == pytest.approx(float(LAT))
    assert case["attachments"] == ["https://files.changping.example/open311/photo-1.jpg"]
    assert case["reporter"]["name"] == "欧阳晓明" and case["reporter"]["phone"] == PHONE
    assert [p["name"] for p in case["reporter"]["parties"]] == ["王某", "赵某"]

    pub = one(base, number)
    assert pub["status"] == "open" and pub["expected_datetime"] is None
    assert pub["status_notes"] == "已上报，待网格受理" and pub["agency_responsible"] == "网格 (grid)"
    assert pub["media_url"] == "https://files.changping.example/open311/photo-1.jpg"
    assert pub["address"] == "孔家畈村三组后山" and pub["long"] == pytest.approx(float(LONG))
    assert pub["address_id"] is None and pub["zipcode"] is None
    assert when(pub["requested_datetime"]) == datetime.fromisoformat(case["created_at"].replace("Z", "+00:00"))

    accepted = staff.post(f"/v1/cases/{number}/accept", json={})
    assert accepted.status_code == 200, accepted.text
    pub = one(base, number)
    assert pub["status"] == "open" and pub["status_notes"] == "已受理，网格办理中"
    assert when(pub["expected_datetime"]) == datetime.fromisoformat(
        accepted.json()["resolve_due"].replace("Z", "+00:00")
    )

    escalated = staff.post(f"/v1/cases/{number}/escalate", json={"reason": "涉及两个村民小组，需村调委会调处"})
    assert escalated.status_code == 200, escalated.text
    pub = one(base, number)
    assert pub["agency_responsible"] == "村(社区) (village)" and pub["status_notes"] == "已受理，村级办理中"

    # a second report is rejected: closed for Open311
    other = created(
        base,
        service_code="401",
        description="村口垃圾堆放多日无人清运，气味很大。",
        first_name="Li",
        last_name="Lei",
        phone="13700000002",
    )
    assert one(base, other)["status"] == "open"
    rejected = staff.post(f"/v1/cases/{other}/reject", json={"reason": "重复反映，已在处理"})
    assert rejected.status_code == 200, rejected.text
    pub = one(base, other)
    assert pub["status"] == "closed" and pub["status_notes"] == "不予受理"
    assert pub["agency_responsible"] == "网格 (grid)" and pub["service_code"] == "401"
    closed = httpx.get(f"{base}/requests.json", params={"status": "closed"}).json()
    assert other in {x["service_request_id"] for x in closed} and number not in {
        x["service_request_id"] for x in closed
    }
    assert staff.get(f"/v1/cases/{other}").json()["reporter"]["name"] == "Li Lei"

    # nothing personal in any public read, JSON or XML
    reads = [httpx.get(f"{base}/requests/{number}.{fmt}") for fmt in ("json", "xml")]
    reads += [
        httpx.get(f"{base}/requests.{fmt}", params=p)
        for fmt in ("json", "xml")
        for p in ({}, {"service_request_id": f"{number},{other}"})
    ]
    for resp in reads:
        assert resp.status_code == 200
        for secret in (
            NAME_FIRST,
            NAME_LAST,
            PHONE,
            "13800000001",
            "王某",
            "Li Lei",
            "13700000002",
            "ouyang@example.org",
            "reporter",
            "open311:",
        ):
            assert secret not in resp.text, f"{secret} leaked in {resp.request.url}"

    root = ET.fromstring(httpx.get(f"{base}/requests/{number}.xml").content)
    assert root.tag == "service_requests"
    req = root.find("request")
    assert req is not None
    assert req.findtext("service_request_id") == number and req.findtext("status") == "open"
    assert req.findtext("agency_responsible") == "村(社区) (village)"
    address_id = req.find("address_id")
    assert address_id is not None and address_id.text is None and req.find("zipcode") is not None

    # an XML POST answers in XML
    r = post(base, fmt="xml", service_code="301", description="村小学旁边的电线杆倾斜，有倒塌危险。")
    assert r.status_code == 201 and r.headers["content-type"] == "text/xml; charset=utf-8"
    root = ET.fromstring(r.content)
    assert root.tag == "service_requests"
    req = root.find("request")
    assert req is not None and NUMBER.match(req.findtext("service_request_id") or "")


def _error(r: httpx.Response, code: int) -> str:
    assert r.status_code == code, r.text
    if r.request.url.path.endswith(".xml"):
        assert r.headers["content-type"] == "text/xml; charset=utf-8"
        root = ET.fromstring(r.content)
        assert root.tag == "errors"
        errors = root.findall("error")
        assert len(errors) == 1 and errors[0].findtext("code") == str(code)
        description = errors[0].findtext("description")
        assert description is not None
        return description
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    body = r.json()
    assert isinstance(body, list) and len(body) == 1 and body[0]["code"] == code
    return body[0]["description"]


def test_errors_come_in_open311_format_and_name_the_field(base):
    assert "api_key" in _error(post(base, api_key=None), 403)
    assert "api_key" in _error(post(base, fmt="xml", api_key=None), 403)
    assert "api_key" in _error(post(base, api_key="stolen-key"), 403)
    assert "service_code" in _error(post(base, service_code="999"), 400)
    assert "service_code" in _error(post(base, service_code=None), 400)
    # no grid and no lat/long to place the request by
    assert "grid_id" in _error(post(base, lat=None, long=None, attributes={"grid_id": None}), 400)
    assert "grid_id" in _error(post(base, fmt="xml", lat=None, long=None, attributes={"grid_id": None}), 400)
    # lat/long in no grid (Beijing), or far from the grid named
    assert _error(post(base, lat="39.9", long="116.4", attributes={"grid_id": None}), 400).startswith("lat: ")
    assert _error(post(base, lat="39.9", long="116.4"), 400).startswith("lat: ")
    assert "grid_id" in _error(post(base, attributes={"grid_id": "changping.nowhere.g99"}), 400)
    assert "grid_id" in _error(post(base, attributes={"grid_id": "changping.kongjiafan"}), 400)  # a village
    assert "attribute[severity]" in _error(post(base, attributes={"severity": "urgent"}), 400)
    assert "description" in _error(post(base, description=""), 400)
    assert "lat" in _error(post(base, lat="north"), 400)
    assert "long" in _error(post(base, long=None), 400)
    assert "location" in _error(post(base, lat=None, long=None, address_string=None), 400)
    assert "phone" in _error(post(base, phone="call me"), 400)
    assert "media_url" in _error(post(base, media_url="ftp://x"), 400)
    assert "jurisdiction_id" in _error(post(base, jurisdiction_id="elsewhere.example"), 404)
    r = httpx.post(f"{base}/requests.json", json={"api_key": API_KEY, "service_code": "103"})
    assert "form-encoded" in _error(r, 400)

    assert "service_code" in _error(httpx.get(f"{base}/services/999.json"), 404)
    assert "service_code" in _error(httpx.get(f"{base}/services/999.xml"), 404)
    assert "CP-1999-999999" in _error(httpx.get(f"{base}/requests/CP-1999-999999.json"), 404)
    assert "CP-1999-999999" in _error(httpx.get(f"{base}/requests/CP-1999-999999.xml"), 404)
    assert "status" in _error(httpx.get(f"{base}/requests.json", params={"status": "pending"}), 400)
    assert "start_date" in _error(httpx.get(f"{base}/requests.xml", params={"start_date": "yesterday"}), 400)
    assert "90 days" in _error(
        httpx.get(
            f"{base}/requests.json", params={"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}
        ),
        400,
    )
    assert "service_code" in _error(httpx.get(f"{base}/requests.json", params={"service_code": "999"}), 400)
    assert "jurisdiction_id" in _error(httpx.get(f"{base}/services.json", params={"jurisdiction_id": "x"}), 404)
    assert "json or .xml" in _error(httpx.get(f"{base}/services.csv"), 400)
    assert _error(httpx.get(f"{base}/tokens/abc.json"), 404)
    assert _error(httpx.delete(f"{base}/services.json"), 405)

    for path, root in (
        ("services.xml", "services"),
        ("services/103.xml", "service_definition"),
        ("requests.xml", "service_requests"),
        ("discovery.xml", "discovery"),
    ):
        r = httpx.get(f"{base}/{path}")
        assert r.status_code == 200 and r.headers["content-type"] == "text/xml; charset=utf-8"
        assert ET.fromstring(r.content).tag == root
    service = ET.fromstring(httpx.get(f"{base}/services.xml").content).find("service")
    assert service is not None and service.findtext("service_code") == "101"


def test_discovery_and_openapi(base, services):
    d = httpx.get(f"{base}/discovery.json").json()
    assert {"changeset", "contact", "key_service", "endpoints"} <= set(d)
    ep = d["endpoints"][0]
    assert ep["specification"] == "http://wiki.open311.org/GeoReport_v2" and ep["type"] == "production"
    assert ep["url"] == base and set(ep["formats"]) == {"application/json", "text/xml"}
    paths = httpx.get(services.url("cases") + "/openapi.json").json()["paths"]
    assert {
        "/open311/v2/services.{fmt}",
        "/open311/v2/requests.{fmt}",
        "/open311/v2/requests/{service_request_id}.{fmt}",
    } <= set(paths)
    post_op = paths["/open311/v2/requests.{fmt}"]["post"]
    assert "application/x-www-form-urlencoded" in post_op["requestBody"]["content"]


# -- POST with media (multipart, issue 14 item 5) ----------------------------------------------------------------


def _gps_jpeg() -> bytes:
    import io

    from PIL import Image

    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (31.0, 44.0, 10.0), "E", (111.0, 50.0, 23.0)
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (90, 60, 30)).save(out, format="JPEG", exif=exif)
    return out.getvalue()


def _media_fields(service_code: str) -> dict[str, str]:
    return {
        "api_key": API_KEY,
        "service_code": service_code,
        "attribute[grid_id]": GRID,
        "address_string": "孔家畈村三组后山",
        "description": "山林边界附近有人砍伐树木，附现场照片。",
    }


def post_media(base: str, media: bytes, service_code: str = "103", filename: str = "IMG_1.jpg") -> httpx.Response:
    fields = _media_fields(service_code)
    return httpx.post(
        f"{base}/requests.json", data=fields, files={"media": (filename, media, "image/jpeg")}, timeout=10
    )


def test_a_multipart_report_with_a_gps_photo_keeps_the_photo_without_exif_public_only_when_the_category_is(base, staff):
    import io

    from PIL import Image

    photo = _gps_jpeg()
    with Image.open(io.BytesIO(photo)) as im:
        assert im.getexif().get_ifd(0x8825)
    # the stored URL is a path of this service, whatever Host the client sent
    r = httpx.post(
        f"{base}/requests.json",
        data=_media_fields("103"),
        files={"media": ("IMG_1.jpg", photo, "image/jpeg")},
        headers={"Host": "evil.example"},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    assert staff.get(f"/v1/cases/{r.json()[0]['service_request_id']}").json()["attachments"][0].startswith("/open311/")
    r = post_media(base, photo)
    assert r.status_code == 201, r.text
    pub = one(base, r.json()[0]["service_request_id"])
    assert pub["media_url"] and pub["media_url"].startswith(base + "/media/"), pub
    got = httpx.get(pub["media_url"], timeout=10)
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(got.content)) as im:
        assert len(im.getexif()) == 0 and im.getexif().get_ifd(0x8825) == {}
        assert im.size == (32, 24)
    assert b"PhoneMaker" not in got.content

    # 邻里纠纷 (101) is status_only: no media_url, and the stored image is not served either
    r = post_media(base, photo, service_code="101")
    assert r.status_code == 201, r.text
    number = r.json()[0]["service_request_id"]
    assert one(base, number)["media_url"] is None
    hidden_path = staff.get(f"/v1/cases/{number}").json()["attachments"][0]
    assert hidden_path.startswith("/open311/v2/media/") and not pub["media_url"].endswith(hidden_path)
    assert httpx.get(base.removesuffix("/open311/v2") + hidden_path, timeout=10).status_code == 404
    assert httpx.get(f"{base}/media/not-a-uuid", timeout=10).status_code == 404

    # not an image by its content: 400 naming media
    r = post_media(base, b"MZ\x90\x00" + b"\x00" * 100, filename="photo.jpg")
    assert r.status_code == 400 and r.json()[0]["description"].startswith("media:"), r.text
    r = post_media(base, b"%PDF-1.4\n%%EOF\n", filename="a.jpg")
    assert r.status_code == 400 and r.json()[0]["description"].startswith("media:"), r.text


def test_a_request_with_lat_long_and_no_grid_is_placed_in_the_grid_holding_the_point(base, staff):
    """The point is computed from the grid's stored demo shape, so it lies inside whatever the shape is."""
    events, _ = area_file.load(area_file.DEFAULT_FILE)
    [g07] = [e for e in events if e.id == "changping.kongjiafan.g07"]
    assert g07.geometry is not None
    inside = shape(g07.geometry.model_dump(mode="json")).representative_point()
    number = created(base, lat=str(inside.y), long=str(inside.x), attributes={"grid_id": None})
    case = staff.get(f"/v1/cases/{number}").json()
    assert case["grid_id"] == "changping.kongjiafan.g07" and case["lat"] == pytest.approx(inside.y)
