"""POST /internal/v1/contacts, the notifications service's contact lookup, on the service as a process: only a
service token with volunteer_contact:read; one answer per item in order; an audited read per volunteer found;
an answer link for an offer while it is open, the same one on every lookup; pairings."""

from __future__ import annotations

import random
import uuid
from datetime import date, datetime

import httpx
import pytest

from govkit.auth import PERSONAL_DATA, Principal, mint
from govkit.problems import MEDIA_TYPE as PROBLEM
from volunteers import recurring, service

from .volunteers_process import (
    CONTACT_READ,
    make_context,
    new_task,
    register,
    retire,
    service_token,
    volunteers_service,
)

GRID = "changping.huangjiawan.g02"
PAIRING_GRID = "changping.huangjiawan.g03"
PUBLIC_URL = "https://vol.changping.example/m"


@pytest.fixture(scope="module")
def live(stack):
    with volunteers_service(stack, VOLUNTEERS_PUBLIC_URL=PUBLIC_URL + "/") as url:
        yield url


@pytest.fixture
async def ctx(stack):
    c = await make_context(stack)
    yield c
    await c.pool.close()


@pytest.fixture
async def people(ctx):
    """Three volunteers of the grid, each offered the six tasks (headcount 3)."""
    vols = [await register(ctx, GRID, f"联络测试{i}", phone=f"1390000{i:04d}") for i in range(3)]
    tasks = []
    for i in range(6):
        async with ctx.pool.acquire() as con, con.transaction():
            tasks.append(await service.create_task(con, ctx, new_task(GRID, f"防疫宣传联络测试{i}", headcount=3)))
    yield vols, tasks
    await retire(ctx, [GRID], [v["id"] for v in vols])


def client(url: str, token: str | None) -> httpx.Client:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=url, headers=headers, timeout=30)


def lookup(c: httpx.Client, items: list[dict]) -> list[dict]:
    r = c.post("/internal/v1/contacts", json={"items": items})
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_only_a_service_token_with_the_contact_permission_is_answered(stack, live, ctx):  # ctx: the areas
    body = {"items": [{"volunteer_ref": "volunteer_00000000000000000000", "task_id": str(uuid.uuid4())}]}
    forged = mint(key="x" * 40, sub="svc", roles=["service"], areas=[], permissions=[CONTACT_READ])
    for token in (None, forged, "not-a-jwt"):
        r = client(live, token).post("/internal/v1/contacts", json=body)
        assert r.status_code == 401 and r.headers["content-type"] == PROBLEM, r.text
    secret = stack.state["jwt_secret"]
    refused = [
        service_token(stack, permissions=()),  # a service without the permission
        service_token(stack, roles=("town_admin",)),  # the permission on a person's token
        mint(key=secret, sub="ta", roles=["town_admin"], areas=["changping"], permissions=[PERSONAL_DATA]),
        mint(key=secret, sub="vol", roles=["volunteer"], areas=[]),
    ]
    for token in refused:
        r = client(live, token).post("/internal/v1/contacts", json=body)
        assert r.status_code == 403 and r.headers["content-type"] == PROBLEM, r.text
        assert "volunteer_contact:read" in r.json()["detail"]
    assert client(live, service_token(stack)).post("/internal/v1/contacts", json=body).status_code == 200


