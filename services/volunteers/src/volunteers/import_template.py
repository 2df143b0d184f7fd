"""The downloadable templates of the volunteer import (导入模板): an XLSX workbook (the list to fill, with the
Chinese headers and an example row, and a sheet 填写说明 of the allowed values: roles, skills, the caller's
grids) and the same header and example as CSV in UTF-8 with a BOM, so that Excel opens it right.

The example row's 编号 starts with 示例: the import skips it (registry_import.is_example), so a template
uploaded with the example left in registers nobody by mistake.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation

from volunteers import import_labels

LIST_SHEET = "志愿者名单"
HELP_SHEET = "填写说明"
FILE_STEM = "志愿者导入模板"
REQUIRED = ("external_id", "name", "roles", "home_grid")
# the template's columns, in order (is_party_member next to roles, as offices keep it)
TEMPLATE_COLUMNS = (
    "external_id",
    "name",
    "phone",
    "roles",
    "is_party_member",
    "party_branch",
    "home_grid",
    "skills",
    "availability",
    "max_concurrent",
    "account_sub",
    "active",
)
TEXT_COLUMNS = ("external_id", "phone", "account_sub")  # kept as text: Excel turns phones into 1.39E+10
RULES = {
    "external_id": "本单位给每人的编号，不超过 100 个字符，文件内不重复；再次导入同一编号不会重复登记。"
    "以“示例”开头的行不导入",
    "name": "不超过 50 个字",
    "phone": "手机号或固定电话，7 至 20 位数字（可含 +、空格、-）",
    "roles": "一种或几种身份，用“、”分隔，见下方身份表",
    "is_party_member": "是 或 否；填“是”即加上身份“党员”",
    "party_branch": "不超过 100 个字",
    "home_grid": "网格名称或网格编号，见下方网格表",
    "skills": "零种或几种技能，用“、”分隔，见下方技能表",
    "availability": "星期@开始-结束，几段用“;”分隔，0 = 周一 … 6 = 周日，例如 0-4@08:00-18:00;5@09:00-12:00",
    "max_concurrent": "1 至 20，不填为 2",
    "account_sub": "志愿者本人登录账号（如有），不重复",
    "active": "是 或 否，不填为 是",
}
BOLD = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")


@dataclass(frozen=True)
class Grid:
    id: str
    name: str
    village: str


def header(column: str) -> str:
    """A column's template header: its first Chinese name, `*` when required."""
    return import_labels.COLUMN_HEADERS[column][0] + ("*" if column in REQUIRED else "")


def example_row(grids: Sequence[Grid]) -> list[str]:
    grid = grids[0].name if grids else "孔家畈村第3网格"
    values = {
        "external_id": "示例-001",
        "name": "张建国",
        "phone": "13912345678",
        "roles": "党员、人民调解员",
        "is_party_member": "是",
        "party_branch": "长坪镇机关第一党支部",
        "home_grid": grid,
        "skills": "矛盾调解、法律援助",
        "availability": "0-4@08:00-18:00;5@09:00-12:00",
        "max_concurrent": "2",
        "account_sub": "",
        "active": "是",
    }
    return [values[c] for c in TEMPLATE_COLUMNS]


def template_csv(grids: Sequence[Grid]) -> bytes:
    """Header and example row, UTF-8 with a BOM (Excel then reads the Chinese right), CRLF line ends."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([header(c) for c in TEMPLATE_COLUMNS])
    writer.writerow(example_row(grids))
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _letter(column: str) -> str:
    return chr(ord("A") + TEMPLATE_COLUMNS.index(column))


def _help_rows(grids: Sequence[Grid]) -> tuple[list[list[str]], list[int]]:
    """The 填写说明 sheet's rows and the numbers of its table headers (the last one heads the grid table)."""
    rows: list[list[str]] = []
    headers: list[int] = []

    def table(head: list[str], body: list[list[str]]) -> None:
        if rows:
            rows.append([])
        rows.append(head)
        headers.append(len(rows))
        rows.extend(body)

    table(
        ["列", "是否必填", "填写说明"],
        [[header(c).rstrip("*"), "必填" if c in REQUIRED else "选填", RULES[c]] for c in TEMPLATE_COLUMNS],
    )
    for title, names in (("身份", import_labels.ROLE_NAMES), ("技能", import_labels.SKILL_NAMES)):
        table([title, "代码", "也可写作"], [[n[0], code, "、".join(n[1:])] for code, n in names.items()])
    table(["网格名称", "网格编号", "所属村（社区）"], [[g.name, g.id, g.village] for g in grids])
    return rows, headers


def template_xlsx(grids: Sequence[Grid]) -> bytes:
    """The workbook: 志愿者名单 (header, example row, drop-downs for 是/否 and the grid names) and 填写说明."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = LIST_SHEET
    sheet.append([header(c) for c in TEMPLATE_COLUMNS])
    sheet.append(example_row(grids))
    for cell in sheet[1]:
        cell.font, cell.fill = BOLD, HEADER_FILL
    for column in TEMPLATE_COLUMNS:
        letter = _letter(column)
        sheet.column_dimensions[letter].width = 30 if column in ("availability", "home_grid", "party_branch") else 16
        if column in TEXT_COLUMNS:
            for row in range(2, 1002):
                sheet[f"{letter}{row}"].number_format = "@"
    sheet.freeze_panes = "A2"

    yes_no = DataValidation(type="list", formula1='"是,否"', allow_blank=True)
    for column in ("is_party_member", "active"):
        yes_no.add(f"{_letter(column)}2:{_letter(column)}5001")
    sheet.add_data_validation(yes_no)

    notes = book.create_sheet(HELP_SHEET)
    rows, headers = _help_rows(grids)
    for values in rows:
        notes.append(values)
    for number in headers:
        for cell in notes[number]:
            cell.font, cell.fill = BOLD, HEADER_FILL
    first_grid = headers[-1] + 1
    notes.column_dimensions["A"].width = 22
    notes.column_dimensions["B"].width = 36
    notes.column_dimensions["C"].width = 90
    for row in notes.iter_rows(min_row=2, max_row=len(TEMPLATE_COLUMNS) + 1, min_col=3, max_col=3):
        row[0].alignment = Alignment(wrap_text=True)
    if grids:  # a drop-down of the grid names; a grid id typed instead is allowed too
        names = DataValidation(
            type="list", formula1=f"'{HELP_SHEET}'!$A${first_grid}:$A${first_grid + len(grids) - 1}", allow_blank=True
        )
        names.showErrorMessage = False
        names.add(f"{_letter('home_grid')}2:{_letter('home_grid')}5001")
        sheet.add_data_validation(names)

    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
