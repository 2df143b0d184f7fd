"""The weekly report as printable HTML (Chinese, inline SVG charts) and as CSV.

Both are rendered from the same dict the JSON API returns, so they agree to the
digit; every figure in the HTML carries a data-kpi attribute for checking.
"""

from __future__ import annotations

import csv
import html
import io
from decimal import Decimal
from typing import Any

from gov_contracts.vocabulary import LEVEL_LABEL, SEVERITY_LABEL
from reporting.domain.livelihood import yuan_grouped
from reporting.grid_map import grid_map

KPI_LABELS = [
    ("new", "新增"),
    ("accepted", "受理"),
    ("resolved", "办结"),
    ("closed", "结案"),
    ("open_at_end", "周末在办"),
    ("overdue", "超期"),
    ("escalated", "上报升级"),
    ("referred", "诉调对接"),
    ("reopened", "返工"),
]
RATE_LABELS = [
    ("closure_rate", "结案率"),
    ("on_time_rate", "按期办结率（应结案数口径）"),
    ("rework_rate", "返工率"),
    ("grassroots_resolution_rate", "矛盾纠纷基层化解率"),
    ("extension_rate", "延期率（应结案数口径）"),
    ("return_rate", "退单率"),
]
# shown beside the rate they are the denominator and numerator of (docs/kpis.md)
RATE_COUNTS = {
    "on_time_rate": [("due", "应结案数（本周到期）"), ("due_on_time", "其中按期办结")],
    "extension_rate": [("extended", "其中经批准延期")],
    "return_rate": [("returned", "退单"), ("dispatched", "派单")],
}
# counts of the case operations shown after the rates (docs/kpis.md)
OPERATION_LABELS = [
    ("supervised", "本周新增督办（件）"),
    ("supervised_open_at_end", "周末督办在办（件）"),
    ("suspended_at_end", "周末挂起中（件）"),
]
STATUS_ZH = {
    "reported": "待受理",
    "accepted": "已受理",
    "dispatched": "已派遣",
    "in_progress": "处置中",
    "resolved": "已办结待核查",
    "verified": "已核查待结案",
    "reopened": "返工办理",
    "referred": "诉调对接中",
    "suspended": "挂起（缓办）",
    "closed": "已结案",
    "rejected": "不予受理",
    "withdrawn": "已撤回",
    "merged": "已合并",
}
WHY_ZH = {"overdue": "逾期", "supervised": "督办", "severe": "重大"}
RISK_ZH = {"green": "绿", "yellow": "黄", "orange": "橙", "red": "红"}
RISK_COLOR = {"green": "#2e7d32", "yellow": "#f9a825", "orange": "#ef6c00", "red": "#c62828"}
KIND_ZH = {"town": "镇", "village": "村", "community": "社区", "grid": "网格"}
ROLE_ZH = {
    "party_member": "党员",
    "grid_manager": "网格员",
    "sanitation_worker": "保洁员",
    "civility_supervisor": "文明监督员",
    "public_service_worker": "公共服务员",
    "mediator": "调解员",
    "volunteer": "志愿者",
    "unknown": "未登记",
}


