"""The weekly report as CSV: one row per figure, in Chinese for Excel by default (UTF-8 with a BOM, Chinese headers,
labels and names), or with `lang=en` in today's English codes for programs (no BOM).

Both come from the same dict the JSON API returns and have the same rows in the same order: the Chinese file says
in words what the English one says in codes. Rates are percentages in the Chinese file (Excel reads `33.33%` as
the number 0.3333) and fractions in the English one.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

BOM = "\ufeff"  # Excel reads a CSV as UTF-8 only with it
LANGS = ("zh", "en")

EN_COLUMNS = ["area_id", "week", "section", "key", "category", "value"]
ZH_COLUMNS = ["周次", "区域", "部分", "指标", "类别或网格", "风险等级", "数值"]

SECTION_ZH = {
    "kpi": "总体指标",
    "category": "分类别",
    "grid_risk": "网格风险",
    "livelihood_projects": "民生实事",
    "livelihood_stage": "民生实事阶段",
}
KPI_ZH = {
    "new": "新增",
    "accepted": "受理",
    "resolved": "办结",
    "closed": "结案",
    "open_at_end": "周末在办",
    "overdue": "超期",
    "escalated": "上报升级",
    "referred": "诉调对接",
    "reopened": "返工",
    "dispatched": "派单",
    "returned": "退单",
    "supervised": "本周新增督办",
    "closure_rate": "结案率",
    "due": "应结案数（本周到期）",
    "due_on_time": "其中按期办结",
    "on_time_rate": "按期办结率",
    "extended": "其中经批准延期",
    "extension_rate": "延期率",
    "return_rate": "退单率",
    "supervised_open_at_end": "周末督办在办",
    "suspended_at_end": "周末挂起中",
    "rework_rate": "返工率",
    "grassroots_resolution_rate": "矛盾纠纷基层化解率",
    "satisfaction_mean": "群众满意度（均分）",
    "satisfaction_count": "满意度评价件数",
    "median_hours_to_resolve": "办结用时中位数（小时）",
    "p90_hours_to_resolve": "办结用时90分位（小时）",
}
RATES = frozenset(k for k in KPI_ZH if k.endswith("_rate"))
CATEGORY_METRICS = (
    "new",
    "accepted",
    "resolved",
    "closed",
    "open_at_end",
    "overdue",
    "escalated",
    "referred",
    "reopened",
)
LIVELIHOOD_ZH = {
    "proposals": "在办及本年办结项目",
    "decided_adopted": "本周表决通过",
    "decided_not_adopted": "本周表决未通过",
    "implementing": "实施中",
    "meetings": "本周村民（代表）会议",
    "overdue_milestones": "逾期未完成节点",
    "budget_adopted_yuan": "已通过项目预算（元）",
    "spent_yuan": "已支出（元）",
}
RISK_ZH = {"green": "绿", "yellow": "黄", "orange": "橙", "red": "红"}


def _number(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _percent(v: float | None) -> str:
    return "" if v is None else f"{round(v * 100, 2):g}%"


# one figure: (section, key, category or grid id, its Chinese name, risk level or "", value)
Figure = tuple[str, str, str, str, str, Any]


def figures(r: dict[str, Any]) -> Iterator[Figure]:
    """Every figure of the report in the file's order."""
    for key, value in r["kpis"].items():
        yield "kpi", key, "", "", "", value
    for c in r["by_category"]:
        for m in CATEGORY_METRICS:
            yield "category", m, c["category"], c["name"], "", c[m]
    for g in r["grids"]:
        yield "grid_risk", g["risk"], g["id"], g["name"], g["risk"], g["score"]
    lp = r.get("livelihood_projects")
    if lp is not None:
        for key, value in (
            ("proposals", lp["proposals"]),
            ("decided_adopted", lp["decided"]["adopted"]),
            ("decided_not_adopted", lp["decided"]["not_adopted"]),
            ("implementing", lp["implementing"]),
            ("meetings", lp["meetings"]),
            ("overdue_milestones", lp["overdue_milestones"]),
            ("budget_adopted_yuan", lp["budget_adopted_yuan"]),
            ("spent_yuan", lp["spent_yuan"]),
        ):
            yield "livelihood_projects", key, "", "", "", value
        for st in lp["by_stage"]:
            yield "livelihood_stage", st["stage"], "", st["name"], "", st["proposals"]


def _zh_key(section: str, key: str, name: str) -> str:
    if section == "kpi":
        return KPI_ZH.get(key, key)
    if section == "category":
        return KPI_ZH[key]
    if section == "grid_risk":
        return "风险分值"
    if section == "livelihood_projects":
        return LIVELIHOOD_ZH.get(key, key)
    return name  # a stage of the livelihood flow: its Chinese name


def weekly_csv(r: dict[str, Any], lang: str = "zh") -> str:
    """The CSV text; `lang` zh (default: BOM, Chinese) or en (codes, no BOM: what programs read since the start)."""
    out = io.StringIO()
    w = csv.writer(out)
    area, week = r["area"], r["week"]
    if lang == "en":
        w.writerow(EN_COLUMNS)
        for section, key, ref, _, _, value in figures(r):
            w.writerow([area["id"], week, section, key, ref, _number(value) if section == "kpi" else value])
        return out.getvalue()
    w.writerow(ZH_COLUMNS)
    for section, key, _, name, level, value in figures(r):
        shown = _percent(value) if section == "kpi" and key in RATES else _number(value)
        who = name if section in ("category", "grid_risk") else ""
        w.writerow(
            [week, area["name"], SECTION_ZH[section], _zh_key(section, key, name), who, RISK_ZH.get(level, ""), shown]
        )
    return BOM + out.getvalue()


def filename(r: dict[str, Any], lang: str = "zh") -> tuple[str, str]:
    """(ASCII fallback, the name Excel users see): weekly-changping-2026-W48.csv, 长坪镇2026-W48周研判.csv."""
    ascii_name = f"weekly-{r['area']['id']}-{r['week']}.csv"
    return ascii_name, ascii_name if lang == "en" else f"{r['area']['name']}{r['week']}周研判.csv"


def content_disposition(ascii_name: str, name: str) -> str:
    """An attachment header every browser reads: the ASCII name, and the UTF-8 one as RFC 5987/6266 filename*."""
    fallback = ascii_name.replace("\\", "_").replace('"', "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
