"""The words a town office writes in its volunteer lists (批量导入): Chinese column headers, role and skill
names, and grid names, each mapped to the codes of the registry.

Every column has one Chinese header the template uses (the first of its names below) and a few others an
office's own spreadsheet may carry; the English column names of the CSV format stay valid. A header may be
marked required with `*` or a note in brackets (`姓名*`, `手机号（选填）`): both are ignored.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping

from volunteers.config import ROLES, SKILLS

# column code -> its Chinese headers, the template's first
COLUMN_HEADERS: dict[str, tuple[str, ...]] = {
    "external_id": ("编号", "人员编号", "志愿者编号"),
    "name": ("姓名",),
    "phone": ("手机号", "手机号码", "联系电话", "电话"),
    "roles": ("身份", "角色", "人员类别"),
    "is_party_member": ("是否党员",),
    "party_branch": ("所属党支部", "党支部"),
    "home_grid": ("所属网格", "网格"),
    "skills": ("技能", "特长"),
    "availability": ("可服务时间", "服务时间"),
    "max_concurrent": ("同时任务上限", "最多同时任务数"),
    "account_sub": ("账号", "登录账号"),
    "active": ("是否启用", "是否在岗"),
}

# role code -> its Chinese names, the canonical one first (../shared/docs/domain.md, glossary)
ROLE_NAMES: dict[str, tuple[str, ...]] = {
    "party_member": ("党员", "党员下沉干部", "下沉党员", "中共党员"),
    "grid_manager": ("网格员", "网格管理员", "专职网格员", "兼职网格员"),
    "sanitation_worker": ("卫生保洁员", "保洁员", "环卫工人", "环卫工"),
    "civility_supervisor": ("文明监督员",),
    "public_service_worker": ("公共服务员", "公益岗", "公益性岗位"),
    "mediator": ("人民调解员", "调解员"),
    "volunteer": ("志愿者",),
}

SKILL_NAMES: dict[str, tuple[str, ...]] = {
    "mediation": ("矛盾调解", "调解", "纠纷调解"),
    "elderly_care": ("助老服务", "助老", "养老护理"),
    "meal_delivery": ("爱心送餐", "送餐"),
    "first_aid": ("急救",),
    "disinfection": ("消毒", "消杀"),
    "temperature_check": ("测温",),
    "publicity": ("宣传",),
    "legal_aid": ("法律援助", "法律服务"),
    "cleanup": ("清扫保洁", "环境整治", "保洁"),
    "driving": ("驾驶", "开车"),
}

assert set(ROLE_NAMES) == set(ROLES) and set(SKILL_NAMES) == set(SKILLS), "a role or skill without a Chinese name"

# roles and skills in a cell: separated by 、 , ， | ; ； / or spaces
LIST_SEPARATORS = re.compile(r"[|、,，;；/\s]+")
HEADER_NOTE = re.compile(r"[（(][^）)]*[）)]|\*")
CJK = re.compile(r"[\u4e00-\u9fff]")
CHINESE_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
GRID_ORDINAL = re.compile(r"第([零〇一二两三四五六七八九十百\d]+)网格")


def _index(names: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for code, aliases in names.items():
        for alias in (code, *aliases):
            assert alias not in out, f"{alias!r} names two codes"
            out[alias] = code
    return out


HEADER_INDEX = _index(COLUMN_HEADERS)
ROLE_INDEX = _index(ROLE_NAMES)
SKILL_INDEX = _index(SKILL_NAMES)


def header_text(raw: str) -> str:
    """A header cell as compared: without BOM, spaces, `*` and bracketed notes; English in lower case."""
    text = HEADER_NOTE.sub("", unicodedata.normalize("NFKC", raw.replace("\ufeff", "")))
    return re.sub(r"\s+", "", text).lower()


def column_of(raw: str) -> str | None:
    """The column code a header names, None when it names none."""
    return HEADER_INDEX.get(header_text(raw))


def is_chinese(headers: Iterable[str]) -> bool:
    """Whether the file speaks Chinese: any header holds a Chinese character."""
    return any(CJK.search(h) for h in headers)


def codes(text: str, index: Mapping[str, str]) -> list[str]:
    """The codes of a cell listing roles or skills by code or Chinese name; an unknown name is kept as written
    (the registry's parser reports it)."""
    out: list[str] = []
    for word in LIST_SEPARATORS.split(unicodedata.normalize("NFKC", text).strip()):
        if word:
            code = index.get(word, index.get(word.lower(), word))
            if code not in out:
                out.append(code)
    return out


def _chinese_number(text: str) -> int | None:
    """一 .. 九十九 (and plain digits) as a number."""
    if text.isdigit():
        return int(text)
    if "百" in text or not text:
        return None
    tens, ten, units = text.partition("十")
    try:
        if not ten:
            return CHINESE_DIGITS[text] if len(text) == 1 else None
        high = CHINESE_DIGITS[tens] if tens else 1
        low = CHINESE_DIGITS[units] if units else 0
    except KeyError:
        return None
    return high * 10 + low if len(tens) <= 1 and len(units) <= 1 else None


def grid_name_key(name: str) -> str:
    """A grid's name as compared: no spaces, full-width forms folded, 第三网格 / 第03网格 as 第3网格."""
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", name))

    def ordinal(m: re.Match[str]) -> str:
        n = _chinese_number(m.group(1))
        return m.group(0) if n is None else f"第{n}网格"

    return GRID_ORDINAL.sub(ordinal, text)


def grid_index(grids: Iterable[tuple[str, str]]) -> dict[str, str | None]:
    """(id, name) of the area tree's grids -> name key -> grid id; None for a name two grids share."""
    out: dict[str, str | None] = {}
    for grid_id, name in grids:
        key = grid_name_key(name)
        out[key] = None if key in out and out[key] != grid_id else grid_id
    return out
