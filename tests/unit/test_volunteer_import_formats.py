"""The volunteer import as a town office sends it: Chinese headers, role, skill and grid names, GBK or UTF-8
CSV with or without BOM, XLSX; the format told by magic bytes, media type and name; the templates."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from datetime import time

import openpyxl
import pytest

from volunteers import import_formats, import_labels, import_template
from volunteers import registry_import as importer
from volunteers.api import import_routes
from volunteers.config import ROLES, SKILLS
from volunteers.import_formats import Format

GRIDS = import_labels.grid_index(
    [
        ("changping.kongjiafan.g03", "孔家畈村第3网格"),
        ("changping.kongjiafan.g12", "孔家畈村第12网格"),
        ("changping.zhongguping.g01", "钟鼓坪村第1网格"),
        ("changping.a.g01", "同名网格"),
        ("changping.b.g01", "同名网格"),
    ]
)
CHINESE_HEADER = "编号,姓名,手机号,身份,是否党员,所属党支部,所属网格,技能,可服务时间,同时任务上限,账号,是否启用"
CHINESE_ROW = (
    "KJF-001,张建国,13912345678,网格员、人民调解员,是,长坪镇机关第一党支部,孔家畈村第三网格,"
    '"矛盾调解,法律援助",0-4@08:00-18:00,3,vol-zhang,是'
)


def parse_csv_text(text: str, encoding: str = "utf-8", bom: bool = False) -> importer.ParsedFile:
    data = text.encode(encoding)
    return importer.parse_upload((b"\xef\xbb\xbf" if bom else b"") + data, Format.CSV, grids=GRIDS)


def only(parsed: importer.ParsedFile):
    (row,) = parsed.rows
    assert row.volunteer is not None, row.errors
    return row.volunteer


def xlsx(*rows: Sequence[object], title: Sequence[object] | None = None) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    if title:
        sheet.append(title)
    for r in rows:
        sheet.append(r)
    book.create_sheet("其他")["A1"] = "ignored"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# -- decoding ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "encoding,bom", [("utf-8", False), ("utf-8", True), ("gbk", False), ("gb18030", False), ("gb2312", False)]
)
def test_chinese_csv_in_utf8_with_or_without_bom_and_in_gbk_gives_the_same_volunteer(encoding, bom):
    text = "\r\n".join([CHINESE_HEADER, CHINESE_ROW.replace("孔家畈村第三网格", "孔家畈村第3网格")])
    parsed = parse_csv_text(text, encoding, bom)
    assert parsed.lang == "zh"
    v = only(parsed)
    assert (v.external_id, v.name, v.phone) == ("KJF-001", "张建国", "13912345678")
    assert v.roles == ["grid_manager", "mediator", "party_member"]
    assert v.skills == ["mediation", "legal_aid"] and v.home_grid == "changping.kongjiafan.g03"
    assert v.party_branch == "长坪镇机关第一党支部" and v.max_concurrent == 3 and v.active is True


def test_decode_tries_strict_utf8_first_then_gb18030():
    assert import_formats.decode("姓名".encode()) == "姓名"
    assert import_formats.decode(b"\xef\xbb\xbf" + "姓名".encode()) == "姓名"
    assert import_formats.decode("姓名，网格员".encode("gbk")) == "姓名，网格员"
    assert import_formats.decode("㐀".encode("gb18030")) == "㐀"  # beyond GBK: GB18030's four-byte form
    with pytest.raises(importer.FileError) as e:
        import_formats.decode(b"\xff\xff")
    assert e.value.status == 422 and "GB18030" in e.value.message and "GBK" in e.value.zh
    with pytest.raises(importer.FileError, match="UTF-16"):
        import_formats.decode("姓名".encode("utf-16"))


# -- header mapping ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw,column",
    [
        ("姓名", "name"),
        ("姓名*", "name"),
        (" 手机号码（选填） ", "phone"),
        ("联系电话", "phone"),
        ("身份", "roles"),
        ("是否党员", "is_party_member"),
        ("所属网格", "home_grid"),
        ("技能", "skills"),
        ("编号", "external_id"),
        ("\ufeffexternal_id", "external_id"),
        ("Home_Grid", "home_grid"),
        ("昵称", None),
    ],
)
def test_headers_map_to_columns(raw, column):
    assert import_labels.column_of(raw) == column


def test_every_role_and_skill_has_a_chinese_name_and_the_names_map_back():
    assert set(import_labels.ROLE_NAMES) == set(ROLES) and set(import_labels.SKILL_NAMES) == set(SKILLS)
    for code, names in import_labels.ROLE_NAMES.items():
        assert all(import_labels.ROLE_INDEX[n] == code for n in names)
    assert import_labels.codes("党员下沉干部、网格员|环卫工人, 公益岗", import_labels.ROLE_INDEX) == [
        "party_member",
        "grid_manager",
        "sanitation_worker",
        "public_service_worker",
    ]
    assert import_labels.codes("爱心送餐；助老 消毒/测温，volunteer", import_labels.SKILL_INDEX) == [
        "meal_delivery",
        "elderly_care",
        "disinfection",
        "temperature_check",
        "volunteer",  # unknown as a skill: kept for the parser to report
    ]


@pytest.mark.parametrize(
    "name,grid",
    [
        ("孔家畈村第3网格", "changping.kongjiafan.g03"),
        ("孔家畈村第三网格", "changping.kongjiafan.g03"),
        ("孔家畈村第03网格", "changping.kongjiafan.g03"),
        ("孔家畈村 第３网格", "changping.kongjiafan.g03"),  # a space and a full-width digit
        ("孔家畈村第十二网格", "changping.kongjiafan.g12"),
        ("钟鼓坪村第一网格", "changping.zhongguping.g01"),
        ("changping.zhongguping.g01", "changping.zhongguping.g01"),
    ],
)
def test_a_grid_by_its_chinese_name_or_its_id(name, grid):
    text = "\n".join(["编号,姓名,身份,所属网格", f"K1,甲,志愿者,{name}"])
    assert only(parse_csv_text(text)).home_grid == grid


@pytest.mark.parametrize(
    "name,message",
    [("孔家畈村第99网格", "没有名为“孔家畈村第99网格”的网格"), ("同名网格", "有多个网格名为“同名网格”")],
)
def test_an_unknown_or_ambiguous_grid_name_is_the_rows_error_in_chinese(name, message):
    (row,) = parse_csv_text("\n".join(["编号,姓名,身份,所属网格", f"K1,甲,志愿者,{name}"])).rows
    assert [(e.line, e.field) for e in row.errors] == [(2, "home_grid")] and message in row.errors[0].zh


@pytest.mark.parametrize(
    "flag,roles,expected",
    [
        ("是", "志愿者", ["volunteer", "party_member"]),
        ("否", "志愿者", ["volunteer"]),
        ("", "志愿者", ["volunteer"]),
        ("是", "党员", ["party_member"]),
        ("是", "", ["party_member"]),  # 是否党员 alone gives the one role
    ],
)
def test_is_party_member_yes_adds_the_role(flag, roles, expected):
    text = "\n".join(["编号,姓名,身份,是否党员,所属网格", f"K1,甲,{roles},{flag},孔家畈村第3网格"])
    assert only(parse_csv_text(text)).roles == expected


def test_is_party_member_no_with_the_party_role_or_a_bad_flag_is_refused():
    text = "\n".join(
        ["编号,姓名,身份,是否党员,所属网格", "K1,甲,党员,否,孔家畈村第3网格", "K2,乙,志愿者,也许,孔家畈村第3网格"]
    )
    rows = parse_csv_text(text).rows
    assert [(e.line, e.field) for r in rows for e in r.errors] == [(2, "is_party_member"), (3, "is_party_member")]
    assert "身份中有党员" in rows[0].errors[0].zh and "不是“是”或“否”" in rows[1].errors[0].zh


@pytest.mark.parametrize("value,expected", [("是", True), ("否", False), ("", True), ("１", True)])
def test_active_in_chinese(value, expected):
    text = "\n".join(["编号,姓名,身份,所属网格,是否启用", f"K1,甲,志愿者,孔家畈村第3网格,{value}"])
    assert only(parse_csv_text(text)).active is expected


def test_full_width_forms_typed_with_a_chinese_input_method_are_read():
    text = "\n".join(
        [
            "编号,姓名,手机号,身份,所属网格,可服务时间,同时任务上限",
            "K1,甲,１３９１２３４５６７８,志愿者,孔家畈村第3网格,０－４＠０８：００－１８：００；５＠０９：００－１２：００,３",
        ]
    )
    v = only(parse_csv_text(text))
    assert v.phone == "13912345678" and v.max_concurrent == 3
    assert v.availability[0] == {"weekday": 0, "start": "08:00", "end": "18:00"} and len(v.availability) == 6


def test_with_chinese_headers_the_messages_are_chinese_and_name_the_column_as_written():
    text = "\n".join(["编号*,姓名*,身份*,所属网格*,技能", "K1,甲,宇航员,孔家畈村第3网格,杂技"])
    parsed = parse_csv_text(text)
    (row,) = parsed.rows
    assert [(e.line, e.field) for e in row.errors] == [(2, "roles"), (2, "skills")]
    shown = [e.as_dict(parsed.lang, parsed.headers.get(e.field)) for e in row.errors]
    assert shown[0]["column"] == "身份" and shown[0]["message"].startswith("未知的身份“宇航员”；可填：党员、网格员")
    assert shown[1]["column"] == "技能" and "未知的技能“杂技”" in shown[1]["message"]
    assert "unknown role '宇航员'" in row.errors[0].message  # English when asked for it


def test_english_headers_keep_english_messages_and_chinese_names_are_accepted_there_too():
    text = "\n".join(["external_id,name,roles,home_grid,skills", "K1,甲,网格员|astronaut,孔家畈村第3网格,送餐"])
    parsed = parse_csv_text(text)
    assert parsed.lang == "en"
    (row,) = parsed.rows
    assert row.errors[0].as_dict(parsed.lang, parsed.headers.get("roles")) == {
        "line": 2,
        "field": "roles",
        "message": "unknown role 'astronaut'; use " + ", ".join(ROLES),
    }


@pytest.mark.parametrize(
    "header,message",
    [
        ("编号,姓名,身份,所属网格,昵称", "未知的列“昵称”"),
        ("编号,姓名,身份", "缺少列：所属网格"),
        ("编号,姓名,身份,所属网格,网格", "出现了两次"),
    ],
)
def test_a_bad_chinese_header_is_refused_in_chinese(header, message):
    with pytest.raises(importer.FileError) as e:
        parse_csv_text(header + "\n")
    assert e.value.status == 422 and e.value.field == "header" and e.value.lang == "zh"
    problem = import_routes.file_problem(e.value)
    assert message in problem.detail and problem.extra["errors"][0]["field"] == "header"


def test_a_title_row_above_the_header_is_skipped_and_line_numbers_stay_physical():
    text = "\n".join(["长坪镇志愿者名单（2026年）,,,", "", "编号,姓名,身份,所属网格", "K1,甲,志愿者,孔家畈村第3网格"])
    (row,) = parse_csv_text(text).rows
    assert row.line == 4 and row.volunteer is not None


def test_the_templates_example_row_is_skipped():
    text = "\n".join(
        ["编号,姓名,身份,所属网格", "示例-001,张建国,党员,孔家畈村第3网格", "K1,甲,志愿者,孔家畈村第3网格"]
    )
    rows = parse_csv_text(text).rows
    assert [(r.line, r.example, r.volunteer is not None) for r in rows] == [(2, True, False), (3, False, True)]


# -- XLSX --------------------------------------------------------------------------------------------------------


def test_xlsx_first_sheet_with_numbers_times_and_booleans_as_excel_stores_them():
    data = xlsx(
        ["编号", "姓名", "手机号", "身份", "所属网格", "技能", "同时任务上限", "是否启用", None],
        ["KJF-9", "孔桂兰", 13900001002, "公益岗", "孔家畈村第三网格", "助老、爱心送餐", 2.0, True],
        [],
        ["KJF-10", "钟玉梅", None, "环卫工人", "changping.zhongguping.g01", None, None, False],
        title=["孔家畈村志愿者花名册"],
    )
    parsed = importer.parse_upload(data, Format.XLSX, filename="名单.xlsx", grids=GRIDS)
    assert parsed.lang == "zh" and [r.line for r in parsed.rows] == [3, 5]
    first, second = (r.volunteer for r in parsed.rows)
    assert first is not None and second is not None
    assert (first.phone, first.roles, first.home_grid) == (
        "13900001002",
        ["public_service_worker"],
        "changping.kongjiafan.g03",
    )
    assert first.skills == ["elderly_care", "meal_delivery"] and first.max_concurrent == 2 and first.active
    assert second.roles == ["sanitation_worker"] and second.active is False and second.phone is None


def test_cell_text():
    assert import_formats.cell_text(13912345678.0) == "13912345678"
    assert import_formats.cell_text(2.5) == "2.5"
    assert import_formats.cell_text(time(8, 0)) == "08:00"
    assert import_formats.cell_text(None) == "" and import_formats.cell_text(True) == "是"


def broken_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("hello.txt", "not a workbook")
    return out.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        b"PK\x03\x04" + b"\x00" * 100,  # a ZIP's magic and nothing after
        xlsx(["编号", "姓名"])[:3000],  # cut short
        broken_zip(),  # a ZIP, but no workbook in it
    ],
)
def test_a_broken_xlsx_is_a_422_naming_the_file(data):
    with pytest.raises(importer.FileError) as e:
        importer.parse_upload(data, Format.XLSX, filename="志愿者名单.xlsx")
    assert e.value.status == 422 and e.value.field == "file"
    assert "志愿者名单.xlsx is not a readable XLSX workbook" in e.value.message and "志愿者名单.xlsx" in e.value.zh


def test_xlsx_row_limit():
    rows = [[f"K{i}", "名", "志愿者", "changping.kongjiafan.g03"] for i in range(importer.MAX_ROWS + 1)]
    with pytest.raises(importer.FileError) as e:
        importer.parse_upload(xlsx(["编号", "姓名", "身份", "所属网格"], *rows), Format.XLSX)
    assert e.value.status == 413 and "5000" in e.value.message


# -- format detection --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type,filename,head,expected",
    [
        ("text/csv", None, b"a,b", Format.CSV),
        ("text/csv; charset=GBK", None, b"a,b", Format.CSV),
        ("text/csv; charset=utf-8", None, b"a,b", Format.CSV),
        ("application/vnd.ms-excel", "名单.csv", b"a,b", Format.CSV),  # Windows browsers with Excel installed
        (import_formats.XLSX_MEDIA, None, b"PK\x03\x04", Format.XLSX),
        ("application/octet-stream", "名单.xlsx", b"PK\x03\x04", Format.XLSX),
        ("application/octet-stream", "名单.csv", b"a,b", Format.CSV),
        ("text/csv", "名单.csv", b"PK\x03\x04", Format.XLSX),  # the bytes win: an XLSX renamed
        ("", None, b"a,b", Format.CSV),
    ],
)
def test_the_format_from_bytes_media_type_and_name(content_type, filename, head, expected):
    assert import_formats.detect(content_type, filename, head) is expected


@pytest.mark.parametrize(
    "content_type,filename,head,message",
    [
        ("application/json", None, b"{}", "send Content-Type: text/csv"),
        ("text/csv; charset=latin-1", None, b"a", "charset latin-1"),
        ("application/octet-stream", "名单.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "Excel 97-2003"),
    ],
)
def test_what_is_neither_csv_nor_xlsx_is_a_415(content_type, filename, head, message):
    with pytest.raises(importer.FileError) as e:
        import_formats.detect(content_type, filename, head)
    assert e.value.status == 415 and message in e.value.message
    assert import_routes.file_problem(e.value).title == "Unsupported media type"


# -- templates ---------------------------------------------------------------------------------------------------

TEMPLATE_GRIDS = [import_template.Grid("changping.kongjiafan.g03", "孔家畈村第3网格", "孔家畈村")]


def test_the_xlsx_template_has_the_chinese_headers_an_example_and_the_allowed_values():
    book = openpyxl.load_workbook(io.BytesIO(import_template.template_xlsx(TEMPLATE_GRIDS)))
    assert book.sheetnames == ["志愿者名单", "填写说明"]
    header = [c.value for c in book["志愿者名单"][1]]
    assert header[:4] == ["编号*", "姓名*", "手机号", "身份*"] and "所属网格*" in header and "是否党员" in header
    assert all(import_labels.column_of(h) for h in header)
    assert book["志愿者名单"]["A2"].value.startswith("示例")
    notes = [[c.value for c in row] for row in book["填写说明"].iter_rows()]
    flat = {v for row in notes for v in row if v}
    assert {"党员", "网格员", "公共服务员", "爱心送餐", "矛盾调解"} <= flat
    assert {"party_member", "meal_delivery", "changping.kongjiafan.g03", "孔家畈村第3网格"} <= flat


def test_the_xlsx_template_filled_in_parses():
    book = openpyxl.load_workbook(io.BytesIO(import_template.template_xlsx(TEMPLATE_GRIDS)))
    book["志愿者名单"].append(["T-1", "王芳", "13800000001", "网格员", "否", None, "孔家畈村第3网格", "宣传"])
    out = io.BytesIO()
    book.save(out)
    parsed = importer.parse_upload(out.getvalue(), Format.XLSX, grids=GRIDS)
    example, filled = parsed.rows
    assert example.example and filled.volunteer is not None and filled.volunteer.roles == ["grid_manager"]


def test_the_csv_template_is_utf8_with_bom_and_parses():
    data = import_template.template_csv(TEMPLATE_GRIDS)
    assert data.startswith(b"\xef\xbb\xbf") and data.decode("utf-8-sig").startswith("编号*,姓名*,手机号,身份*")
    filled = data + "T-2,李强,,志愿者、调解员,,,孔家畈村第3网格,矛盾调解,,,,\r\n".encode()
    example, row = importer.parse_upload(filled, Format.CSV, grids=GRIDS).rows
    assert example.example and row.volunteer is not None and row.volunteer.roles == ["volunteer", "mediator"]