def fmt(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def pct(v: float | None) -> str:
    return "—" if v is None else f"{v * 100:.1f}%"


def e(s) -> str:
    return html.escape(str(s))


def _line_chart(trend: list[dict]) -> str:
    w, h, pad = 560, 200, 36
    peak = max([1] + [t["new"] for t in trend] + [t["closed"] for t in trend])
    step = (w - 2 * pad) / max(len(trend) - 1, 1)

    def pts(key):
        return " ".join(
            f"{pad + i * step:.1f},{h - pad - t[key] / peak * (h - 2 * pad):.1f}" for i, t in enumerate(trend)
        )

    labels = "".join(
        f'<text x="{pad + i * step:.1f}" y="{h - 12}" font-size="10" text-anchor="middle">{e(t["week"][-3:])}</text>'
        for i, t in enumerate(trend)
    )
    dots = "".join(
        f'<circle cx="{pad + i * step:.1f}" cy="{h - pad - t["new"] / peak * (h - 2 * pad):.1f}" r="3" '
        f'fill="#1565c0" data-week="{e(t["week"])}" data-new="{t["new"]}" data-closed="{t["closed"]}"/>'
        for i, t in enumerate(trend)
    )
    return (
        f'<svg class="chart" id="trend-chart" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
        f'aria-label="近八周新增与结案趋势">'
        f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#999"/>'
        f'<text x="{pad}" y="14" font-size="11">峰值 {peak}</text>'
        f'<polyline fill="none" stroke="#1565c0" stroke-width="2" points="{pts("new")}"/>'
        f'<polyline fill="none" stroke="#2e7d32" stroke-width="2" stroke-dasharray="5,3" points="{pts("closed")}"/>'
        f"{dots}{labels}"
        f'<text x="{w - pad - 110}" y="14" font-size="11" fill="#1565c0">— 新增</text>'
        f'<text x="{w - pad - 50}" y="14" font-size="11" fill="#2e7d32">- - 结案</text></svg>'
    )


def _bar_chart(by_category: list[dict]) -> str:
    rows = [c for c in by_category if c["new"] or c["open_at_end"]][:12]
    w, bar, gap, left = 560, 16, 6, 130
    h = max(40, len(rows) * (bar + gap) + 20)
    peak = max([1] + [max(c["new"], c["open_at_end"]) for c in rows])
    body = []
    for i, c in enumerate(rows):
        y = 10 + i * (bar + gap)
        nw = c["new"] / peak * (w - left - 60)
        ow = c["open_at_end"] / peak * (w - left - 60)
        body.append(
            f'<text x="{left - 6}" y="{y + bar - 4}" font-size="11" text-anchor="end">{e(c["name"])}</text>'
            f'<rect x="{left}" y="{y}" width="{nw:.1f}" height="{bar / 2:.0f}" fill="#1565c0" '
            f'data-category="{e(c["category"])}" data-new="{c["new"]}"/>'
            f'<rect x="{left}" y="{y + bar / 2:.0f}" width="{ow:.1f}" height="{bar / 2:.0f}" fill="#ef6c00" '
            f'data-open="{c["open_at_end"]}"/>'
            f'<text x="{left + max(nw, ow) + 4:.1f}" y="{y + bar - 4}" font-size="10">'
            f"{c['new']} / {c['open_at_end']}</text>"
        )
    return (
        f'<svg class="chart" id="category-chart" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
        f'aria-label="分类别新增与在办">{"".join(body)}</svg>'
    )


CATEGORY_COLUMNS = (
    ("new", "新增"),
    ("accepted", "受理"),
    ("resolved", "办结"),
    ("closed", "结案"),
    ("open_at_end", "周末在办"),
    ("overdue", "超期"),
    ("escalated", "升级"),
    ("referred", "诉调"),
    ("reopened", "返工"),
)
LISTED_RISKS = ("red", "orange", "yellow")  # the grids listed one per row; green ones are counted
INDEX_BY_VILLAGE_FROM = 30  # more shaped grids than this: the map's index gives each village's numbers
STYLE = """
@page{size:A4;margin:10mm 10mm 11mm}
body{font-family:"Noto Sans CJK SC","WenQuanYi Micro Hei","Microsoft YaHei",sans-serif;margin:16px auto;
max-width:190mm;color:#222;font-size:12px;line-height:1.35}
h1{font-size:18px;margin:0 0 4px;text-align:center} .meta{margin:2px 0 4px;font-size:11px;text-align:center}
h2{font-size:14px;border-left:4px solid #c62828;padding-left:6px;margin:10px 0 4px}
h3{font-size:12px;margin:6px 0 2px} p{margin:3px 0}
.cards{display:flex;flex-wrap:wrap;gap:4px}
.card{border:1px solid #ddd;border-radius:4px;padding:2px 5px;flex:1 0 8%}
.card .v{font-size:15px;font-weight:bold} .card .l{font-size:11px;color:#555} .card .d{font-size:10px;color:#888}
table{border-collapse:collapse;font-size:11px;margin-top:4px}
td,th{border:1px solid #ccc;padding:1px 4px;text-align:left;vertical-align:top;line-height:1.2}
th{font-weight:normal;background:#f5f5f5}
td.risk{color:#fff;text-align:center} td.why{white-space:nowrap} .reasons{max-width:360px}
.cols{display:flex;gap:10px;align-items:flex-start} .cols>table{flex:1} #rates th{white-space:nowrap}
.charts{display:flex;gap:8px;align-items:flex-start} .charts svg{width:50%;height:auto;max-height:40mm}
.map-row{display:flex;gap:8px;align-items:flex-start}
.map{flex:0 0 62%} .map svg{width:100%;height:auto;max-height:90mm}
.map-index{columns:2;font-size:10px;padding-left:0;list-style:none;margin:0}
.map-side{flex:1;font-size:10px} .hot{columns:2;margin:2px 0;padding-left:18px;font-size:11px}
.note{font-size:10px;color:#888}
@media print{body{margin:0;max-width:none} h2,h3{break-after:avoid;page-break-after:avoid}
tr,.card,.charts,.map-row{break-inside:avoid;page-break-inside:avoid} thead{display:table-header-group}}
"""


def _cards(k: dict[str, Any], change: dict[str, Any]) -> str:
    return "".join(
        f'<div class="card"><div class="v" data-kpi="{key}">{fmt(k[key])}</div><div class="l">{label}</div>'
        f'<div class="d">较上周 {change[key]["delta"]:+d}<br>四周均 {fmt(change[key]["mean_4w"])}</div></div>'
        for key, label in KPI_LABELS
        if key in change
    ) + (
        ""
        if "open_at_end" in change
        else f'<div class="card"><div class="v" data-kpi="open_at_end">{fmt(k["open_at_end"])}</div>'
        '<div class="l">周末在办</div></div>'
    )


def _rates(k: dict[str, Any]) -> str:
    """Two tables side by side: the rates with their counts; satisfaction, hours and the case operations."""
    rates = "".join(
        f'<tr><th>{label}</th><td data-kpi="{key}" data-value="{fmt(k[key])}">{pct(k[key])}</td><td>'
        + "，".join(
            f'{count_label} <span data-kpi="{count}">{fmt(k[count])}</span>'
            for count, count_label in RATE_COUNTS.get(key, [])
            if count in k
        )
        + "</td></tr>"
        for key, label in RATE_LABELS
        if key in k
    )
    others = (
        f"<tr><th>群众满意度（均分，{k['satisfaction_count']}件）</th>"
        f'<td data-kpi="satisfaction_mean" data-value="{fmt(k["satisfaction_mean"])}">'
        f"{fmt(k['satisfaction_mean'])}</td></tr>"
        "<tr><th>办结用时中位数（小时）</th>"
        f'<td data-kpi="median_hours_to_resolve">{fmt(k["median_hours_to_resolve"])}</td></tr>'
        "<tr><th>办结用时90分位（小时）</th>"
        f'<td data-kpi="p90_hours_to_resolve">{fmt(k["p90_hours_to_resolve"])}</td></tr>'
    ) + "".join(
        f'<tr><th>{label}</th><td data-kpi="{key}">{fmt(k[key])}</td></tr>'
        for key, label in OPERATION_LABELS
        if key in k
    )
    return f'<div class="cols"><table id="rates">{rates}</table><table id="other-kpis">{others}</table></div>'


CATEGORY_ROWS_IN_ONE_TABLE = 6


def _categories(by_category: list[dict[str, Any]]) -> str:
    """The categories with a figure in the week; the others are counted in a line."""
    active = [c for c in by_category if any(c[m] for m, _ in CATEGORY_COLUMNS)]
    rows = [
        f'<tr data-category="{e(c["category"])}"><td>{e(c["name"])}</td>'
        + "".join(f'<td data-col="{m}">{c[m]}</td>' for m, _ in CATEGORY_COLUMNS)
        + "</tr>"
        for c in active
    ]
    head = "<tr><th>类别</th>" + "".join(f"<th>{label}</th>" for _, label in CATEGORY_COLUMNS) + "</tr>"
    quiet = len(by_category) - len(active)
    note = f'<p class="note">其余 {quiet} 类本周无案件，未列出。</p>' if quiet else ""
    if not rows:
        return "<p>本周无案件。</p>" + note
    if len(rows) <= CATEGORY_ROWS_IN_ONE_TABLE:
        return f'<table id="categories"><thead>{head}</thead>{"".join(rows)}</table>' + note
    # side by side, half the height on the printed page
    half = (len(rows) + 1) // 2
    return (
        f'<div class="cols"><table id="categories"><thead>{head}</thead>{"".join(rows[:half])}</table>'
        f'<table id="categories-2"><thead>{head}</thead>{"".join(rows[half:])}</table></div>' + note
    )


def _hotspots(hot: dict[str, Any]) -> str:
    items = (
        [f"网格：{e(g['name'])} 新增 {g['new']} 起" for g in hot["grids"]]
        + [f"类别：{e(c['name'])} 新增 {c['new']} 起" for c in hot["categories"]]
        + [
            f"同一地点多次反映：{e(a['grid_name'])}（{e(a['address_ref'][:14])}…）{a['cases']} 起"
            for a in hot["repeat_addresses"]
        ]
        + [f"同一当事人多次涉及（{e(p['party_ref'][:14])}…）{p['cases']} 起" for p in hot["repeat_parties"]]
    )
    return '<ul class="hot">' + "".join(f"<li>{item}</li>" for item in items) + "</ul>" if items else "<p>无。</p>"


def _volunteers(v: dict[str, Any]) -> str:
    cells = [
        ("新建任务", "tasks_created", v["tasks_created"]),
        ("已派满", "tasks_filled", v["tasks_filled"]),
        ("无人接单", "tasks_unfilled", v["tasks_unfilled"]),
        ("派满用时中位数（分钟）", "median_minutes_to_fill", v["median_minutes_to_fill"]),
        ("服务时长合计（小时）", "hours_total", v["hours_total"]),
        ("其中党员（小时）", "party_member_hours", v["party_member_hours"]),
    ]
    figures = [f'<th>{label}</th><td data-kpi="{key}">{fmt(value)}</td>' for label, key, value in cells] + [
        f'<th>{e(ROLE_ZH.get(role, role))}（小时）</th><td data-role="{e(role)}">{fmt(h)}</td>'
        for role, h in v["hours_by_role"].items()
    ]
    rows = "".join("<tr>" + "".join(figures[i : i + 3]) + "</tr>" for i in range(0, len(figures), 3))
    return f'<table id="volunteers">{rows}</table>'


def weekly_html(r: dict) -> str:
    """The report for print: two A4 pages for a town of 120 grids (green grids counted, not listed)."""
    k, area = r["kpis"], r["area"]
    title = f"{area['name']}{r['week']}周矛盾纠纷和社会风险研判报告"
    summary = "，".join(f"{RISK_ZH[lv]}色{n}个" for lv, n in r["risk_summary"].items())
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{e(title)}</title>
<style>{STYLE}</style></head>
<body data-area="{e(area["id"])}" data-week="{e(r["week"])}">
<h1>{e(title)}</h1>
<p class="meta">研判范围：{e(area["name"])}（{KIND_ZH.get(area["kind"], area["kind"])}）\
　周期：{e(r["from"])} 至 {e(r["to"])}　网格风险：{summary}</p>
<h2>一、总体情况</h2><div class="cards">{_cards(k, r["change"])}</div>
{_rates(k)}
<h2>二、趋势与类别</h2><div class="charts">{_line_chart(r["trend"])}{_bar_chart(r["by_category"])}</div>
{_categories(r["by_category"])}
<h2>三、网格风险研判</h2>
{_grid_section(r["grids"], r.get("village_shapes"), r.get("at_risk"))}
<h2>四、风险热点</h2>{_hotspots(r["hotspots"])}
<h2>五、志愿服务</h2>{_volunteers(r["volunteers"])}
{_projects_section(r.get("livelihood_projects"))}
<p class="note">指标口径见 docs/kpis.md。本报告由系统根据事件数据自动生成。</p>
</body></html>"""


# rows of each list the printed report shows (the JSON and the CSV hold them all): with the map, the KPIs and the
# charts, a town's report stays on two A4 pages however bad its week
PRINTED_ROWS = 12


def _grid_section(
    grids: list[dict[str, Any]], villages: list[dict[str, Any]] | None, at_risk: dict[str, Any] | None
) -> str:
    """三、网格风险研判: how many grids of each level, the map, the cases at risk, and the grids of yellow and above
    one per row with their reasons (green ones only counted)."""
    numbers, map_html = _map_parts(grids, villages)
    ranked = sorted((g for g in grids if g["risk"] in LISTED_RISKS), key=lambda g: (-g["score"], g["id"]))
    listed, unlisted = ranked[:PRINTED_ROWS], len(ranked) - PRINTED_ROWS
    green = len(grids) - len(ranked)
    line = (
        f'<p id="grid-summary">共 {len(grids)} 个网格：绿色（低风险）<span data-green="{green}">{green}</span> 个，'
        "运行平稳，不逐一列出；"
        + (
            f"黄色及以上 {len(ranked)} 个，"
            + (
                "逐一列于下表。</p>"
                if unlisted <= 0
                else f"下表列出分值最高的 {len(listed)} 个，其余见 CSV 与各村报告。</p>"
            )
            if ranked
            else "无黄色及以上网格。</p>"
        )
    )
    rows = "".join(
        f'<tr data-grid="{e(g["id"])}" data-risk="{g["risk"]}"><td>{numbers.get(g["id"], "")}</td>'
        f'<td>{e(g["name"])}</td><td class="risk" style="background:{RISK_COLOR[g["risk"]]}">{RISK_ZH[g["risk"]]}</td>'
        f'<td data-col="score">{g["score"]}</td><td data-col="new">{g["new"]}</td>'
        f'<td data-col="open_at_end">{g["open_at_end"]}</td><td data-col="overdue_open">{g["overdue_open"]}</td>'
        f'<td class="reasons">{"；".join(e(x) for x in g["reasons"]) or "—"}</td></tr>'
        for g in listed
    )
    table = (
        '<h3>黄色及以上风险网格</h3><table id="grid-heat"><thead><tr><th>图号</th><th>网格</th><th>风险</th>'
        f"<th>分值</th><th>新增</th><th>在办</th><th>超期</th><th>依据</th></tr></thead>{rows}</table>"
        if rows
        else ""
    )
    return line + map_html + _at_risk_section(at_risk) + table


def _map_section(grids: list[dict[str, Any]], villages: list[dict[str, Any]] | None = None) -> str:
    """The map with its index; nothing when no grid has a shape."""
    return _map_parts(grids, villages)[1]


def _map_parts(grids: list[dict[str, Any]], villages: list[dict[str, Any]] | None = None) -> tuple[dict[str, int], str]:
    """({grid id: its number on the map}, the map with its index); nothing when no grid has a shape. Up to
    INDEX_BY_VILLAGE_FROM grids the index names each; beyond, it gives each village's numbers."""
    shapes = villages or []
    svg, index = grid_map(grids, RISK_COLOR, RISK_ZH, [v["geometry"] for v in shapes])
    if not svg:
        return {}, ""
    numbers = {g["id"]: i for i, g in index}
    if len(index) <= INDEX_BY_VILLAGE_FROM:
        names = "".join(
            f'<li data-grid="{e(g["id"])}">{i}&nbsp;{e(g["name"])}（{RISK_ZH[g["risk"]]}）</li>' for i, g in index
        )
    else:
        village_names = {v["id"]: v.get("name") or v["id"] for v in shapes}
        by_village: dict[str, list[int]] = {}
        for i, g in index:
            by_village.setdefault(g.get("village_id") or "", []).append(i)
        names = "".join(
            f'<li data-village="{e(vid)}">{e(village_names.get(vid, vid.rsplit(".", 1)[-1]))} '
            f"{min(nums)}{'–' + str(max(nums)) if len(nums) > 1 else ''}</li>"
            for vid, nums in by_village.items()
        )
    unshaped = len(grids) - len(index)
    note = f"<p>另有 {unshaped} 个网格暂无边界数据，未绘入图中。</p>" if unshaped else ""
    side = (
        '<div class="map-side"><p>图中编号'
        + ("（按村、社区）" if len(index) > INDEX_BY_VILLAGE_FROM else "")
        + f'：</p><ol class="map-index">{names}</ol>{note}</div>'
    )
    return numbers, f'<div class="map-row"><div class="map">{svg}</div>{side}</div>'


def _at_risk_section(at_risk: dict[str, Any] | None) -> str:
    """重点关注案件: open cases overdue, supervised or severe, by number; no personal data."""
    if not at_risk:
        return ""
    rows = "".join(
        f'<tr data-case="{e(c["number"])}" data-why="{" ".join(c["why"])}"><td>{e(c["number"])}</td>'
        f"<td>{e(c['category_name'])}</td><td>{e(c['grid_name'])}</td>"
        f"<td>{e(LEVEL_LABEL.get(c['level'], c['level']))}</td><td>{e(STATUS_ZH.get(c['status'], c['status']))}</td>"
        f"<td>{e(SEVERITY_LABEL.get(c['severity'], c['severity']))}</td>"
        f'<td class="why">{"、".join(WHY_ZH[w] for w in c["why"])}</td></tr>'
        for c in at_risk["cases"][:PRINTED_ROWS]
    )
    more = at_risk["total"] - min(len(at_risk["cases"]), PRINTED_ROWS)
    return (
        f'<h3>重点关注案件（周末在办：逾期、督办或重大，共 <span data-kpi="at_risk">{at_risk["total"]}</span> 件）</h3>'
        + (
            '<table id="at-risk"><thead><tr><th>案件编号</th><th>类别</th><th>网格</th><th>办理层级</th>'
            f"<th>当前状态</th><th>等级</th><th>关注原因</th></tr></thead>{rows}</table>"
            if rows
            else "<p>无。</p>"
        )
        + (f'<p data-more="{more}">另有 {more} 件未列出。</p>' if more > 0 else "")
    )


def money(text: str) -> str:
    """An exact amount (JSON's string) as yuan with thousands separators: 1,250,000.00."""
    return yuan_grouped(Decimal(text))


def _projects_section(lp: dict[str, Any] | None) -> str:
    """六、民生实事: the unit's proposals at the week's end (docs/kpis.md, "Livelihood projects")."""
    if lp is None:
        return ""
    stages = "".join(
        f'<tr data-stage="{e(s["stage"])}"><td>{e(s["name"])}</td><td data-col="proposals">{s["proposals"]}</td></tr>'
        for s in lp["by_stage"]
    )
    overdue = "".join(
        f'<li data-milestone="{e(m["milestone_id"])}">{e(m["number"])} {e(m["title"] or "")}：'
        f"{e(m['milestone'])}（应于 {e(m['due_on'])} 完成）</li>"
        for m in lp["overdue"]
    )
    more = lp["overdue_milestones"] - len(lp["overdue"])
    overdue_html = (f"<p>逾期未完成的节点：</p><ul>{overdue}</ul>" if overdue else "") + (
        f"<p>另有 {more} 个逾期节点未列出。</p>" if more > 0 else ""
    )
    cells = [
        (f"{lp['year']}年在办及本年办结项目", 'data-kpi="lp_proposals"', lp["proposals"]),
        ("本周表决通过", 'data-kpi="lp_adopted"', lp["decided"]["adopted"]),
        ("本周表决未通过", 'data-kpi="lp_not_adopted"', lp["decided"]["not_adopted"]),
        ("实施中", 'data-kpi="lp_implementing"', lp["implementing"]),
        ("本周村民（代表）会议", 'data-kpi="lp_meetings"', lp["meetings"]),
        ("逾期未完成节点", 'data-kpi="lp_overdue_milestones"', lp["overdue_milestones"]),
        (
            "已通过项目预算（元）",
            f'data-kpi="lp_budget_adopted" data-value="{e(lp["budget_adopted_yuan"])}"',
            money(lp["budget_adopted_yuan"]),
        ),
        ("已支出（元）", f'data-kpi="lp_spent" data-value="{e(lp["spent_yuan"])}"', money(lp["spent_yuan"])),
    ]
    # four figures a row, as the volunteers' table: the section keeps to a few lines of the printed page
    rows = "".join(
        "<tr>"
        + "".join(f"<th>{label}</th><td {attrs}>{value}</td>" for label, attrs, value in cells[i : i + 4])
        + "</tr>"
        for i in range(0, len(cells), 4)
    )
    stage_table = (
        f'<table id="livelihood-stages"><tr><th>阶段</th><th>项目数</th></tr>{stages}</table>' if stages else ""
    )
    return f"""<h2>六、民生实事</h2>
<div class="cols"><table id="livelihood-projects">{rows}</table>
{stage_table}</div>
{overdue_html}"""


def livelihood_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    cols = [
        "rank",
        "theme",
        "score",
        "cases",
        "households",
        "villages",
        "recurrence",
        "severity_mean",
        "open",
        "median_open_age_days",
    ]
    w = csv.writer(out)
    w.writerow(cols)
    for r in rows:
        w.writerow([r[c] for c in cols])
    return out.getvalue()


# -- the annual report of livelihood projects (民生实事) ------------------------------------------------------------

ANNUAL_COLUMNS = [
    ("number", "编号"),
    ("title", "项目名称"),
    ("village", "村(社区)"),
    ("category_name", "类别"),
    ("stage_name", "阶段"),
    ("budget_yuan", "预算(元)"),
    ("spent_yuan", "已支出(元)"),
    ("submitted_on", "提出日期"),
    ("decided_on", "表决日期"),
    ("adopted", "表决结果"),
    ("implementation_started_on", "开工日期"),
    ("accepted_on", "验收日期"),
    ("results_published_on", "结果公开日期"),
    ("households", "受益户数"),
    ("people", "受益人数"),
]
BOM = "\ufeff"  # Excel reads a CSV as UTF-8 only with it


def decision(adopted: bool | None) -> str:
    return "" if adopted is None else "通过" if adopted else "未通过"


def _cell(project: dict[str, Any], key: str) -> str:
    value = project[key]
    if key == "adopted":
        return decision(value)
    return "" if value is None else str(value)


def annual_projects_csv(r: dict[str, Any]) -> str:
    """UTF-8 with a BOM, Chinese headers, exact amounts (no separators: Excel reads them as numbers), a totals row."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow([label for _, label in ANNUAL_COLUMNS])
    for project in r["projects"]:
        w.writerow([_cell(project, key) for key, _ in ANNUAL_COLUMNS])
    t = r["totals"]
    totals = {
        "number": "合计",
        "title": f"{t['proposals']}个项目",
        "stage_name": f"通过{t['adopted']}个，验收{t['accepted']}个",
        "budget_yuan": t["budget_yuan"],
        "spent_yuan": t["spent_yuan"],
        "households": t["households"],
        "people": t["people"],
    }
    w.writerow([totals.get(key, "") for key, _ in ANNUAL_COLUMNS])
    return BOM + out.getvalue()


def annual_projects_html(r: dict[str, Any]) -> str:
    area, t = r["area"], r["totals"]
    title = f"{area['name']}{r['year']}年民生实事项目年度报告"
    rows = (
        "".join(
            f'<tr data-proposal="{e(p["proposal_id"])}" data-stage="{e(p["stage"])}">'
            f"<td>{i}</td><td>{e(p['number'])}</td><td>{e(p['title'] or '')}</td><td>{e(p['village'])}</td>"
            f"<td>{e(p['category_name'])}</td><td>{e(p['stage_name'])}</td>"
            f'<td class="n" data-col="budget" data-value="{e(p["budget_yuan"])}">{money(p["budget_yuan"])}</td>'
            f'<td class="n" data-col="spent" data-value="{e(p["spent_yuan"])}">{money(p["spent_yuan"])}</td>'
            f"<td>{e(p['decided_on'] or '')} {decision(p['adopted'])}</td><td>{e(p['accepted_on'] or '')}</td>"
            f'<td class="n">{fmt(p["households"]) if p["households"] is not None else ""}</td>'
            f'<td class="n">{fmt(p["people"]) if p["people"] is not None else ""}</td></tr>'
            for i, p in enumerate(r["projects"], 1)
        )
        or '<tr><td colspan="12">本年度暂无民生实事项目</td></tr>'
    )
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{e(title)}</title>
<style>
@page{{size:A4 landscape;margin:12mm}}
body{{font-family:"Noto Sans CJK SC","WenQuanYi Micro Hei","Microsoft YaHei",sans-serif;margin:24px;color:#222}}
h1{{font-size:20px;text-align:center}} .sub{{text-align:center;font-size:12px;color:#555}}
.cards{{display:flex;flex-wrap:wrap;gap:8px;margin:12px 0}} \
.card{{border:1px solid #ddd;border-radius:6px;padding:6px 12px;min-width:96px}}
.card .v{{font-size:18px;font-weight:bold}} .card .l{{font-size:12px;color:#555}}
table{{border-collapse:collapse;font-size:11px;width:100%}} \
td,th{{border:1px solid #999;padding:3px 5px;text-align:left;vertical-align:top}}
th{{background:#f2f2f2}} td.n{{text-align:right;white-space:nowrap}} tr.total td{{font-weight:bold}}
@media print{{body{{margin:0}} tr{{page-break-inside:avoid}} thead{{display:table-header-group}}}}
</style></head>
<body data-area="{e(area["id"])}" data-year="{r["year"]}">
<h1>{e(title)}</h1>
<p class="sub">范围：{e(area["name"])}（{KIND_ZH.get(area["kind"], area["kind"])}）　\
期间：{e(r["from"])} 至 {e(r["to"])}（按提出日期）</p>
<div class="cards">
<div class="card"><div class="v" data-kpi="proposals">{t["proposals"]}</div><div class="l">提出项目</div></div>
<div class="card"><div class="v" data-kpi="adopted">{t["adopted"]}</div><div class="l">表决通过</div></div>
<div class="card"><div class="v" data-kpi="not_adopted">{t["not_adopted"]}</div><div class="l">未通过</div></div>
<div class="card"><div class="v" data-kpi="accepted">{t["accepted"]}</div><div class="l">已验收</div></div>
<div class="card"><div class="v" data-kpi="budget_adopted_yuan" data-value="{e(t["budget_adopted_yuan"])}">\
{money(t["budget_adopted_yuan"])}</div><div class="l">通过项目预算（元）</div></div>
<div class="card"><div class="v" data-kpi="spent_yuan" data-value="{e(t["spent_yuan"])}">{money(t["spent_yuan"])}</div>\
<div class="l">已支出（元）</div></div>
</div>
<table id="projects"><thead><tr><th>序号</th><th>编号</th><th>项目名称</th><th>村(社区)</th><th>类别</th><th>阶段</th>\
<th>预算（元）</th><th>已支出（元）</th><th>表决</th><th>验收</th><th>受益户数</th><th>受益人数</th></tr></thead>
<tbody>{rows}</tbody>
<tfoot><tr class="total"><td colspan="6">合计 {t["proposals"]} 个项目</td>\
<td class="n" data-kpi="budget_yuan" data-value="{e(t["budget_yuan"])}">{money(t["budget_yuan"])}</td>\
<td class="n" data-total="spent_yuan" data-value="{e(t["spent_yuan"])}">{money(t["spent_yuan"])}</td>\
<td></td><td></td><td class="n" data-kpi="households">{t["households"]}</td>\
<td class="n" data-kpi="people">{t["people"]}</td></tr></tfoot>
</table>
<p style="font-size:11px;color:#888">口径见 docs/kpis.md（民生实事）。金额为各项目当前预算与已支出合计；\
受益户数、人数为各项目申报数之和。本报告由系统根据事件数据自动生成。</p>
</body></html>"""
