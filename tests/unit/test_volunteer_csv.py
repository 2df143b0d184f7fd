"""Parsing and validation of the volunteer CSV import: each bad field is named with its line."""

import csv

import pytest

from volunteers import registry_import as RI
from volunteers.api import import_routes
from volunteers.domain.registry import NewVolunteer

HEADER = ",".join(RI.COLUMNS)
GOOD = (
    "KJF-001,张建国,13912345678,party_member|mediator,长坪镇机关第一党支部,changping.kongjiafan.g03,"
    "mediation|legal_aid,0-4@08:00-18:00;5@09:00-12:00,3,vol-zhang,true"
)


def csv_bytes(*rows: str, header: str = HEADER, bom: bool = False) -> bytes:
    data = "\r\n".join([header, *rows]).encode()
    return (b"\xef\xbb\xbf" + data) if bom else data


def volunteer_of(row: RI.ParsedRow) -> NewVolunteer:
    """The volunteer of a row that parsed without errors."""
    assert row.volunteer is not None, row.errors
    return row.volunteer


def only_errors(rows):
    return [(e.line, e.field) for r in rows for e in r.errors]


@pytest.mark.parametrize("bom", [False, True])
def test_a_good_row_becomes_a_volunteer_with_bom_or_without(bom):
    (row,) = RI.parse_csv(csv_bytes(GOOD, bom=bom))
    assert row.line == 2 and row.errors == []
    v = volunteer_of(row)
    assert v.external_id == "KJF-001" and v.name == "张建国" and v.phone == "13912345678"
    assert v.roles == ["party_member", "mediator"] and v.skills == ["mediation", "legal_aid"]
    assert v.home_grid == "changping.kongjiafan.g03" and v.party_branch == "长坪镇机关第一党支部"
    assert v.max_concurrent == 3 and v.account_sub == "vol-zhang" and v.active is True
    assert v.availability == [{"weekday": d, "start": "08:00", "end": "18:00"} for d in range(5)] + [
        {"weekday": 5, "start": "09:00", "end": "12:00"}
    ]


def test_optional_columns_take_defaults_and_columns_may_come_in_any_order():
    (row,) = RI.parse_csv(
        csv_bytes("changping.zhongguping.g01,ZGP-9,李四,volunteer", header="home_grid,external_id,name,roles")
    )
    v = volunteer_of(row)
    assert (v.external_id, v.name, v.roles, v.home_grid) == (
        "ZGP-9",
        "李四",
        ["volunteer"],
        "changping.zhongguping.g01",
    )
    assert v.phone is None and v.skills == [] and v.availability == [] and v.max_concurrent == 2 and v.active
    assert v.account_sub is None and v.party_branch is None


def with_field(field: str, value: str, **more: str) -> str:
    """GOOD with some cells replaced."""
    cells = next(csv.reader([GOOD]))
    for f, v in {field: value, **more}.items():
        cells[RI.COLUMNS.index(f)] = v
    return ",".join(f'"{c}"' if ("," in c or "\n" in c) else c for c in cells)


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("external_id", "", "required"),
        ("external_id", "x" * 101, "longer than 100"),
        ("name", "  ", "required"),
        ("name", "名" * 51, "longer than 50"),
        ("phone", "call me", "not a phone number"),
        ("roles", "", "at least one role"),
        ("roles", "party_member|captain", "unknown role 'captain'"),
        ("party_branch", "支" * 101, "longer than 100"),
        ("home_grid", "", "required"),
        ("home_grid", "changping.kongjiafan", "not a grid id"),
        ("home_grid", "Changping.KJF.g1", "not a grid id"),
        ("skills", "mediation|juggling", "unknown skill 'juggling'"),
        ("availability", "0-4 08:00-18:00", "DAYS@HH:MM-HH:MM"),
        ("availability", "7@08:00-10:00", "outside 0 (Monday) to 6 (Sunday)"),
        ("availability", "4-0@08:00-10:00", "runs backwards"),
        ("availability", "mon@08:00-10:00", "not a weekday"),
        ("availability", "0@08:00", "needs a start and an end"),
        ("availability", "0@25:00-26:00", "not a time HH:MM"),
        ("availability", "0@08:70-09:00", "not a time HH:MM"),
        ("availability", "0@18:00-08:00", "end must be after start"),
        ("max_concurrent", "two", "not a whole number"),
        ("max_concurrent", "0", "outside 1 to 20"),
        ("max_concurrent", "21", "outside 1 to 20"),
        ("account_sub", "s" * 101, "longer than 100"),
        ("active", "maybe", "not true or false"),
    ],
)
def test_each_bad_field_is_named_with_its_line(field, value, message):
    first = with_field("external_id", "KJF-000", account_sub="vol-first")
    rows = RI.parse_csv(csv_bytes(first, with_field(field, value)))
    assert rows[0].volunteer is not None and rows[0].errors == []  # the good row is untouched
    bad = rows[1]
    assert bad.volunteer is None
    assert [(e.line, e.field) for e in bad.errors] == [(3, field)]
    assert message in bad.errors[0].message


