"""Demo data loaded by `./gov up` through the services' own HTTP APIs, as a
client would. Idempotent: re-running replays the same Idempotency-Keys, and a
replayed case gets no further steps."""

from __future__ import annotations

from typing import Any, NamedTuple, TypedDict

import httpx

from gov_contracts.vocabulary import LOCAL_TZ, Level, area_chain
from govctl.errors import StackError
from govkit.auth import mint

# (key, grid, category, severity, title, description, steps). A step is "action[:arg][|reason]", done by the case's
# handling level (the grid manager at grid level, the level's admin above it) unless said otherwise:
#   dispatch:<level>[:<unit>]   to the unit of that level over the grid, or to a department (dept.*)
#   request_extension:<days>    延期申请: a resolve deadline <days> after the current one
#   request_suspension:<days>   缓办申请: until <days> from now
#   approve_*, refuse_*         the decision, by the level above the case's (never the requester)
#   return                      退单: the dispatched unit sends the case back to the level that dispatched it
#   supervise:<days>            督办 by the level above the case's: report within <days>
#   rate:<score>                the reporter's satisfaction after closing
#   callback:<result>           the hotline's call-back (回访) of a ticket (see TICKETS)
CASES = [
    (
        "d01",
        "changping.kongjiafan.g03",
        "dispute.land",
        "medium",
        "孔家畈村三组与四组山林边界纠纷",
        "三组村民反映四组在争议山林内砍伐树木，双方多次发生口角，请求村里调处。",
        ["escalate", "accept", "dispatch:village", "start"],
    ),
    (
        "d02",
        "changping.kongjiafan.g01",
        "dispute.neighbor",
        "low",
        "邻居楼上漏水引发纠纷",
        "二组村民反映楼上邻居卫生间漏水，多次协商未果。",
        ["accept", "dispatch:grid", "start", "resolve", "verify", "close", "rate:5"],
    ),
    (
        "d03",
        "changping.zhongguping.g02",
        "livelihood.request",
        "medium",
        "钟鼓坪村二组路灯不亮",
        "村口至二组道路路灯损坏一个多月，夜间出行不便。",
        ["escalate", "accept", "dispatch:village"],
    ),
    (
        "d04",
        "changping.changping_community.g05",
        "environment.sanitation",
        "medium",
        "长坪社区五网格垃圾堆积",
        "小区东侧垃圾清运不及时，气味较大。",
        ["accept", "dispatch:grid", "start", "resolve"],
    ),
    (
        "d05",
        "changping.changping_community.g02",
        "hazard.fire",
        "high",
        "社区老旧楼道电线私拉乱接",
        "楼道内电动车充电线私拉乱接，存在消防隐患。",
        ["escalate", "accept", "dispatch:village", "start", "resolve", "verify", "close", "rate:4"],
    ),
    (
        "d06",
        "changping.longtan.g01",
        "dispute.family",
        "medium",
        "赡养老人问题家庭纠纷",
        "兄弟三人就老人赡养费用分摊产生争执。",
        ["accept"],
    ),
    (
        "d07",
        "changping.qinghe.g04",
        "petition",
        "high",
        "征地补偿款发放信访",
        "村民反映高铁征地补偿款发放进度慢，要求说明情况。",
        [],
    ),
    (
        "d08",
        "changping.shimen.g02",
        "hazard.geologic",
        "critical",
        "石门村二组山体裂缝",
        "连续降雨后二组后山出现裂缝，威胁三户居民安全。",
        ["escalate", "escalate", "accept", "dispatch:town", "start"],
    ),
    (
        "d09",
        "changping.kongjiafan.g05",
        "livelihood.request",
        "low",
        "孔家畈村五组饮水管道破损",
        "五组饮水主管道破损，部分农户停水两天。",
        ["escalate", "accept", "dispatch:village", "start", "resolve", "verify", "close", "rate:5"],
    ),
    (
        "d10",
        "changping.taoyuan.g03",
        "epidemic",
        "medium",
        "桃园村三组发热人员排查",
        "外地返乡人员出现发热症状，需要排查和消毒。",
        ["accept", "dispatch:grid"],
    ),
    (
        "d11",
        "changping.zhongguping.g04",
        "dispute.land",
        "medium",
        "钟鼓坪村四组宅基地界址纠纷",
        "四组两户村民因新建房屋越过宅基地界址发生争执，请求村委会调处。",
        [
            "escalate",
            "accept",
            "dispatch:village",
            "start",
            "request_extension:7|需等待县自然资源部门重新测量界址",
            "approve_extension",
        ],
    ),
    (
        "d12",
        "changping.longtan.g02",
        "environment.sanitation",
        "low",
        "龙潭村二组沟渠垃圾淤塞",
        "二组灌溉沟渠内生活垃圾堆积，雨后污水漫上路面。",
        [
            "accept",
            "dispatch:grid",
            "start",
            "request_extension:2|需协调挖机清淤",
            "refuse_extension|清理工作量不大，请组织保洁员按期办结",
        ],
    ),
    (
        "d13",
        "changping.taoyuan.g02",
        "dispute.land",
        "medium",
        "桃园村二组承包地经营权纠纷",
        "二组村民与外出务工的堂兄就承包地经营权归属发生争议，需双方到场调解。",
        [
            "escalate",
            "accept",
            "dispatch:village",
            "start",
            "request_suspension:30|对方当事人在外务工，春节前返乡后再行调解",
            "approve_suspension",
        ],
    ),
    (
        "d14",
        "changping.qinghe.g03",
        "livelihood.request",
        "medium",
        "清河村三组机耕路路基塌陷",
        "三组机耕路一段路基塌陷约五米，农用车无法通行。",
        [
            "escalate",
            "accept",
            "dispatch:village",
            "start",
            "request_suspension:3|连续降雨无法施工，待天晴后复工",
            "approve_suspension",
            "resume",
        ],
    ),
    (
        "d15",
        "changping.longtan.g03",
        "livelihood.request",
        "medium",
        "龙潭村三组自来水水压不足",
        "三组地势较高，早晚用水高峰时段水压不足，高处农户经常断水。",
        [
            "escalate",
            "escalate",
            "accept",
            "dispatch:village",
            "return|供水管网由镇自来水厂管理，村里无权处置",
            "dispatch:town:dept.water",
            "start",
        ],
    ),
    (
        "d16",
        "changping.shimen.g03",
        "hazard.fire",
        "high",
        "石门村三组农家乐违规存放液化气罐",
        "三组一农家乐厨房内存放液化气罐十余个，紧邻柴草堆，存在较大火灾隐患。",
        [
            "escalate",
            "accept",
            "dispatch:village",
            "start",
            "supervise:1|隐患涉及群众生命财产安全，请于明日前整改到位并书面反馈",
        ],
    ),
    (
        "d17",
        "changping.changping_community.g03",
        "environment.sanitation",
        "medium",
        "长坪社区农贸市场周边污水外溢",
        "12345热线转办：市民反映农贸市场东侧下水道堵塞，污水外溢到人行道，气味难闻。",
        ["accept", "dispatch:grid", "start", "resolve", "verify", "close", "callback:satisfied|群众对处理结果表示满意"],
    ),
]
# the cases that come as a 12345 hotline ticket (工单) rather than from a grid patrol: key -> (source, ticket id)
TICKETS = {"d17": ("12345", "GD-DEMO-000017")}
# the reason of a step that gives none
REASONS = {
    "escalate": "需上级协调处理",
    "request_extension": "情况复杂，需延长办理时限",
    "refuse_extension": "理由不充分，请按期办结",
    "request_suspension": "当事人暂时无法到场",
    "refuse_suspension": "不符合缓办条件，请继续办理",
    "return": "不属于本单位职责",
    "supervise": "请加快办理并按期反馈",
}
DECISIONS = ("approve_extension", "refuse_extension", "approve_suspension", "refuse_suspension")


