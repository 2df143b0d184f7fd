"""Demo data loaded by `./gov up` through the services' own HTTP APIs, as a
client would. Idempotent: re-running replays the same Idempotency-Keys, and a
replayed case gets no further steps."""
from __future__ import annotations

import httpx

from govkit.auth import mint

# (key, grid, category, severity, title, description, steps)
CASES = [
    ("d01", "changping.kongjiafan.g03", "dispute.land", "medium", "孔家畈村三组与四组山林边界纠纷",
     "三组村民反映四组在争议山林内砍伐树木，双方多次发生口角，请求村里调处。", ["escalate", "accept", "dispatch:village", "start"]),
    ("d02", "changping.kongjiafan.g01", "dispute.neighbor", "low", "邻居楼上漏水引发纠纷",
     "二组村民反映楼上邻居卫生间漏水，多次协商未果。", ["accept", "dispatch:grid", "start", "resolve", "verify", "close", "rate:5"]),
    ("d03", "changping.zhongguping.g02", "livelihood.request", "medium", "钟鼓坪村二组路灯不亮",
     "村口至二组道路路灯损坏一个多月，夜间出行不便。", ["escalate", "accept", "dispatch:village"]),
    ("d04", "changping.changping_community.g05", "environment.sanitation", "medium", "长坪社区五网格垃圾堆积",
     "小区东侧垃圾清运不及时，气味较大。", ["accept", "dispatch:grid", "start", "resolve"]),
    ("d05", "changping.changping_community.g02", "hazard.fire", "high", "社区老旧楼道电线私拉乱接",
     "楼道内电动车充电线私拉乱接，存在消防隐患。", ["escalate", "accept", "dispatch:village", "start", "resolve", "verify", "close", "rate:4"]),
    ("d06", "changping.longtan.g01", "dispute.family", "medium", "赡养老人问题家庭纠纷",
     "兄弟三人就老人赡养费用分摊产生争执。", ["accept"]),
    ("d07", "changping.qinghe.g04", "petition", "high", "征地补偿款发放信访",
     "村民反映高铁征地补偿款发放进度慢，要求说明情况。", []),
    ("d08", "changping.shimen.g02", "hazard.geologic", "critical", "石门村二组山体裂缝",
     "连续降雨后二组后山出现裂缝，威胁三户居民安全。", ["escalate", "escalate", "accept", "dispatch:town", "start"]),
    ("d09", "changping.kongjiafan.g05", "livelihood.request", "low", "孔家畈村五组饮水管道破损",
     "五组饮水主管道破损，部分农户停水两天。", ["escalate", "accept", "dispatch:village", "start", "resolve", "verify", "close", "rate:5"]),
    ("d10", "changping.taoyuan.g03", "epidemic", "medium", "桃园村三组发热人员排查",
     "外地返乡人员出现发热症状，需要排查和消毒。", ["accept", "dispatch:grid"]),
]


def _client(url: str, key: str, sub: str, roles: list[str], areas: list[str]) -> httpx.Client:
    token = mint(key=key, sub=sub, roles=roles, areas=areas, ttl_s=600)
    return httpx.Client(base_url=url, headers={"authorization": f"Bearer {token}"}, timeout=15)


def _unit(grid: str, level: str) -> str:
    parts = grid.split(".")
    return {"grid": grid, "village": ".".join(parts[:2]), "town": parts[0]}[level]


def load_cases(url: str, jwt_key: str) -> int:
    gm = _client(url, jwt_key, "demo-grid-manager", ["grid_manager"], ["changping"])
    leaders = {lv: _client(url, jwt_key, f"demo-{lv}-admin", [f"{lv}_admin"], ["changping"])
               for lv in ("village", "town", "county")}
    checker = {lv: _client(url, jwt_key, f"demo-{lv}-checker", [f"{lv}_admin"], ["changping"])
               for lv in ("village", "town", "county")}
    made = 0
    for key, grid, cat, sev, title, desc, steps in CASES:
        r = gm.post("/v1/cases", headers={"Idempotency-Key": f"demo-{key}"},
                    json={"category": cat, "severity": sev, "title": title, "description": desc, "grid_id": grid,
                          "source": "grid_patrol"})
        r.raise_for_status()
        case = r.json()
        if r.status_code != 201:
            continue  # a replay: this case got its steps when it was created
        made += 1
        for step in steps:
            action, _, arg = step.partition(":")
            if action not in case["allowed_actions"] and action != "rate":
                continue  # already past this step (a re-run)
            level = case["level"]
            actor = gm if level == "grid" else leaders[level]
            if action == "verify":
                actor = checker.get(level, leaders["village"]) if level != "grid" else leaders["village"]
            if action == "escalate":
                r = actor.post(f"/v1/cases/{case['id']}/escalate", json={"reason": "需上级协调处理"})
            elif action == "dispatch":
                r = actor.post(f"/v1/cases/{case['id']}/dispatch",
                               json={"unit_level": arg, "unit_id": _unit(grid, arg)})
            elif action == "resolve":
                r = actor.post(f"/v1/cases/{case['id']}/resolve", json={"resolution": "已现场处置并反馈当事人"})
            elif action == "rate":
                if case["satisfaction"] is not None:
                    continue
                r = gm.post(f"/v1/cases/{case['id']}/satisfaction", json={"score": int(arg)})
            else:
                r = actor.post(f"/v1/cases/{case['id']}/{action}")
            r.raise_for_status()
            case = r.json()
    return made


def save_report(url: str, jwt_key: str, folder, area: str = "changping", timeout: float = 30):
    """Write this week's HTML report of the town once the demo cases reached the projections."""
    import time
    from datetime import datetime
    from pathlib import Path
    from zoneinfo import ZoneInfo

    week = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%G-W%V")
    c = _client(url, jwt_key, "demo-analyst", ["analyst"], [area])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = c.get("/v1/reports/weekly", params={"area": area, "week": week})
        if r.status_code == 200 and r.json()["kpis"]["new"] >= len(CASES):
            break
        time.sleep(0.5)
    else:
        return None
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"weekly-{area}-{week}.html"
    path.write_text(c.get("/v1/reports/weekly.html", params={"area": area, "week": week}).text, encoding="utf-8")
    return path
