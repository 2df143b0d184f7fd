"""POST /v1/volunteers/import as a town office uses it, on the volunteers service as a process against the real
database: an XLSX workbook made here with openpyxl, a GBK CSV, a multipart upload from a browser form, a broken
workbook (a 4xx problem naming the file), and the template round trip (download, fill a row, upload)."""

from __future__ import annotations

import io
import urllib.parse
import uuid

import httpx
import openpyxl
import pytest

from govkit.auth import mint
from govkit.problems import MEDIA_TYPE as PROBLEM

from .volunteers_process import make_context, retire, volunteers_service

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
VILLAGE = "changping.shimen"  # 石门村: no other test registers volunteers there
GRIDS = [f"{VILLAGE}.g0{i}" for i in range(1, 9)]


@pytest.fixture(scope="module")
def live(stack):
    with volunteers_service(stack) as url:
        yield url


@pytest.fixture
async def ctx(stack):
    c = await make_context(stack)  # the area tree in the service's database
    yield c
    ids = [r["id"] for r in await c.pool.fetch("select id from volunteers where home_grid = any($1::text[])", GRIDS)]
    await retire(c, GRIDS, ids)  # nobody left for the later tests that dispatch
    await c.pool.close()


def staff(stack, url: str, roles=("village_admin",), areas=(VILLAGE,), **headers: str) -> httpx.Client:
    token = mint(key=stack.state["jwt_secret"], sub="va-shimen", roles=list(roles), areas=list(areas))
    return httpx.Client(base_url=url, headers={"authorization": f"Bearer {token}", **headers}, timeout=30)