def _client(url: str, key: str, sub: str, roles: list[str], areas: list[str]) -> httpx.Client:
    token = mint(key=key, sub=sub, roles=roles, areas=areas, ttl_s=600)
    return httpx.Client(base_url=url, headers={"authorization": f"Bearer {token}"}, timeout=15)


def _unit(grid: str, level: str) -> str:
    """The unit at `level` over the grid: the grid itself, its village or its town."""
    return area_chain(grid)[Level(level).rank]


def _above(level: str) -> str:
    """The level that decides a request of, or supervises, a case at `level`."""
    up = Level(level).up()
    return up.value if up else level


class _Actors(NamedTuple):
    gm: httpx.Client
    leaders: dict[str, httpx.Client]  # village_admin, town_admin, county_admin
    checkers: dict[str, httpx.Client]  # a second admin of each level, who verifies what the first resolved
    hotline: httpx.Client  # the 12345 hotline's account: sends the tickets, records their call-backs


def _actor(who: _Actors, action: str, level: str) -> httpx.Client:
    """Who does `action` to a case at `level`: its handling level, but a verification by someone else and a
    decision or a supervision by the level above."""
    if action == "verify":
        return who.checkers[level] if level != "grid" else who.leaders["village"]
    if action in DECISIONS or action == "supervise":
        return who.leaders[_above(level)]
    return who.gm if level == "grid" else who.leaders[level]


