"""Problem bodies in Chinese for a client that prefers Chinese (Accept-Language), English otherwise, from the one
catalogue (govkit.messages)."""

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from gov_contracts import errors
from govkit import messages, problems

ZH = {"accept-language": "zh-CN,zh;q=0.9,en;q=0.8"}


class Body(BaseModel):
    title: str = Field(min_length=2, max_length=20)
    count: int = Field(ge=1, le=5)


def app() -> FastAPI:
    api = FastAPI()
    problems.install(api)

    @api.post("/things")
    async def create(body: Body) -> dict:
        return {}

    @api.get("/cases/{ref}")
    async def case(ref: str) -> dict:
        raise errors.NotFound(f"no case {ref}")

    @api.post("/cases/{ref}/close")
    async def close(ref: str) -> dict:
        raise errors.IllegalAction("cannot close a case that is reported", status="reported", allowed=["accept"])

    @api.post("/odd")
    async def odd() -> dict:
        raise errors.Conflict("a message nobody has put in the catalogue")

    @api.get("/boom")
    async def boom() -> dict:
        raise RuntimeError("x")

    return api


@pytest.mark.parametrize(
    "header,chinese",
    [
        ("zh-CN", True),
        ("zh", True),
        ("zh-Hans-CN;q=0.9, en;q=0.8", True),
        ("en-US,en;q=0.9,zh-CN;q=0.8", False),
        ("en;q=0.5, zh-TW;q=0.7", True),
        ("de, zh", False),  # a tie keeps the header's order
        ("zh;q=0", False),
        ("*", False),
        ("", False),
        (None, False),
        ("zh;q=abc, en", False),
    ],
)
def test_the_preferred_language(header, chinese):
    assert messages.prefers_chinese(header) is chinese


def test_validation_errors_in_chinese_name_the_field_and_the_limit():
    with TestClient(app()) as client:
        r = client.post("/things", json={"title": "x", "count": 9}, headers=ZH)
    assert r.status_code == 422 and r.headers["content-language"] == "zh-CN"
    body = r.json()
    assert body["title"] == "请求无效"
    assert body["detail"] == "body.title: 至少 2 个字符"
    assert body["errors"] == [
        {"field": "body.title", "message": "至少 2 个字符"},
        {"field": "body.count", "message": "不能大于 5"},
    ]
    with TestClient(app()) as client:
        missing = client.post("/things", json={}, headers=ZH).json()
    assert missing["errors"][0] == {"field": "body.title", "message": "必填"}


def test_english_stays_the_default_and_unchanged():
    with TestClient(app()) as client:
        r = client.post("/things", json={"title": "x", "count": 3})
        found = client.get("/cases/CP-1", headers={"accept-language": "en-GB"})
    assert "content-language" not in r.headers
    assert r.json()["detail"] == "body.title: String should have at least 2 characters"
    assert r.json()["errors"] == [{"field": "body.title", "message": "String should have at least 2 characters"}]
    assert (found.json()["title"], found.json()["detail"]) == ("Not found", "no case CP-1")


def test_domain_refusals_from_the_catalogue_and_a_chinese_lead_for_the_rest():
    with TestClient(app(), raise_server_exceptions=False) as client:
        missing = client.get("/cases/CP-2026-000001", headers=ZH).json()
        illegal = client.post("/cases/CP-1/close", headers=ZH).json()
        odd = client.post("/odd", headers=ZH).json()
        boom = client.get("/boom", headers=ZH)
    assert (missing["title"], missing["detail"]) == ("未找到", "没有案件 CP-2026-000001")
    assert (illegal["title"], illegal["detail"]) == ("当前状态不允许此操作", "案件当前状态为 reported，不能执行 close")
    assert illegal["allowed_actions"] == ["accept"]  # the machine-readable parts stay as they are
    assert odd["detail"] == "与当前记录的状态冲突：a message nobody has put in the catalogue"
    assert boom.status_code == 500 and boom.json()["title"] == "内部错误" and boom.json()["trace_id"]


def test_every_title_the_services_raise_has_a_chinese_one():
    from gov_contracts.errors import DomainError

    titles = {cls.title for cls in _subclasses(DomainError)}
    assert titles <= set(messages.TITLES), titles - set(messages.TITLES)


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_the_case_operations_refusals_are_in_the_catalogue():
    for english, chinese in [
        ("supervision (督办) is by a level above the case's (town)", "督办须由高于案件所在层级（镇）的层级发起"),
        (
            "a extension request of a village-level case is decided at town level or above",
            "村（社区）级案件的延期申请由镇级或以上审批",
        ),
        ("your area scope does not cover changping.x", "您的辖区不包括 changping.x"),
    ]:
        assert messages.detail(english, 403) == chinese
    assert messages.detail("body.due: the new deadline must be later than 2026-10-06T10:00:00+08:00", 422) == (
        "body.due: 新的办结时限须晚于 2026-10-06T10:00:00+08:00"
    )