def workbook(*rows: list[object]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def registered(ctx, external_id: str):
    return await ctx.pool.fetchrow("select * from volunteers where external_id = $1", external_id)


async def test_an_xlsx_with_chinese_headers_role_skill_and_grid_names_registers_and_reports_by_sheet_row(
    stack, live, ctx
):
    t = uuid.uuid4().hex[:6]
    data = workbook(
        ["石门村志愿者花名册"],  # a title row above the header
        ["编号", "姓名", "手机号", "身份", "是否党员", "所属网格", "技能", "可服务时间", "是否启用"],
        [
            f"SM-{t}-1",
            "石建华",
            13900002001,
            "网格员、人民调解员",
            "是",
            "石门村第三网格",
            "矛盾调解、法律援助",
            "0-4@08:00-18:00",
            "是",
        ],
        [f"SM-{t}-2", "石秀兰", None, "宇航员", None, "石门村第1网格", "杂技", None, None],
        [f"SM-{t}-3", "石大勇", "13900002003", "环卫工人|公益岗", "否", "changping.shimen.g02", "清扫保洁", None, "否"],
    )
    with staff(stack, live) as client:
        r = client.post("/v1/volunteers/import", content=data, headers={"content-type": XLSX})
        assert r.status_code == 200, r.text
        report = r.json()
        assert (report["created"], report["skipped"], report["failed"]) == (2, 0, 1)
        assert [(x["line"], x["status"]) for x in report["rows"]] == [(3, "created"), (4, "error"), (5, "created")]
        assert [(e["line"], e["field"], e["column"]) for e in report["errors"]] == [
            (4, "roles", "身份"),
            (4, "skills", "技能"),
        ]
        assert report["errors"][0]["message"].startswith("未知的身份“宇航员”")

        first = await registered(ctx, f"SM-{t}-1")
        assert first["home_grid"] == "changping.shimen.g03" and first["phone"] == "13900002001"
        assert list(first["roles"]) == ["grid_manager", "mediator", "party_member"]
        assert list(first["skills"]) == ["mediation", "legal_aid"] and first["active"]
        third = await registered(ctx, f"SM-{t}-3")
        assert list(third["roles"]) == ["sanitation_worker", "public_service_worker"] and not third["active"]

        # the same workbook again: nothing new, the registered ones reported with their ids
        again = client.post("/v1/volunteers/import", content=data, headers={"content-type": XLSX}).json()
        assert (again["created"], again["skipped"], again["failed"]) == (0, 2, 1)
        assert {x["external_id"]: x["id"] for x in again["rows"] if x["status"] == "exists"} == {
            f"SM-{t}-1": str(first["id"]),
            f"SM-{t}-3": str(third["id"]),
        }


async def test_a_gbk_csv_as_excel_saves_it_registers_with_chinese_messages_for_the_bad_rows(stack, live, ctx):
    t = uuid.uuid4().hex[:6]
    text = "\r\n".join(
        [
            "编号,姓名,手机号,身份,所属网格,技能,同时任务上限",
            f"SM-{t}-1,石玉梅,13900002011,志愿者、党员下沉干部,石门村第4网格,爱心送餐、助老,2",
            f"SM-{t}-2,石志强,,网格员,石门村第99网格,,二十",
            f"SM-{t}-3,钟外村,,网格员,钟鼓坪村第1网格,,",  # outside the village admin's scope
        ]
    )
    with staff(stack, live) as client:
        r = client.post(
            "/v1/volunteers/import", content=text.encode("gbk"), headers={"content-type": "text/csv; charset=gbk"}
        )
        assert r.status_code == 200, r.text
        report = r.json()
        assert (report["created"], report["failed"]) == (1, 2)
        errors = {(e["line"], e["field"]): e for e in report["errors"]}
        assert set(errors) == {(3, "home_grid"), (3, "max_concurrent"), (4, "home_grid")}
        assert "没有名为“石门村第99网格”的网格" in errors[(3, "home_grid")]["message"]
        assert errors[(3, "max_concurrent")]["message"] == "“二十”不是整数"
        assert (
            "不在您的管辖范围内" in errors[(4, "home_grid")]["message"]
            and errors[(4, "home_grid")]["column"] == "所属网格"
        )
        v = await registered(ctx, f"SM-{t}-1")
        assert v["name"] == "石玉梅" and v["home_grid"] == "changping.shimen.g04"
        assert list(v["roles"]) == ["volunteer", "party_member"] and list(v["skills"]) == [
            "meal_delivery",
            "elderly_care",
        ]

        # the same file without a charset, and as UTF-8 with a BOM: the same volunteer (exists), nothing new
        for body in (text.encode("gbk"), b"\xef\xbb\xbf" + text.encode()):
            same = client.post("/v1/volunteers/import", content=body, headers={"content-type": "text/csv"}).json()
            assert (same["created"], same["skipped"], same["failed"]) == (0, 1, 2)


async def test_a_multipart_upload_from_a_browser_form_is_read_by_its_file_name_and_bytes(stack, live, ctx):
    t = uuid.uuid4().hex[:6]
    data = workbook(["编号", "姓名", "身份", "所属网格"], [f"SM-{t}-1", "石春花", "公益岗", "石门村第5网格"])
    with staff(stack, live) as client:
        # a browser that knows no better sends application/octet-stream
        files = {"file": ("志愿者名单.xlsx", data, "application/octet-stream")}
        r = client.post("/v1/volunteers/import", files=files)
        assert r.status_code == 200, r.text
        assert r.json()["created"] == 1
    assert (await registered(ctx, f"SM-{t}-1"))["home_grid"] == "changping.shimen.g05"


@pytest.mark.parametrize("how", ["body", "multipart"])
def test_a_broken_xlsx_is_a_422_problem_naming_the_file_never_a_500(stack, live, how):
    broken = workbook(["编号", "姓名", "身份", "所属网格"], ["K", "名", "志愿者", "石门村第1网格"])[:2000]
    with staff(stack, live) as client:
        if how == "body":
            r = client.post(
                "/v1/volunteers/import",
                params={"filename": "石门村名单.xlsx"},
                content=broken,
                headers={"content-type": XLSX},
            )
        else:
            r = client.post("/v1/volunteers/import", files={"file": ("石门村名单.xlsx", broken, XLSX)})
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    problem = r.json()
    assert problem["errors"][0]["field"] == "file"
    assert "石门村名单.xlsx is not a readable XLSX workbook" in problem["detail"]


def test_refusals_of_the_file_speak_chinese_when_asked_and_an_xls_is_a_415(stack, live):
    broken = b"PK\x03\x04" + b"\x00" * 64
    with staff(stack, live, **{"accept-language": "zh-CN,zh;q=0.9"}) as client:
        r = client.post("/v1/volunteers/import", params={"filename": "名单.xlsx"}, content=broken)
        assert r.status_code == 422 and "名单.xlsx不是可以读取的 XLSX 工作簿" in r.json()["detail"]
        xls = client.post(
            "/v1/volunteers/import",
            files={
                "file": ("名单.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "application/vnd.ms-excel")
            },
        )
        assert xls.status_code == 415 and "另存为 .xlsx" in xls.json()["detail"]
        header = client.post(
            "/v1/volunteers/import", content="编号,姓名,身份\n".encode(), headers={"content-type": "text/csv"}
        )
        assert header.status_code == 422 and header.json()["errors"] == [
            {"field": "header", "message": "缺少列：所属网格"}
        ]


async def test_the_xlsx_template_round_trip_download_fill_a_row_upload(stack, live, ctx):
    t = uuid.uuid4().hex[:6]
    with staff(stack, live) as client:
        r = client.get("/v1/volunteers/import/template.xlsx")
        assert r.status_code == 200 and r.headers["content-type"] == XLSX
        disposition = r.headers["content-disposition"]
        assert "attachment" in disposition and urllib.parse.quote("志愿者导入模板.xlsx") in disposition
        book = openpyxl.load_workbook(io.BytesIO(r.content))
        assert book.sheetnames == ["志愿者名单", "填写说明"]
        notes = {c.value for row in book["填写说明"].iter_rows() for c in row if c.value}
        assert {
            "石门村第1网格",
            "changping.shimen.g08",
            "党员",
            "公共服务员",
            "公益岗、公益性岗位",
            "爱心送餐",
        } <= notes
        assert "孔家畈村第1网格" not in notes  # only the grids of the caller's scope
        sheet = book["志愿者名单"]
        header = [c.value for c in sheet[1]]
        row = dict.fromkeys(header, None)
        row.update({"编号*": f"SM-{t}-T", "姓名*": "石模板", "身份*": "文明监督员", "所属网格*": "石门村第6网格"})
        row.update({"是否党员": "是", "技能": "宣传", "手机号": "13900002099"})
        sheet.append([row[h] for h in header])
        filled = io.BytesIO()
        book.save(filled)

        r = client.post("/v1/volunteers/import", files={"file": ("志愿者导入模板.xlsx", filled.getvalue(), XLSX)})
        assert r.status_code == 200, r.text
        report = r.json()
        assert (report["created"], report["skipped"], report["failed"]) == (1, 1, 0)
        assert [x["status"] for x in report["rows"]] == ["example", "created"]  # the example row is not imported
    v = await registered(ctx, f"SM-{t}-T")
    assert v["home_grid"] == "changping.shimen.g06" and list(v["roles"]) == ["civility_supervisor", "party_member"]
    assert await registered(ctx, "示例-001") is None


async def test_the_csv_template_is_utf8_with_a_bom_and_round_trips(stack, live, ctx):
    t = uuid.uuid4().hex[:6]
    with staff(stack, live) as client:
        r = client.get("/v1/volunteers/import/template.csv")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert r.content.startswith(b"\xef\xbb\xbf") and r.content.decode("utf-8-sig").startswith("编号*,姓名*")
        filled = r.content + f"SM-{t}-C,石表格,,志愿者,,,石门村第7网格,,,,,\r\n".encode()
        report = client.post("/v1/volunteers/import", content=filled, headers={"content-type": "text/csv"}).json()
        assert (report["created"], report["skipped"], report["failed"]) == (1, 1, 0)
        resident = staff(stack, live, roles=("resident",), areas=())
        assert resident.get("/v1/volunteers/import/template.csv").status_code == 403
    assert (await registered(ctx, f"SM-{t}-C"))["home_grid"] == "changping.shimen.g07"