def _step(who: _Actors, case: dict[str, Any], step: str) -> httpx.Response | None:
    """Do one step of the CASES mini-language to `case`; None when there is nothing to do (a re-run)."""
    from datetime import datetime, timedelta

    step, _, reason = step.partition("|")
    action, _, arg = step.partition(":")
    reason = reason or REASONS.get(action, "")
    path = f"/v1/cases/{case['id']}/{action}"
    if action == "rate":
        if case["satisfaction"] is not None:
            return None
        return who.gm.post(f"/v1/cases/{case['id']}/satisfaction", json={"score": int(arg)})
    if action == "callback":
        return who.hotline.post(path, json={"result": arg, "note": reason or None})
    if action not in case["allowed_actions"]:
        return None  # already past this step (a re-run)
    actor = _actor(who, action, case["level"])
    body: dict[str, Any] | None = None
    if action == "dispatch":
        unit_level, _, unit = arg.partition(":")
        body = {"unit_level": unit_level, "unit_id": unit or _unit(case["grid_id"], unit_level)}
    elif action == "resolve":
        body = {"resolution": "已现场处置并反馈当事人"}
    elif action == "request_extension":
        due = datetime.fromisoformat(case["resolve_due"]) + timedelta(days=int(arg))
        body = {"reason": reason, "due": due.isoformat()}
    elif action in ("request_suspension", "supervise"):
        body = {"reason": reason, "due": (datetime.now(LOCAL_TZ) + timedelta(days=int(arg))).isoformat()}
    elif action in REASONS:
        body = {"reason": reason}
    return actor.post(path, json=body)


def load_cases(url: str, jwt_key: str) -> int:
    """The demo cases and their steps; the number of new ones. A case there already (its Idempotency-Key or its
    ticket replayed) gets no further steps."""
    who = _Actors(
        gm=_client(url, jwt_key, "demo-grid-manager", ["grid_manager"], ["changping"]),
        leaders={
            lv: _client(url, jwt_key, f"demo-{lv}-admin", [f"{lv}_admin"], ["changping"])
            for lv in ("village", "town", "county")
        },
        checkers={
            lv: _client(url, jwt_key, f"demo-{lv}-checker", [f"{lv}_admin"], ["changping"])
            for lv in ("village", "town", "county")
        },
        hotline=_client(url, jwt_key, "demo-hotline-12345", ["hotline"], []),
    )
    made = 0
    for key, grid, cat, sev, title, desc, steps in CASES:
        body = {"category": cat, "severity": sev, "title": title, "description": desc, "grid_id": grid}
        if key in TICKETS:
            source, ticket = TICKETS[key]
            r = who.hotline.post("/v1/cases/tickets", json={**body, "external_source": source, "external_id": ticket})
        else:
            r = who.gm.post(
                "/v1/cases", headers={"Idempotency-Key": f"demo-{key}"}, json={**body, "source": "grid_patrol"}
            )
        r.raise_for_status()
        case = r.json()
        if r.status_code != 201:
            continue  # a replay: this case got its steps when it was created
        made += 1
        for step in steps:
            done = _step(who, case, step)
            if done is None:
                continue
            if done.is_error:
                raise StackError(f"demo case {key} ({title}): {step} refused: {done.status_code} {done.text}")
            case = done.json()
    return made


