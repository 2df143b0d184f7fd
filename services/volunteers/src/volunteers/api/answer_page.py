"""The page a volunteer answers an offer on, from the link in an SMS: GET /a/{token} shows the task with 接受 and
婉拒, POST /a/{token} (a form) answers. Plain HTML, not in the OpenAPI document: the API is JSON and documented.

A GET never acts, whatever it finds: chat apps and link previews fetch links before anyone taps them.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from volunteers import answer_links
from volunteers.api import answer_html
from volunteers.api.deps import ServiceContext
from volunteers.domain.answer_links import ANSWERS, AnswerLinkExpired, AnswerLinkInvalid, AnswerLinkUsed

router = APIRouter(include_in_schema=False)
FORM_MAX_BYTES = 4096
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the token is in the URL: never hand it on
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'",
}


def page(status: int, html: str) -> HTMLResponse:
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def refusal(e: Exception) -> HTMLResponse:
    if isinstance(e, AnswerLinkUsed):
        return page(410, answer_html.USED)
    if isinstance(e, AnswerLinkExpired):
        return page(410, answer_html.CLOSED)
    return page(404, answer_html.INVALID)


@router.get("/a/{token}")
async def show_answer_link(token: str, ctx: ServiceContext) -> HTMLResponse:
    try:
        link = await answer_links.open_link(ctx, token)
    except (AnswerLinkInvalid, AnswerLinkUsed, AnswerLinkExpired) as e:
        return refusal(e)
    return page(200, answer_html.offer_page(link))


class FormError(ValueError):
    pass


async def read_form(request: Request) -> tuple[str, str | None]:
    """(answer, reason) of the posted form; FormError when it is not one."""
    body = await request.body()
    if len(body) > FORM_MAX_BYTES:
        raise FormError("表单内容过长。")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        raise FormError("无法读取表单，请返回重试。") from None
    answers = set(fields.get("answer", []))
    if len(answers) != 1 or next(iter(answers)) not in ANSWERS:
        raise FormError("请选择“接受”或“婉拒”。")
    reasons = [r.strip() for r in fields.get("reason", []) if r.strip()]
    reason = reasons[0] if reasons else None
    if reason is not None and (len(reason) > answer_html.REASON_MAX or "\x00" in reason):
        raise FormError(f"婉拒原因最多{answer_html.REASON_MAX}字。")
    return answers.pop(), reason


@router.post("/a/{token}")
async def answer_by_link(token: str, request: Request, ctx: ServiceContext) -> HTMLResponse:
    try:
        answer, reason = await read_form(request)
    except FormError as e:
        return page(400, answer_html.message_page("无法提交", str(e)))
    accept = answer == "accept"
    try:
        link = await answer_links.answer(ctx, token, accept, None if accept else reason)
    except (AnswerLinkInvalid, AnswerLinkUsed, AnswerLinkExpired) as e:
        return refusal(e)
    return page(200, answer_html.answered_page(link))
