"""Progress notes (办理记录) with attachments through HTTP (issue 14 item 5): a grid manager uploads a
photo with a GPS location in its EXIF and a PDF, the notes list shows them, the photo comes back
without any EXIF; files that are not images or PDFs, too large, too many, and callers who may not
add notes are refused with problem+json naming the part."""

from __future__ import annotations

import hashlib
import io
import os
import threading

import httpx
import pytest
from PIL import Image

from govkit.auth import mint

from .test_services_and_areas import wait_caught_up

GRID = "changping.kongjiafan.g03"
OTHER_GRID = "changping.zhongguping.g01"
PROBLEM = "application/problem+json"
MAX_BYTES = 200_000
GPS_IFD = 0x8825
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture(scope="module")
def services(stack):
    """The services with a 200 kB attachment limit."""
    saved = os.environ.get("CASES_ATTACHMENT_MAX_BYTES")
    os.environ["CASES_ATTACHMENT_MAX_BYTES"] = str(MAX_BYTES)
    try:
        stack.stop_services()
        stack.start_services(say=lambda *_: None)
    finally:
        if saved is None:
            os.environ.pop("CASES_ATTACHMENT_MAX_BYTES", None)
        else:
            os.environ["CASES_ATTACHMENT_MAX_BYTES"] = saved
    from govctl import areas as area_file

    area_file.publish(stack.bootstrap, area_file.DEFAULT_FILE)
    stack.wait_areas("cases", 137)
    wait_caught_up(stack)
    yield stack
    stack.stop_services()


def client(stack, sub, roles, areas):
    token = mint(key=stack.state["jwt_secret"], sub=sub, roles=roles, areas=areas)
    return httpx.Client(base_url=stack.url("cases"), headers={"authorization": f"Bearer {token}"}, timeout=20)


def gps_photo() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    gps = exif.get_ifd(GPS_IFD)
    gps[1], gps[2], gps[3], gps[4] = "N", (32.0, 15.0, 30.0), "E", (111.0, 50.0, 20.0)
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 120, 30)).save(out, format="JPEG", exif=exif)
    data = out.getvalue()
    with Image.open(io.BytesIO(data)) as im:
        assert im.getexif().get_ifd(GPS_IFD)
    return data