def save_report(url: str, jwt_key: str, folder, area: str = "changping", timeout: float = 30):
    """Write this week's HTML report of the town once the demo cases reached the projections."""
    import time
    from datetime import datetime
    from pathlib import Path

    week = datetime.now(LOCAL_TZ).strftime("%G-W%V")
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


# -- volunteers: registry (CSV import), the love canteen's meal schedule, pairings ----------------------------------
# 20 volunteers across 孔家畈村, 钟鼓坪村 and 长坪社区; imported through POST /v1/volunteers/import, which skips an
# external_id registered already, so a re-run creates nothing new.
VOLUNTEERS_CSV = """\
external_id,name,phone,roles,party_branch,home_grid,skills,availability,max_concurrent,account_sub,active
demo-v01,孔德明,13900001001,party_member|mediator,孔家畈村党支部,changping.kongjiafan.g01,mediation|legal_aid,0-4@08:00-18:00,2,demo-vol-01,true
demo-v02,孔桂兰,13900001002,volunteer,,changping.kongjiafan.g02,elderly_care|meal_delivery,0-4@09:00-17:00;5@09:00-12:00,2,demo-vol-02,true
demo-v03,孔祥林,13900001003,grid_manager|party_member,孔家畈村党支部,changping.kongjiafan.g03,mediation|publicity,0-5@08:00-20:00,3,demo-vol-03,true
demo-v04,孔秀英,13900001004,public_service_worker,,changping.kongjiafan.g03,elderly_care|first_aid,0-4@08:00-17:00,2,demo-vol-04,true
demo-v05,孔志强,13900001005,sanitation_worker,,changping.kongjiafan.g04,cleanup|disinfection,0-5@06:00-14:00,2,demo-vol-05,true
demo-v06,孔丽华,13900001006,civility_supervisor|volunteer,,changping.kongjiafan.g05,publicity|temperature_check,1-3@14:00-18:00,1,demo-vol-06,true
demo-v07,孔建军,13900001007,volunteer,,changping.kongjiafan.g06,driving|meal_delivery,0-4@10:00-14:00,2,demo-vol-07,true
demo-v08,钟国华,13900001008,party_member|grid_manager,钟鼓坪村党支部,changping.zhongguping.g01,mediation|elderly_care,0-4@08:00-18:00,3,demo-vol-08,true
demo-v09,钟玉梅,13900001009,volunteer,,changping.zhongguping.g02,elderly_care|meal_delivery,0-6@09:00-12:00,2,demo-vol-09,true
demo-v10,钟文斌,13900001010,mediator,,changping.zhongguping.g02,mediation|legal_aid,0-4@13:00-18:00,2,demo-vol-10,true
demo-v11,钟春燕,13900001011,public_service_worker|party_member,钟鼓坪村党支部,changping.zhongguping.g04,first_aid|temperature_check,0-4@08:00-17:00,2,demo-vol-11,true
demo-v12,钟大勇,13900001012,sanitation_worker|volunteer,,changping.zhongguping.g05,cleanup|driving,5-6@07:00-17:00,2,demo-vol-12,true
demo-v13,钟小芳,13900001013,volunteer,,changping.zhongguping.g06,publicity|cleanup,5@08:00-18:00;6@08:00-12:00,1,demo-vol-13,false
demo-v14,刘长海,13900001014,party_member|public_service_worker,长坪社区党委,changping.changping_community.g01,meal_delivery|elderly_care,0-4@10:00-14:00,2,demo-vol-14,true
demo-v15,李秀珍,13900001015,volunteer,,changping.changping_community.g01,meal_delivery|first_aid,0-4@10:00-13:00,2,demo-vol-15,true
demo-v16,王建华,13900001016,volunteer|civility_supervisor,,changping.changping_community.g02,meal_delivery|driving,0-4@10:30-12:30;5@09:00-11:00,2,demo-vol-16,true
demo-v17,陈晓燕,13900001017,public_service_worker,,changping.changping_community.g03,elderly_care|meal_delivery,0-4@08:00-18:00,2,demo-vol-17,true
demo-v18,赵志刚,13900001018,grid_manager|party_member,长坪社区党委,changping.changping_community.g04,mediation|publicity,0-4@08:30-17:30,3,demo-vol-18,true
demo-v19,周美玲,13900001019,sanitation_worker,,changping.changping_community.g05,cleanup|disinfection,0-6@06:00-11:00,2,demo-vol-19,true
demo-v20,吴德福,13900001020,party_member|volunteer,长坪社区党委,changping.changping_community.g06,elderly_care|legal_aid,1@14:00-17:00;3@14:00-17:00,1,demo-vol-20,true
"""


