"""One rule for every topic (docs/events.md, "Topics"): an event's `ce_subject`
is its record key, the aggregate id. Checked on every record the services and
the area publisher put on the topics: those of this module's flow (an area
tree, a case dispatched into a task, a volunteer, the weekly reports) and of
any test that ran before it in the session."""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from gov_contracts import topics
from govctl import areas as area_file
from govkit.auth import mint

from .test_services_and_areas import wait_for

GRID = "changping.kongjiafan.g02"
TOPICS = [t for t in topics.ALL if t != topics.DEADLETTER]


@pytest.fixture(scope="module")
def live(stack):
    saved = os.environ.get("REPORTING_PUBLISH_INTERVAL_S")
    os.environ["REPORTING_PUBLISH_INTERVAL_S"] = "1"  # the weekly reports go out as soon as the areas are in
    stack.stop_services()
    stack.start_services(say=lambda *_: None)
    area_file.publish(stack.bootstrap, area_file.DEFAULT_FILE)
    for svc in ("cases", "volunteers", "reporting"):
        wait_for(lambda svc=svc: httpx.get(stack.url(svc) + "/v1/areas").json()["count"] == 137)
    yield stack
    stack.stop_services()
    os.environ.pop("REPORTING_PUBLISH_INTERVAL_S") if saved is None else os.environ.__setitem__(
        "REPORTING_PUBLISH_INTERVAL_S", saved
    )


def as_(stack, svc, sub, roles, areas):
    token = mint(key=stack.state["jwt_secret"], sub=sub, roles=roles, areas=areas)
    return httpx.Client(base_url=stack.url(svc), headers={"authorization": f"Bearer {token}"}, timeout=20)


async def published_records(bootstrap: str) -> dict[str, list]:
    """Every record of the topics up to their end now, except the ones tests wrote themselves."""
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await c.start()
    try:
        await c._client.force_metadata_update()
        tps = [TopicPartition(t, p) for t in TOPICS for p in sorted(c.partitions_for_topic(t) or ())]
        c.assign(tps)
        await c.seek_to_beginning(*tps)
        end = await c.end_offsets(tps)
        out: dict[str, list] = {t: [] for t in TOPICS}
        pending = {tp for tp in tps if end[tp] > 0}
        while pending:
            for tp, recs in (await c.getmany(*pending, timeout_ms=500)).items():
                out[tp.topic] += [
                    r for r in recs if r.offset < end[tp] and dict(r.headers).get("ce_source") != b"tests"
                ]
            pending = {tp for tp in pending if await c.position(tp) < end[tp]}
        return out
    finally:
        await c.stop()


def test_every_event_s_subject_is_its_record_key(live):
    stack = live
    admin = as_(stack, "volunteers", "ta-subj", ["town_admin"], ["changping"])
    r = admin.post(
        "/v1/volunteers",
        json={
            "name": "主题校验志愿者",
            "phone": "13900002222",
            "roles": ["mediator"],
            "home_grid": GRID,
            "skills": ["mediation"],
            "account_sub": "vol-subj",
        },
    )
    assert r.status_code == 201, r.text
    gm = as_(stack, "cases", "gm-subj", ["grid_manager"], [GRID])
    case = gm.post(
        "/v1/cases",
        json={
            "category": "dispute.neighbor",
            "title": "孔家畈村二组邻里排水纠纷",
            "description": "两户因排水沟走向发生争执",
            "grid_id": GRID,
        },
    ).json()
    gm.post(f"/v1/cases/{case['id']}/accept").raise_for_status()
    gm.post(f"/v1/cases/{case['id']}/dispatch", json={"unit_level": "grid", "unit_id": GRID}).raise_for_status()

    def case_task_and_reports_out():
        records = asyncio.run(published_records(stack.bootstrap))
        keys = {t: {r.key for r in recs} for t, recs in records.items()}
        done = (
            case["id"].encode() in keys[topics.CASES]
            and keys[topics.TASKS]
            and keys[topics.REPORTS]
            and keys[topics.VOLUNTEERS]
            and keys[topics.AREAS]
        )
        return records if done else None

    records = wait_for(case_task_and_reports_out, timeout=90, every=2)

    for topic, recs in records.items():
        for r in recs:
            subject = dict(r.headers).get("ce_subject")
            assert subject is not None and subject == r.key, (
                f"{topic}/{r.partition}@{r.offset} {dict(r.headers).get('ce_type')}: key {r.key!r}, subject {subject!r}"
            )
    reports = records[topics.REPORTS]
    assert {r.key for r in reports} >= {b"changping", b"changping.kongjiafan"}
