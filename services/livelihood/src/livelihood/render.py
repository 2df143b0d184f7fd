"""The printable public notice (公示) for the village board: A4, Chinese, no external resources."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from html import escape
from typing import Any

from gov_contracts.vocabulary import LOCAL_TZ

MEETING_LABEL = {"villagers_meeting": "村民会议", "representatives_meeting": "村民代表会议"}

CSS = """
@page { size: A4; margin: 18mm 16mm; }
body { font-family: "Noto Serif CJK SC", "Noto Sans CJK SC", serif; color: #111; margin: 0 auto; max-width: 178mm;
       font-size: 11pt; line-height: 1.5; }
h1 { text-align: center; font-size: 19pt; letter-spacing: 2pt; margin: 0 0 4mm; }
.sub { text-align: center; color: #444; margin-bottom: 4mm; }
table { width: 100%; border-collapse: collapse; margin: 2mm 0 4mm; }
th, td { border: 1px solid #555; padding: 1.5mm 3mm; text-align: left; vertical-align: top; }
th { width: 30%; background: #f3f3f3; font-weight: normal; }
.period { border: 2px solid #b00; padding: 2.5mm 3mm; margin: 4mm 0; }
.sign { text-align: right; margin-top: 8mm; }
h2 { font-size: 12pt; margin: 4mm 0 1mm; }
ol { margin: 0; padding-left: 6mm; }
"""


def yuan(value: Decimal | None) -> str:
    return f"¥{value:,.2f}" if value is not None else "—"


def cn_date(d: date | datetime) -> str:
    if isinstance(d, datetime):
        d = d.astimezone(LOCAL_TZ)
        return f"{d.year}年{d.month}月{d.day}日 {d:%H:%M}"
    return f"{d.year}年{d.month}月{d.day}日"


def _rows(pairs: list[tuple[str, str]]) -> str:
    return "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in pairs)


def notice_html(data: dict[str, Any]) -> str:
    notice, p = data["notice"], data["proposal"]
    results = notice["kind"] == "results"
    village = data["village_name"]
    title = f"{village}民生实事{'实施结果' if results else '决议'}公示"
    facts = [
        ("项目名称", p["title"]),
        ("项目编号", p["number"]),
        ("项目类别", p["category_label"]),
        ("项目内容", p["description"]),
        ("预算金额", yuan(p["budget_yuan"])),
        ("资金来源", p["funding_source"]),
        ("受益群众", f"{p['households']} 户 {p['people']} 人"),
        ("民意依据", p["evidence"]["summary"]),
        ("议事程序", p["flow_label"]),
    ]
    decision, meeting = data["decision"], data["meeting"]
    if decision and meeting:
        t = decision["tally"]
        facts.append(
            (
                "决议情况",
                f"{cn_date(meeting['starts_at'])}在{meeting['place']}召开{MEETING_LABEL.get(meeting['kind'], '')}，"
                f"应到{t['eligible']}人，实到{t['present']}人；赞成{t['votes_for']}票，反对{t['votes_against']}票，"
                f"弃权{t['abstentions']}票，{'超过到会人员半数，决议通过' if decision['adopted'] else '未获通过'}。",
            )
        )
    if results:
        done = [m for m in data["milestones"] if m["done_on"]]
        facts.append(("实际支出", yuan(data["spent_yuan"])))
        facts.append(("完成节点", "；".join(f"{m['title']}（{cn_date(m['done_on'])}）" for m in done) or "—"))
    objections = "".join(
        f"<li>{escape(o['text'])}<br>答复：{escape(o['answer']) if o['answer'] else '（待答复）'}</li>"
        for o in data["objections"]
    )
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>
<body>
<h1>{escape(title)}</h1>
<div class="sub">按照“{escape(p["flow_label"])}”的程序，现将以下事项予以公示，接受群众监督。</div>
<table>{_rows(facts)}</table>
<div class="period">公示期：{cn_date(notice["starts_on"])}至{cn_date(notice["ends_on"])}。公示期内如有异议，
可向村民委员会或村务监督委员会反映，也可通过网上公示页面提出（可匿名）。</div>
<h2>异议及答复</h2>
{f"<ol>{objections}</ol>" if objections else "<p>公示期内暂未收到异议。</p>"}
<div class="sign">{escape(village)}村民委员会<br>{cn_date(notice["starts_on"])}</div>
</body></html>
"""
