"""The answer-link page on the service as a process: a GET shows the offer and changes nothing; a POST accepts
or declines through the same use case as the API and uses the link up; a forged, used or expired link is a
page that says so and never an action."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest

from govkit.auth import Principal
from volunteers import service

from .volunteers_process import make_context, new_task, register, retire, service_token, volunteers_service

GRID = "changping.majialing.g02"
GRID_NAME = "马家岭村第2网格"
HTML = "text/html; charset=utf-8"


@pytest.fixture(scope="module")
def live(stack):
    with volunteers_service(stack) as url:  # VOLUNTEERS_PUBLIC_URL unset: the service's own address
        yield url


@pytest.fixture
async def ctx(stack):
    c = await make_context(stack)
    yield c
    await c.pool.close()


@pytest.fixture
async def grid_volunteers(ctx):
    vols = [await register(ctx, GRID, f"答复测试{i}") for i in range(3)]
    yield vols
    await retire(ctx, [GRID], [v["id"] for v in vols])


async def offered_task(ctx, title: str, **kw):
    async with ctx.pool.acquire() as con, con.transaction():
        task = await service.create_task(con, ctx, new_task(GRID, title, **kw))
    assert task is not None  # a new task, not one of the same origin
    offer = await ctx.pool.fetchrow("select * from offers where task_id = $1 and status = 'pending'", task["id"])
    assert offer is not None
    return task, offer


def answer_url(stack, live: str, ctx, offer) -> str:
    r = httpx.post(
        live + "/internal/v1/contacts",
        json={"items": [{"volunteer_ref": ctx.vref(offer["volunteer_id"]), "task_id": str(offer["task_id"])}]},
        headers={"authorization": f"Bearer {service_token(stack)}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    url = r.json()["items"][0]["answer_url"]
    assert url and url.startswith(live + "/a/"), url
    return url


def assert_page(r: httpx.Response, status: int, *words: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == HTML
    assert r.headers["cache-control"] == "no-store" and r.headers["referrer-policy"] == "no-referrer"
    for word in words:
        assert word in r.text, (word, r.text)


async def offer_row(ctx, offer):
    return await ctx.pool.fetchrow("select * from offers where id = $1", offer["id"])


async def outbox_types(ctx, task_id) -> list[tuple[str, dict]]:
    rows = await ctx.pool.fetch("select event_type, payload from outbox where key = $1 order by id", str(task_id))
    return [(r["event_type"], json.loads(bytes(r["payload"]))) for r in rows]


async def test_get_shows_the_task_and_changes_nothing(stack, live, ctx, grid_volunteers):
    task, offer = await offered_task(ctx, "马家岭村防疫宣传（答复页）", urgent=True)
    url = answer_url(stack, live, ctx, offer)
    for _ in range(3):  # a chat app's preview, then the volunteer, then again
        assert_page(httpx.get(url), 200, "马家岭村防疫宣传（答复页）", "防疫宣传", GRID_NAME, "紧急", "接受", "婉拒")
    page = httpx.get(url).text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "<script" not in page and "http" not in page.split("<body>")[1]  # nothing loaded from anywhere
    assert (await offer_row(ctx, offer))["status"] == "pending"
    assert await ctx.pool.fetchval("select used_at from answer_links where offer_id = $1", offer["id"]) is None
    assert [t for t, _ in await outbox_types(ctx, task["id"])] == ["gov.task.created.v1", "gov.task.offered.v1"]


async def test_accept_assigns_the_task_once(stack, live, ctx, grid_volunteers):
    task, offer = await offered_task(ctx, "马家岭村防疫宣传（接受）")
    url = answer_url(stack, live, ctx, offer)
    assert_page(httpx.post(url, data={"answer": "accept"}), 200, "已接受", "马家岭村防疫宣传（接受）", GRID_NAME)

    assert (await offer_row(ctx, offer))["status"] == "accepted"
    assignment = await ctx.pool.fetchrow("select * from assignments where task_id = $1", task["id"])
    assert assignment["volunteer_id"] == offer["volunteer_id"] and assignment["status"] == "assigned"
    assert await ctx.pool.fetchval("select status from tasks where id = $1", task["id"]) == "assigned"
    assigned = [e for t, e in await outbox_types(ctx, task["id"]) if t == "gov.task.assigned.v1"]
    assert len(assigned) == 1 and assigned[0]["volunteer_ref"] == ctx.vref(offer["volunteer_id"])
    link = await ctx.pool.fetchrow("select * from answer_links where offer_id = $1", offer["id"])
    assert link["used_at"] is not None and link["used_answer"] == "accept"

    # once only, whatever is posted next; the GET says so too
    for again in (
        httpx.post(url, data={"answer": "accept"}),
        httpx.post(url, data={"answer": "decline"}),
        httpx.get(url),
    ):
        assert_page(again, 410, "此链接已使用")
        assert "接受</button>" not in again.text
    assert (await offer_row(ctx, offer))["status"] == "accepted"
    assert await ctx.pool.fetchval("select count(*) from assignments where task_id = $1", task["id"]) == 1


async def test_concurrent_posts_answer_once(stack, live, ctx, grid_volunteers):
    _, offer = await offered_task(ctx, "马家岭村防疫宣传（并发）")
    url = answer_url(stack, live, ctx, offer)
    async with httpx.AsyncClient(timeout=30) as c:
        answers = await asyncio.gather(*(c.post(url, data={"answer": "accept"}) for _ in range(5)))
    assert sorted(a.status_code for a in answers) == [200, 410, 410, 410, 410]
    assert (await offer_row(ctx, offer))["status"] == "accepted"


async def test_a_forged_token_is_an_invalid_link_and_never_an_action(stack, live, ctx, grid_volunteers):
    task, offer = await offered_task(ctx, "马家岭村防疫宣传（伪造）")
    url = answer_url(stack, live, ctx, offer)
    base, token = url.rsplit("/", 1)
    forged = []
    for i in (0, 11, 12, 23):  # in the id and in the MAC
        forged.append(token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :])
    forged += [token[:-1], token + "A", "A" * 24, "not-a-token"]
    for f in forged:
        assert_page(httpx.get(f"{base}/{f}"), 404, "链接无效")
        assert_page(httpx.post(f"{base}/{f}", data={"answer": "accept"}), 404, "链接无效")
    # another offer's link id with this MAC, or this id with another offer's MAC
    _, other_offer = await offered_task(ctx, "马家岭村防疫宣传（伪造2）")
    other = answer_url(stack, live, ctx, other_offer).rsplit("/", 1)[1]
    for f in (other[:12] + token[12:], token[:12] + other[12:]):
        assert_page(httpx.post(f"{base}/{f}", data={"answer": "accept"}), 404, "链接无效")
    assert (await offer_row(ctx, offer))["status"] == "pending"
    assert (await offer_row(ctx, other_offer))["status"] == "pending"
    assert_page(httpx.get(url), 200, "接受")  # the real one still works


async def test_an_expired_or_closed_offer_is_a_gone_page(stack, live, ctx, grid_volunteers):
    _, offer = await offered_task(ctx, "马家岭村防疫宣传（过期）")
    url = answer_url(stack, live, ctx, offer)
    await ctx.pool.execute("update offers set expires_at = now() - interval '1 second' where id = $1", offer["id"])
    assert_page(httpx.get(url), 410, "邀请已过期或已失效")
    assert_page(httpx.post(url, data={"answer": "accept"}), 410, "邀请已过期或已失效")
    assert (await offer_row(ctx, offer))["status"] in ("pending", "expired")  # the timer may have passed it on
    assert await ctx.pool.fetchval("select count(*) from assignments where task_id = $1", offer["task_id"]) == 0

    # answered through the API instead: the link no longer answers
    _, answered = await offered_task(ctx, "马家岭村防疫宣传（已在应用中答复）")
    url = answer_url(stack, live, ctx, answered)
    sub = await ctx.pool.fetchval("select account_sub from volunteers where id = $1", answered["volunteer_id"])
    await service.respond(ctx, answered["id"], False, "在应用中婉拒", Principal(sub=sub, roles=["volunteer"]))
    assert_page(httpx.get(url), 410, "邀请已过期或已失效")
    assert_page(httpx.post(url, data={"answer": "accept"}), 410, "邀请已过期或已失效")
    assert (await offer_row(ctx, answered))["status"] == "declined"

    # the task cancelled: its pending offers are withdrawn
    task, withdrawn = await offered_task(ctx, "马家岭村防疫宣传（撤回）")
    url = answer_url(stack, live, ctx, withdrawn)
    await service.cancel_task(
        ctx, task["id"], "活动取消", Principal(sub="ta", roles=["town_admin"], areas=["changping"])
    )
    assert_page(httpx.post(url, data={"answer": "accept"}), 410, "邀请已过期或已失效")


async def test_decline_passes_the_task_on(stack, live, ctx, grid_volunteers):
    task, offer = await offered_task(ctx, "马家岭村防疫宣传（婉拒）")
    url = answer_url(stack, live, ctx, offer)
    r = httpx.post(url, data={"answer": "decline", "reason": "当天在县城"})
    assert_page(r, 200, "已婉拒", "马家岭村防疫宣传（婉拒）")
    declined = await offer_row(ctx, offer)
    assert (declined["status"], declined["reason"]) == ("declined", "当天在县城")
    nxt = await ctx.pool.fetchrow("select * from offers where task_id = $1 and status = 'pending'", task["id"])
    assert nxt is not None and nxt["volunteer_id"] != offer["volunteer_id"]
    types = [t for t, _ in await outbox_types(ctx, task["id"])]
    assert types == [
        "gov.task.created.v1",
        "gov.task.offered.v1",
        "gov.task.offer_declined.v1",
        "gov.task.offered.v1",
    ]
    assert await ctx.pool.fetchval("select used_answer from answer_links where offer_id = $1", offer["id"]) == "decline"
    # the next candidate gets a link of their own
    assert answer_url(stack, live, ctx, nxt) != url


@pytest.mark.parametrize(
    "form",
    [{}, {"answer": "maybe"}, {"answer": ["accept", "decline"]}, {"answer": "decline", "reason": "长" * 201}],
)
async def test_a_form_that_is_not_an_answer_is_refused_and_changes_nothing(stack, live, ctx, grid_volunteers, form):
    _, offer = await offered_task(ctx, f"马家岭村防疫宣传（表单{uuid.uuid4().hex[:4]}）")
    url = answer_url(stack, live, ctx, offer)
    assert_page(httpx.post(url, data=form), 400, "无法提交")
    assert (await offer_row(ctx, offer))["status"] == "pending"
    assert_page(httpx.get(url), 200, "接受")