@pytest.mark.parametrize(
    "body,field",
    [
        ({"items": []}, "body.items"),
        ({"items": [{"volunteer_ref": "v", "task_id": str(uuid.uuid4())}] * 201}, "body.items"),
        ({"items": [{"volunteer_ref": "v"}]}, "body.items.0.pairing_id"),
        ({"items": [{"volunteer_ref": "v", "task_id": None, "pairing_id": None}]}, "body.items.0.pairing_id"),
        (
            {
                "items": [{"volunteer_ref": "v", "task_id": str(uuid.uuid4())}] * 2
                + [{"volunteer_ref": "v", "task_id": str(uuid.uuid4()), "pairing_id": str(uuid.uuid4())}]
            },
            "body.items.2.pairing_id",
        ),
        ({"items": [{"volunteer_ref": "v", "task_id": "not-a-uuid"}]}, "body.items.0.task_id"),
        ({"items": [{"volunteer_ref": "", "task_id": str(uuid.uuid4())}]}, "body.items.0.volunteer_ref"),
        ({"items": [{"volunteer_ref": "v", "task_id": str(uuid.uuid4()), "name": "x"}]}, "body.items.0.name"),
        ({}, "body.items"),
    ],
)
def test_a_bad_request_is_a_422_naming_the_field(stack, live, body, field):
    r = client(live, service_token(stack)).post("/internal/v1/contacts", json=body)
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM, r.text
    assert r.json()["errors"][0]["field"] == field, r.json()


async def test_an_offer_is_found_by_task_and_ref_with_its_answer_link_and_every_find_is_audited(
    stack, live, ctx, people
):
    vols, tasks = people
    reader = f"svc:contacts-{uuid.uuid4().hex[:8]}"
    c = client(live, service_token(stack, sub=reader))
    v, task = vols[0], tasks[0]
    ref = ctx.vref(v["id"])
    offer = await ctx.pool.fetchrow(
        "select * from offers where task_id = $1 and volunteer_id = $2", task["id"], v["id"]
    )
    assert offer["status"] == "pending"

    got, missing_ref, missing_task = lookup(
        c,
        [
            {"volunteer_ref": ref, "task_id": str(task["id"])},
            {"volunteer_ref": ctx.vref(uuid.uuid4()), "task_id": str(task["id"])},
            {"volunteer_ref": ref, "task_id": str(uuid.uuid4())},
        ],
    )
    assert {k: got[k] for k in ("volunteer_ref", "found", "account_sub", "name", "phone", "offer_status")} == {
        "volunteer_ref": ref,
        "found": True,
        "account_sub": v["account_sub"],
        "name": "联络测试0",
        "phone": "13900000000",
        "offer_status": "pending",
    }
    assert datetime.fromisoformat(got["expires_at"]) == offer["expires_at"]
    assert got["task"] == {
        "title": "防疫宣传联络测试0",
        "task_type": "epidemic_publicity",
        "grid_id": GRID,
        "window_start": got["task"]["window_start"],
        "window_end": got["task"]["window_end"],
        "urgent": False,
    }
    assert datetime.fromisoformat(got["task"]["window_start"]) == task["window_start"]
    url = got["answer_url"]
    assert url.startswith(PUBLIC_URL + "/a/") and len(url) == len(PUBLIC_URL) + 3 + 24, url
    nothing = dict.fromkeys(["account_sub", "name", "phone", "offer_status", "expires_at", "answer_url", "task"])
    for item in (missing_ref, missing_task):
        assert item == {"volunteer_ref": item["volunteer_ref"], "found": False, **nothing}
    assert missing_task["volunteer_ref"] == ref

    # the same link on every lookup; one link row per offer
    assert lookup(c, [{"volunteer_ref": ref, "task_id": str(task["id"])}])[0]["answer_url"] == url
    assert await ctx.pool.fetchval("select count(*) from answer_links where offer_id = $1", offer["id"]) == 1

    # an audit row per volunteer found, with the caller's sub
    reads = await ctx.pool.fetch("select volunteer_id, fields from personal_data_reads where reader = $1", reader)
    assert [(r["volunteer_id"], list(r["fields"])) for r in reads] == [(v["id"], ["name", "phone"])] * 2

    # answered (through the API's use case): found still, without a link
    await service.respond(ctx, offer["id"], True, None, Principal(sub=v["account_sub"], roles=["volunteer"]))
    after = lookup(c, [{"volunteer_ref": ref, "task_id": str(task["id"])}])[0]
    assert after["found"] and after["offer_status"] == "accepted" and after["answer_url"] is None

    # pending but past its expiry (the timer has not passed it on yet): no link either
    other = await ctx.pool.fetchrow(
        "update offers set expires_at = now() - interval '1 second' where task_id = $1 and volunteer_id = $2 "
        "returning *",
        tasks[1]["id"],
        vols[1]["id"],
    )
    late = lookup(c, [{"volunteer_ref": ctx.vref(vols[1]["id"]), "task_id": str(tasks[1]["id"])}])[0]
    assert late["found"] and late["answer_url"] is None
    assert late["offer_status"] in ("pending", "expired") and other is not None