def test_every_bad_field_of_a_row_is_reported_not_just_the_first():
    (parsed,) = RI.parse_csv(csv_bytes(with_field("roles", "boss", availability="9@08:00-09:00", active="?")))
    assert [(e.line, e.field) for e in parsed.errors] == [(2, "roles"), (2, "availability"), (2, "active")]


@pytest.mark.parametrize(
    "text,expected",
    [
        ("", []),
        ("6@8:00-9:30", [{"weekday": 6, "start": "08:00", "end": "09:30"}]),
        ("0,2,4@14:00-17:00", [{"weekday": d, "start": "14:00", "end": "17:00"} for d in (0, 2, 4)]),
        (" 1-2@08:00-10:00 ; 1@08:00-10:00 ;", [{"weekday": d, "start": "08:00", "end": "10:00"} for d in (1, 2)]),
    ],
)
def test_availability_forms(text, expected):
    assert RI.parse_availability(text) == expected


@pytest.mark.parametrize(
    "value,expected",
    [
        ("", True),
        ("TRUE", True),
        ("1", True),
        ("是", True),
        ("false", False),
        ("0", False),
        ("No", False),
        ("否", False),
    ],
)
def test_active_values(value, expected):
    (row,) = RI.parse_csv(csv_bytes(with_field("active", value)))
    assert volunteer_of(row).active is expected


def test_line_numbers_count_physical_lines_blank_lines_and_quoted_newlines():
    data = csv_bytes(
        GOOD,
        "",
        with_field("party_branch", "第一\n党支部", external_id="K2", account_sub="s2"),
        with_field("roles", "nobody", external_id="K3", account_sub="s3"),
    )
    rows = RI.parse_csv(data)
    assert [r.line for r in rows] == [2, 4, 6]
    assert volunteer_of(rows[1]).party_branch == "第一\n党支部"
    assert only_errors(rows) == [(6, "roles")]


def test_repeated_external_id_or_account_sub_in_one_file_names_the_first_line():
    other = GOOD.replace("vol-zhang", "vol-li")
    rows = RI.parse_csv(csv_bytes(GOOD, other, GOOD.replace("KJF-001", "KJF-002")))
    assert only_errors(rows) == [(3, "external_id"), (4, "account_sub")]
    assert "repeats line 2" in rows[1].errors[0].message and "repeats line 2" in rows[2].errors[0].message


def test_a_row_with_more_values_than_columns_is_refused():
    rows = RI.parse_csv(csv_bytes(GOOD + ",extra"))
    assert only_errors(rows) == [(2, "row")]


@pytest.mark.parametrize(
    "data,status,field,message",
    [
        (b"", 422, "header", "empty"),
        (b"external_id,name,roles,home_grid,nickname\n", 422, "header", "unknown column 'nickname'"),
        (b"external_id,name,roles\n", 422, "header", "missing column(s) home_grid"),
        (b"external_id,name,name,roles,home_grid\n", 422, "header", "appears twice"),
        ("external_id,name,roles,home_grid\nK1,张".encode("gbk") + b"\xff", 422, "body", "not UTF-8 or GB18030"),
        (b"x" * (RI.MAX_BYTES + 1), 413, "body", "2 MiB"),
    ],
)
def test_file_level_refusals(data, status, field, message):
    with pytest.raises(RI.FileError) as e:
        RI.parse_csv(data)
    assert (e.value.status, e.value.field) == (status, field) and message in e.value.message
    problem = import_routes.file_problem(e.value)
    assert problem.status == status and problem.extra["errors"][0]["field"] == field


def test_row_limit_is_5000():
    rows = [f"K{i},名{i},volunteer,changping.kongjiafan.g01" for i in range(RI.MAX_ROWS)]
    header = "external_id,name,roles,home_grid"
    assert len(RI.parse_csv(csv_bytes(*rows, header=header))) == RI.MAX_ROWS
    with pytest.raises(RI.FileError) as e:
        RI.parse_csv(csv_bytes(*rows, "K-extra,多,volunteer,changping.kongjiafan.g01", header=header))
    assert e.value.status == 413 and "5000" in e.value.message