class Schedule(TypedDict):
    """The body of POST /v1/schedules as the demo sends it."""

    name: str
    task_type: str
    grid_id: str
    weekdays: list[int]
    start_time: str
    duration_minutes: int
    headcount: int
    beneficiary_refs: list[str]


MEAL_SCHEDULE: Schedule = {
    "name": "长坪社区爱心食堂午餐送餐",
    "task_type": "meal_delivery",
    "grid_id": "changping.changping_community.g01",
    "weekdays": [0, 1, 2, 3, 4],
    "start_time": "11:00",
    "duration_minutes": 60,
    "headcount": 2,
    "beneficiary_refs": [f"household_lc{i:02d}" for i in range(1, 7)],  # pseudonymous: names stay with the canteen
}

# (volunteer external_id, household_ref, household_name, grid, every_days)
PAIRINGS = [
    ("demo-v04", "household_kjf_g03_07", "孔家畈村三组 孔奶奶", "changping.kongjiafan.g03", 7),
    ("demo-v17", "household_cpc_g03_12", "长坪社区三网格 独居老人陈爷爷", "changping.changping_community.g03", 14),
]


def _wait_areas(url: str, count: int = 137, timeout: float = 60) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/v1/areas", timeout=5).json()["count"] >= count:
                return
        except (httpx.HTTPError, KeyError, ValueError):
            pass
        time.sleep(0.3)
    raise StackError(f"the volunteers service did not receive the area tree within {timeout:.0f}s")


def load_volunteers(url: str, jwt_key: str) -> tuple[int, int, int]:
    """Volunteers, the meal schedule and the pairings; returns how many of each were new."""
    admin = _client(url, jwt_key, "demo-town-admin", ["town_admin"], ["changping"])
    r = admin.post(
        "/v1/volunteers/import", content=VOLUNTEERS_CSV.encode(), headers={"content-type": "text/csv; charset=utf-8"}
    )
    r.raise_for_status()
    report = r.json()
    if report["errors"]:
        raise StackError(f"demo volunteers refused: {report['errors']}")
    ids = {row["external_id"]: row["id"] for row in report["rows"]}

    existing = admin.get("/v1/schedules", params={"area": MEAL_SCHEDULE["grid_id"]})
    existing.raise_for_status()
    schedules = 0
    if not any(s["name"] == MEAL_SCHEDULE["name"] for s in existing.json()):
        admin.post("/v1/schedules", json=MEAL_SCHEDULE).raise_for_status()
        schedules = 1

    pairings = 0
    for ext, ref, household, grid, every in PAIRINGS:
        r = admin.post(
            "/v1/pairings",
            json={
                "volunteer_id": ids[ext],
                "household_ref": ref,
                "household_name": household,
                "grid_id": grid,
                "every_days": every,
            },
        )
        if r.status_code != 409:  # 409: paired already (a re-run)
            r.raise_for_status()
            pairings += 1
    return report["created"], schedules, pairings