async def test_a_batch_is_answered_item_by_item_in_order_with_one_audit_row_per_find(stack, live, ctx, people):
    vols, tasks = people
    reader = f"svc:batch-{uuid.uuid4().hex[:8]}"
    c = client(live, service_token(stack, sub=reader))
    real = [(v, t) for v in vols for t in tasks]  # 18 offers
    items, expected = [], []
    for v, t in real:
        items.append({"volunteer_ref": ctx.vref(v["id"]), "task_id": str(t["id"])})
        expected.append((True, v["account_sub"], t["title"]))
    strangers = [ctx.vref(uuid.uuid4()) for _ in range(5)]
    while len(items) < 200:
        t = random.Random(len(items)).choice(tasks)
        items.append({"volunteer_ref": strangers[len(items) % 5], "task_id": str(t["id"])})
        expected.append((False, None, None))
    order = list(range(200))
    random.Random(7).shuffle(order)
    items, expected = [items[i] for i in order], [expected[i] for i in order]

    got = lookup(c, items)
    assert [g["volunteer_ref"] for g in got] == [i["volunteer_ref"] for i in items]
    assert [(g["found"], g["account_sub"], (g["task"] or {}).get("title")) for g in got] == expected
    assert all(g["answer_url"] for g in got if g["found"])  # all 18 pending and open
    assert len({g["answer_url"] for g in got if g["found"]}) == 18
    assert await ctx.pool.fetchval("select count(*) from personal_data_reads where reader = $1", reader) == 18


async def test_a_pairing_is_found_by_its_id_and_its_volunteers_ref(stack, live, ctx):
    v = await register(ctx, PAIRING_GRID, "结对联络测试", skills=("elderly_care",), phone="13911112222")
    someone = await register(ctx, PAIRING_GRID, "旁人", skills=("elderly_care",))
    async with ctx.pool.acquire() as con, con.transaction():
        p = await recurring.create_pairing(
            con,
            ctx,
            recurring.NewPairing(
                volunteer_id=v["id"],
                household_ref=f"household_{uuid.uuid4().hex[:8]}",
                household_name="李奶奶",
                grid_id=PAIRING_GRID,
                every_days=7,
                first_visit_on=date(2099, 1, 5),  # never due while the test runs
            ),
        )
    try:
        reader = f"svc:pairing-{uuid.uuid4().hex[:8]}"
        c = client(live, service_token(stack, sub=reader))
        mine, not_theirs, unknown = lookup(
            c,
            [
                {"volunteer_ref": ctx.vref(v["id"]), "pairing_id": str(p["id"]), "task_id": None},
                {"volunteer_ref": ctx.vref(someone["id"]), "pairing_id": str(p["id"])},
                {"volunteer_ref": ctx.vref(v["id"]), "pairing_id": str(uuid.uuid4())},
            ],
        )
        assert mine == {
            "volunteer_ref": ctx.vref(v["id"]),
            "found": True,
            "account_sub": v["account_sub"],
            "name": "结对联络测试",
            "phone": "13911112222",
            "offer_status": None,
            "expires_at": None,
            "answer_url": None,
            "task": None,
        }
        assert "李奶奶" not in str(mine)
        assert not not_theirs["found"] and not unknown["found"]
        reads = await ctx.pool.fetch("select volunteer_id from personal_data_reads where reader = $1", reader)
        assert [r["volunteer_id"] for r in reads] == [v["id"]]
    finally:
        await ctx.pool.execute("update pairings set active = false where id = $1", p["id"])
        await retire(ctx, [PAIRING_GRID], [v["id"], someone["id"]])