def new_case(c: httpx.Client, text: str, grid: str = GRID) -> dict:
    body = {
        "category": "environment.sanitation",
        "title": text[:30],
        "description": text,
        "grid_id": grid,
        "severity": "low",
        "source": "grid_patrol",
    }
    r = c.post("/v1/cases", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_a_note_with_a_gps_photo_and_a_pdf_is_listed_and_the_photo_comes_back_without_exif(services):
    gm = client(services, "gm-notes", ["grid_manager"], [GRID])
    case = new_case(gm, "三组垃圾池满溢，需清运")
    photo = gps_photo()
    r = gm.post(
        f"/v1/cases/{case['number']}/notes",
        data={"text": "已联系保洁员清运，附现场照片和清运单"},
        files=[
            ("files", ("IMG_0042.jpg", photo, "image/jpeg")),
            ("files", ("清运单.pdf", PDF, "application/octet-stream")),  # the client's type is not what counts
        ],
    )
    assert r.status_code == 201, r.text
    note = r.json()
    assert note["author"] == "gm-notes" and note["text"].startswith("已联系保洁员")
    img, pdf = note["attachments"]
    assert (img["filename"], img["content_type"]) == ("IMG_0042.jpg", "image/jpeg")
    assert (pdf["filename"], pdf["content_type"], pdf["size"]) == ("清运单.pdf", "application/pdf", len(PDF))
    assert pdf["sha256"] == hashlib.sha256(PDF).hexdigest()

    r2 = gm.post(f"/v1/cases/{case['id']}/notes", data={"text": "清运完毕"})
    assert r2.status_code == 201, r2.text
    listed = gm.get(f"/v1/cases/{case['id']}/notes").json()
    assert [n["text"] for n in listed] == ["清运完毕", note["text"]]  # newest first
    assert listed[1]["attachments"] == note["attachments"]

    got = gm.get(img["url"])
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert hashlib.sha256(got.content).hexdigest() == img["sha256"] and len(got.content) == img["size"]
    with Image.open(io.BytesIO(got.content)) as im:
        assert len(im.getexif()) == 0 and im.getexif().get_ifd(GPS_IFD) == {}
        assert im.size == (64, 48)
    assert b"PhoneMaker" not in got.content
    got_pdf = gm.get(pdf["url"])
    assert got_pdf.content == PDF and got_pdf.headers["content-disposition"].startswith("attachment;")

    timeline = gm.get(f"/v1/cases/{case['id']}/timeline").json()
    notes = [t for t in timeline if t["what"] == "note"]
    assert [t["reason"] for t in notes] == [note["text"], "清运完毕"]
    assert notes[0]["data"] == {"note_id": note["id"], "attachments": [img["id"], pdf["id"]]}

    # the reporter of another case, a manager of another grid: nothing of it
    other = client(services, "gm-other", ["grid_manager"], [OTHER_GRID])
    assert other.get(f"/v1/cases/{case['id']}/notes").status_code == 404
    assert other.get(img["url"]).status_code == 404
    assert gm.get(f"/v1/cases/{case['id']}/attachments/not-a-uuid").status_code == 404


def test_an_exe_named_jpg_too_large_and_too_many_files_are_refused_naming_the_part(services):
    gm = client(services, "gm-notes-2", ["grid_manager"], [GRID])
    case = new_case(gm, "道路积水，排水沟堵塞")
    exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + b"\x00" * 500
    r = gm.post(
        f"/v1/cases/{case['id']}/notes",
        data={"text": "现场照片"},
        files=[("files", ("photo.jpg", exe, "image/jpeg"))],
    )
    assert r.status_code in (415, 422) and r.headers["content-type"] == PROBLEM, r.text
    assert r.json()["errors"][0]["field"] == "body.files[0]"

    r = gm.post(
        f"/v1/cases/{case['id']}/notes",
        data={"text": "扫描件"},
        files=[("files", ("a.pdf", PDF, "application/pdf")), ("files", ("big.pdf", PDF + b"0" * MAX_BYTES, "x/y"))],
    )
    assert r.status_code == 413 and r.headers["content-type"] == PROBLEM, r.text
    assert r.json()["errors"][0]["field"] == "body.files[1]"

    r = gm.post(
        f"/v1/cases/{case['id']}/notes",
        data={"text": "太多"},
        files=[("files", (f"{i}.pdf", PDF, "application/pdf")) for i in range(6)],
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.files", r.text

    # more than all the files allowed together: refused while reading, before any part is looked at
    r = gm.post(
        f"/v1/cases/{case['id']}/notes",
        data={"text": "太大"},
        files=[("files", (f"{i}.pdf", PDF + b"0" * (MAX_BYTES - 1000), "application/pdf")) for i in range(6)],
    )
    assert r.status_code == 413 and r.json()["errors"][0]["field"] == "body", r.text

    r = gm.post(f"/v1/cases/{case['id']}/notes", json={"text": "json"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body", r.text
    r = gm.post(f"/v1/cases/{case['id']}/notes", files=[("files", ("a.pdf", PDF, "application/pdf"))])
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.text", r.text
    r = gm.post(f"/v1/cases/{case['id']}/notes", data={"text": "x" * 2001})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.text", r.text
    assert gm.get(f"/v1/cases/{case['id']}/notes").json() == []


def test_who_may_add_notes_the_staff_and_the_dispatched_assignee_not_the_reporter(services):
    town = client(services, "ta-notes", ["town_admin"], ["changping"])
    resident = client(services, "resident-notes", ["resident"], [])
    r = resident.post(
        "/v1/cases",
        json={
            "category": "hazard.safety",
            "title": "山体裂缝",
            "description": "后山出现裂缝，担心滑坡",
            "grid_id": GRID,
            "severity": "medium",
        },
    )
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    r = resident.post(f"/v1/cases/{cid}/notes", data={"text": "我补充一张照片"})
    assert r.status_code == 403 and r.headers["content-type"] == PROBLEM, r.text
    assert resident.get(f"/v1/cases/{cid}/notes").status_code == 200  # the reporter reads the case, and its notes

    assert town.post(f"/v1/cases/{cid}/accept", json={}).status_code == 200
    r = town.post(
        f"/v1/cases/{cid}/dispatch",
        json={"unit_level": "town", "unit_id": "dept.emergency", "assignee": "dept-handler-notes"},
    )
    assert r.status_code == 200, r.text
    handler = client(services, "dept-handler-notes", ["volunteer"], [])
    r = handler.post(
        f"/v1/cases/{cid}/notes",
        data={"text": "已到场设置警示标志"},
        files=[("files", ("scene.jpg", gps_photo(), "image/jpeg"))],
    )
    assert r.status_code == 201, r.text
    url = r.json()["attachments"][0]["url"]
    for who in (handler, town, resident):
        got = who.get(url)
        assert got.status_code == 200
        with Image.open(io.BytesIO(got.content)) as im:
            assert len(im.getexif()) == 0
    # a grid manager of another grid does not see the case at all
    other = client(services, "gm-notes-3", ["grid_manager"], [OTHER_GRID])
    assert other.post(f"/v1/cases/{cid}/notes", data={"text": "x"}).status_code == 404


# -- CASES_STORAGE=s3: the same note, its files in an S3-compatible bucket --------------------------------------


@pytest.fixture
def s3_services(services):
    """The services again, storing attachments in a local HTTP bucket that checks every request's signature."""
    from http.server import ThreadingHTTPServer

    from tests.integration.test_attachment_storage import ACCESS, BUCKET, REGION, SECRET, Bucket

    Bucket.objects, Bucket.seen = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Bucket)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env = {
        "CASES_STORAGE": "s3",
        "CASES_S3_ENDPOINT": f"http://127.0.0.1:{server.server_address[1]}",
        "CASES_S3_BUCKET": BUCKET,
        "CASES_S3_REGION": REGION,
        "CASES_S3_ACCESS_KEY": ACCESS,
        "CASES_S3_SECRET_KEY": SECRET,
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        services.stop_services()
        services.start_services(say=lambda *_: None)
        services.wait_areas("cases", 137)
        yield services, Bucket
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        services.stop_services()  # the last test of the module: `services` leaves them stopped too
        server.shutdown()
        server.server_close()


def test_with_s3_storage_the_files_go_to_the_bucket_signed_and_come_back(s3_services):
    stack, bucket = s3_services
    gm = client(stack, "gm-notes-s3", ["grid_manager"], [GRID])
    case = new_case(gm, "河道漂浮垃圾，需打捞")
    r = gm.post(
        f"/v1/cases/{case['id']}/notes",
        data={"text": "已打捞，附照片"},
        files=[("files", ("river.jpg", gps_photo(), "image/jpeg")), ("files", ("单.pdf", PDF, "application/pdf"))],
    )
    assert r.status_code == 201, r.text
    img, pdf = r.json()["attachments"]
    assert sorted(bucket.objects) == sorted(f"/case-files/cases/{case['id']}/{a['id']}" for a in (img, pdf)), (
        bucket.objects
    )
    stored, ctype = bucket.objects[f"/case-files/cases/{case['id']}/{img['id']}"]
    assert ctype == "image/jpeg" and hashlib.sha256(stored).hexdigest() == img["sha256"]
    with Image.open(io.BytesIO(stored)) as im:
        assert len(im.getexif()) == 0
    assert gm.get(pdf["url"]).content == PDF
    got = gm.get(img["url"])
    assert got.status_code == 200 and got.content == stored
    assert len(bucket.seen) == 4  # two PUTs and two GETs, each with a signature the bucket verified