# the notifications service's staff directory: (sub, name, role, area, phone, email); the demo cases' actors
# are among them, so their messages have someone to reach
STAFF = [
    ("demo-town-admin", "镇综治中心值班员", "town_admin", "changping", "13800000001", "duty@changping.example.cn"),
    ("demo-town-leader", "镇党委书记", "leader", "changping", None, "shuji@changping.example.cn"),
    ("demo-village-admin", "孔家畈村村委干部", "village_admin", "changping.kongjiafan", "13800000002", None),
    ("demo-village-checker", "钟鼓坪村村委干部", "village_admin", "changping.zhongguping", "13800000003", None),
    ("demo-kjf-leader", "孔家畈村党支部书记", "leader", "changping.kongjiafan", "13800000004", None),
    ("demo-grid-manager", "孔家畈村第3网格员", "grid_manager", "changping.kongjiafan.g03", "13800000005", None),
]


def load_notifications(url: str, jwt_key: str, days: int = 7) -> tuple[int, int]:
    """The staff directory and the town's on-duty roster for the coming days; (staff created, duties)."""
    from datetime import datetime, timedelta

    admin = _client(url, jwt_key, "demo-town-admin", ["town_admin"], ["changping"])
    created = 0
    for sub, name, role, area, phone, email in STAFF:
        r = admin.post(
            "/v1/staff", json={"sub": sub, "name": name, "role": role, "area_id": area, "phone": phone, "email": email}
        )
        r.raise_for_status()
        created += r.status_code == 201
    today = datetime.now(LOCAL_TZ).date()
    roster = [
        {"day": (today + timedelta(days=i)).isoformat(), "area_id": "changping", "subs": ["demo-town-admin"]}
        for i in range(days)
    ]
    r = admin.put("/v1/roster", json=roster)
    r.raise_for_status()
    return created, r.json()["duties"]


# 民生实事 in two villages: (key, village, flow, proposer, title, description, category, budget, funding, households,
# people, steps); the steps use the service's own API as the people in each role would
PROPOSALS = [
    (
        "p1",
        "changping.kongjiafan",
        "three_step",
        "demo-rep-kjf-1",
        "孔家畈村饮水主管道改造",
        "更换六组至八组主管道2.3公里，新增加压泵站一座，解决高处农户水压不足",
        "water",
        "1250000.00",
        "一事一议财政奖补+村集体",
        312,
        1046,
        ["approve", "meeting"],
    ),
    (
        "p2",
        "changping.kongjiafan",
        "three_step",
        "demo-rep-kjf-2",
        "孔家畈村文化广场太阳能路灯",
        "文化广场及周边道路新增太阳能路灯12盏",
        "streetlight",
        "36000.00",
        "村集体",
        80,
        260,
        [],
    ),
    (
        "p3",
        "changping.kongjiafan",
        "three_step",
        "demo-rep-kjf-1",
        "孔家畈村三组通组公路硬化",
        "三组通组公路1.1公里硬化",
        "road",
        "420000.00",
        "交通部门补助+村集体",
        46,
        150,
        ["return"],
    ),
    (
        "p4",
        "changping.zhongguping",
        "four_two",
        "demo-pb-zgp",
        "钟鼓坪村垃圾分类收集点",
        "每组设置垃圾分类收集点一处，共八处",
        "environment",
        "96000.00",
        "镇财政+村集体",
        420,
        1380,
        ["discuss", "party_review"],
    ),
    (
        "p5",
        "changping.zhongguping",
        "three_step",
        "demo-rep-zgp-1",
        "钟鼓坪村二组村口路灯",
        "村口至二组道路新增路灯20盏，附近路灯不亮的诉求集中",
        "streetlight",
        "60000.00",
        "村集体",
        65,
        210,
        ["approve"],
    ),
]
REPRESENTATIVES = [
    ("changping.kongjiafan", "demo-rep-kjf-1", "孔德明", "13900010001"),
    ("changping.kongjiafan", "demo-rep-kjf-2", "孔秀英", "13900010002"),
    ("changping.zhongguping", "demo-rep-zgp-1", "钟家宝", "13900010003"),
]


