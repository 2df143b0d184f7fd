"""The weekly report's CSV (reporting.weekly_csv): for Excel by default (UTF-8 with a BOM, Chinese headers, labels
and names, rates as percentages), English codes with lang=en exactly as before, and a file name Excel users read."""

from __future__ import annotations

import csv
import io
from urllib.parse import unquote

from reporting import weekly_csv

REPORT = {
    "area": {"id": "changping", "name": "长坪镇", "kind": "town"},
    "week": "2026-W48",
    "kpis": {"new": 6, "closure_rate": 0.3333, "on_time_rate": None, "satisfaction_mean": 3.0, "due": 2},
    "by_category": [
        {
            "category": "dispute.land",
            "name": "土地山林纠纷",
            **dict.fromkeys(weekly_csv.CATEGORY_METRICS, 0),
            "new": 2,
        }
    ],
    "grids": [{"id": "changping.qinglong.g01", "name": "青龙村第1网格", "risk": "orange", "score": 12}],
    "livelihood_projects": {
        "proposals": 2,
        "decided": {"adopted": 1, "not_adopted": 0},
        "implementing": 1,
        "meetings": 0,
        "overdue_milestones": 0,
        "budget_adopted_yuan": "1250000.00",
        "spent_yuan": "300000.05",
        "by_stage": [{"stage": "implementing", "name": "实施中", "proposals": 1}],
    },
}


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_the_default_is_for_excel_a_bom_and_chinese_headers_and_words():
    text = weekly_csv.weekly_csv(REPORT)
    assert text.startswith("\ufeff周次,区域,部分,指标,类别或网格,风险等级,数值\r\n")
    assert text.encode("utf-8").startswith(b"\xef\xbb\xbf")
    header, *body = rows(text.removeprefix("\ufeff"))
    table = [dict(zip(header, row, strict=True)) for row in body]
    by_label = {(r["部分"], r["指标"], r["类别或网格"]): r for r in table}
    assert by_label[("总体指标", "新增", "")]["数值"] == "6"
    assert by_label[("总体指标", "结案率", "")]["数值"] == "33.33%"  # Excel reads it as the number 0.3333
    assert by_label[("总体指标", "按期办结率", "")]["数值"] == ""  # no case due: no rate
    assert by_label[("总体指标", "群众满意度（均分）", "")]["数值"] == "3"
    assert by_label[("总体指标", "应结案数（本周到期）", "")]["数值"] == "2"
    assert by_label[("分类别", "新增", "土地山林纠纷")]["数值"] == "2"
    grid = by_label[("网格风险", "风险分值", "青龙村第1网格")]
    assert (grid["风险等级"], grid["数值"], grid["区域"], grid["周次"]) == ("橙", "12", "长坪镇", "2026-W48")
    assert by_label[("民生实事", "已支出（元）", "")]["数值"] == "300000.05"
    assert by_label[("民生实事阶段", "实施中", "")]["数值"] == "1"
    # nothing left in codes where a word is due
    assert not any(code in text for code in ("kpi", "grid_risk", "dispute.land", "orange", "closure_rate"))


def test_every_kpi_the_report_carries_has_a_chinese_label():
    from reporting import render

    labelled = set(weekly_csv.KPI_ZH)
    assert {key for key, _ in render.KPI_LABELS} <= labelled and {key for key, _ in render.RATE_LABELS} <= labelled
    assert {key for key, _ in render.OPERATION_LABELS} <= labelled
    for counts in render.RATE_COUNTS.values():
        assert {key for key, _ in counts} <= labelled


def test_lang_en_is_the_english_codes_as_before_without_a_bom():
    text = weekly_csv.weekly_csv(REPORT, "en")
    assert text.startswith("area_id,week,section,key,category,value\r\n")
    assert "changping,2026-W48,kpi,closure_rate,,0.3333" in text
    assert "changping,2026-W48,kpi,on_time_rate,," in text
    assert "changping,2026-W48,category,new,dispute.land,2" in text
    assert "changping,2026-W48,grid_risk,orange,changping.qinglong.g01,12" in text
    assert "changping,2026-W48,livelihood_projects,spent_yuan,,300000.05" in text
    assert "changping,2026-W48,livelihood_stage,implementing,,1" in text
    assert len(rows(text)) == len(rows(weekly_csv.weekly_csv(REPORT).removeprefix("\ufeff")))  # the same figures


def test_the_file_name_is_chinese_for_excel_with_an_ascii_fallback():
    header = weekly_csv.content_disposition(*weekly_csv.filename(REPORT))
    assert header.startswith("attachment; filename=\"weekly-changping-2026-W48.csv\"; filename*=UTF-8''")
    assert header.isascii()
    assert unquote(header.split("UTF-8''", 1)[1]) == "长坪镇2026-W48周研判.csv"
    assert weekly_csv.filename(REPORT, "en") == ("weekly-changping-2026-W48.csv", "weekly-changping-2026-W48.csv")
    odd = weekly_csv.content_disposition('a"b\\c.csv', '名 "称";.csv')
    assert 'filename="a_b_c.csv"' in odd and odd.endswith("%E5%90%8D%20%22%E7%A7%B0%22%3B.csv")