def _livelihood_step(url: str, jwt_key: str, pid: str, village: str, step: str) -> None:
    from datetime import datetime, timedelta

    if step == "meeting":
        admin = _client(url, jwt_key, "demo-va-kjf", ["village_admin"], [village])
        sits = (datetime.now(LOCAL_TZ) + timedelta(days=6)).replace(hour=14, minute=30, second=0, microsecond=0)
        r = admin.post(
            "/v1/meetings",
            json={
                "village_id": village,
                "kind": "representatives_meeting",
                "starts_at": sits.isoformat(),
                "place": "孔家畈村村委会议室",
                "proposal_ids": [pid],
            },
        )
    else:
        role = "village_admin" if step == "discuss" else "party_branch"
        actor = _client(url, jwt_key, f"demo-{role}", [role], [village])
        body = {"reason": "请补充受益户数和预算明细后重新提交"} if step == "return" else {"reason": "符合群众需求"}
        r = actor.post(f"/v1/proposals/{pid}/actions/{step}", json=body)
    r.raise_for_status()


def load_livelihood(url: str, jwt_key: str) -> int:
    """Representatives and proposals in several stages in 孔家畈村 and 钟鼓坪村; the number of new proposals."""
    from datetime import datetime, timedelta

    today = datetime.now(LOCAL_TZ).date()
    town = _client(url, jwt_key, "demo-town-admin", ["town_admin"], ["changping"])
    for village, sub, name, phone in REPRESENTATIVES:
        town.post(
            "/v1/representatives",
            json={
                "village_id": village,
                "sub": sub,
                "name": name,
                "phone": phone,
                "term_start": str(today.replace(month=1, day=1) - timedelta(days=365)),
                "term_end": str(today.replace(month=12, day=31) + timedelta(days=3 * 365)),
            },
        ).raise_for_status()
    existing = {p["title"] for p in town.get("/v1/proposals", params={"limit": 500}).json()["items"]}
    made = 0
    for _key, village, flow, proposer, title, desc, category, budget, funding, households, people, steps in PROPOSALS:
        if title in existing:
            continue  # a re-run: this proposal is there with its steps
        role = "party_branch" if flow == "four_two" else "representative"
        who = _client(url, jwt_key, proposer, [role], [village])
        r = who.post(
            "/v1/proposals",
            json={
                "title": title,
                "description": desc,
                "village_id": village,
                "category": category,
                "budget_yuan": budget,
                "funding_source": funding,
                "households": households,
                "people": people,
                "flow": flow,
            },
        )
        r.raise_for_status()
        made += 1
        for step in steps:
            _livelihood_step(url, jwt_key, r.json()["id"], village, step)
    return made


def publish_demand(url: str, jwt_key: str, timeout: float = 30) -> list[str]:
    """This week's livelihood demand per village from the reporting service, once it has the demo cases, so the
    livelihood proposals show their evidence; the villages published (none again for a week done before)."""
    import time
    from datetime import datetime

    analyst = _client(url, jwt_key, "demo-analyst", ["analyst"], ["changping"])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # the demo's 路灯 request in 钟鼓坪村 is projected
        themes = analyst.get("/v1/reports/livelihood", params={"area": "changping.zhongguping"}).json()["themes"]
        if themes:
            break
        time.sleep(0.5)
    year, week, _ = datetime.now(LOCAL_TZ).date().isocalendar()
    r = analyst.post("/v1/reports/livelihood-demand/publish", params={"week": f"{year}-W{week:02d}"})
    r.raise_for_status()
    published: list[str] = r.json()["published"]
    return published
