"""The one catalogue of what the services say in their problem bodies, in Chinese, for a request that prefers
Chinese (Accept-Language: zh…). English stays the default and the source: each entry renders an English message
(or a title, or a pydantic error type) in Chinese, so a new message without an entry still reaches the client,
in English, behind a Chinese sentence saying what kind of refusal it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

# -- which language the client prefers -------------------------------------------------------------------------


def prefers_chinese(accept_language: str | None) -> bool:
    """Whether the highest-weighted language of an Accept-Language header is Chinese (zh, zh-CN, zh-Hans…).
    Ties keep the header's order; `*` and malformed parts count as not Chinese."""
    if not accept_language:
        return False
    best: tuple[float, int, str] | None = None
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                continue
        if not tag or weight <= 0:
            continue
        candidate = (weight, -position, tag.strip().lower())
        if best is None or candidate > best:
            best = candidate
    return best is not None and (best[2] == "zh" or best[2].startswith("zh-"))


# -- titles ------------------------------------------------------------------------------------------------------

TITLES: dict[str, str] = {
    "Invalid request": "请求无效",
    "Not found": "未找到",
    "Forbidden": "无权操作",
    "Conflict": "与现有记录冲突",
    "Action not allowed in this state": "当前状态不允许此操作",
    "Authentication required": "需要登录",
    "Invalid token": "登录凭证无效",
    "Service unavailable": "服务暂不可用",
    "Internal error": "内部错误",
    "Method not allowed": "不支持该请求方法",
    "HTTP error": "请求错误",
    "Unsupported media type": "不支持的内容类型",
    "Payload too large": "请求内容过大",
    "Attachment too large": "附件过大",
    "Idempotency-Key reused": "幂等键已用于其他请求",
    "Already rated": "已评价",
    "Already recorded": "已记录",
    "Target case is not open": "目标案件已办结或不存在",
    "No more extensions": "延期次数已达上限",
    "Nothing to extend": "无需延期",
    "Return window passed": "已超过退单时限",
    "Not an external ticket": "不是热线工单",
    "Offer expired or closed": "邀请已过期或已失效",
    "Answer link used": "此链接已使用",
    "Offer no longer open": "邀请已不再开放",
    "Unsupported attachment": "不支持的附件",
    "Invalid answer link": "链接无效",
    "Above budget": "超出预算",
    "Tally entries differ": "计票记录不一致",
}

# the sentence before an English message the catalogue does not know, by status
FALLBACK: dict[int, str] = {
    400: "请求有误",
    401: "需要登录或登录凭证无效",
    403: "无权执行此操作",
    404: "未找到所请求的内容",
    409: "与当前记录的状态冲突",
    410: "已失效",
    413: "请求内容过大",
    415: "不支持的内容类型",
    422: "请求内容有误",
    429: "请求过于频繁",
    503: "服务暂不可用，请稍后重试",
}

# -- field messages of pydantic's validation errors, by error type (ctx fills the braces) ------------------------

PYDANTIC: dict[str, str] = {
    "missing": "必填",
    "extra_forbidden": "不允许的字段",
    "string_type": "应为文本",
    "string_too_short": "至少 {min_length} 个字符",
    "string_too_long": "最多 {max_length} 个字符",
    "string_pattern_mismatch": "格式不正确",
    "too_short": "至少 {min_length} 项",
    "too_long": "最多 {max_length} 项",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "int_from_float": "应为整数",
    "float_parsing": "应为数字",
    "float_type": "应为数字",
    "bool_parsing": "应为 true 或 false",
    "bool_type": "应为 true 或 false",
    "greater_than": "须大于 {gt}",
    "greater_than_equal": "不能小于 {ge}",
    "less_than": "须小于 {lt}",
    "less_than_equal": "不能大于 {le}",
    "literal_error": "只能是 {expected}",
    "enum": "只能是 {expected}",
    "date_parsing": "不是有效的日期（YYYY-MM-DD）",
    "date_from_datetime_parsing": "不是有效的日期（YYYY-MM-DD）",
    "datetime_parsing": "不是有效的日期时间（ISO 8601）",
    "datetime_from_date_parsing": "不是有效的日期时间（ISO 8601）",
    "timezone_aware": "须带时区，例如 +08:00",
    "uuid_parsing": "不是有效的 UUID",
    "uuid_type": "不是有效的 UUID",
    "url_parsing": "不是有效的网址",
    "url_scheme": "网址须以 http:// 或 https:// 开头",
    "json_invalid": "不是有效的 JSON",
    "model_attributes_type": "应为 JSON 对象",
    "dict_type": "应为 JSON 对象",
    "list_type": "应为列表",
    "value_error": "取值无效：{error}",
}

# -- the services' own messages: a pattern over the English and its Chinese ----------------------------------------

Render = str | Callable[[re.Match[str]], str]
PHRASES: list[tuple[re.Pattern[str], Render]] = [
    (re.compile(p), r)
    for p, r in [
        (r"^Field required$", "必填"),
        (r"^required$", "必填"),
        (r"^required for (\w+)$", r"执行 \1 时必填"),
        (r"^no case (\S+)$", r"没有案件 \1"),
        (r"^no task (\S+)$", r"没有任务 \1"),
        (r"^no volunteer (\S+)$", r"没有志愿者 \1"),
        (r"^no proposal (\S+)$", r"没有项目 \1"),
        (r"^no notice (\S+)$", r"没有公示 \1"),
        (r"^no meeting (\S+)$", r"没有会议 \1"),
        (r"^no area (\S+)$", r"没有区域 \1"),
        (r"^no attachment (\S+)$", r"没有附件 \1"),
        (r"^no (\w+) (\S+)$", r"没有 \1 \2"),
        (r"^your area scope does not cover (\S+)$", r"您的辖区不包括 \1"),
        (r"^'?([^']+)'? is not a known grid$", r"\1 不是已知的网格"),
        (r"^'?([^']+)'? is not a known area$", r"\1 不是已知的区域"),
        (r"^not a known grid$", "不是已知的网格"),
        (r"^not a UUID$", "不是有效的 UUID"),
        (r"^unknown category '([^']+)'$", r"未知的案件类别 \1"),
        (r"^cannot (\w+) a case that is (\w+)$", r"案件当前状态为 \2，不能执行 \1"),
        (r"^needs one of the roles: (.+)$", r"需要以下角色之一：\1"),
        (r"^only staff .* act on cases$", "只有网格员、村（社区）、镇、县工作人员可以办理案件"),
        (r"^the case is handled at (\w+) level; your role acts at (\w+) level$", r"案件在\1级办理；您的角色在\2级"),
        (r"^the verifier must not be the one who resolved the case$", "核查人不能是办结人"),
        (
            r"^a (\w+) request of a (\w+)-level case is decided at (\w+) level or above$",
            r"\2级案件的\1申请由\3级或以上审批",
        ),
        (r"^the (\w+) request is decided by someone other than who made it$", r"\1申请须由申请人以外的人审批"),
        (
            r"^supervision \(督办\) is by a level above the case's \((\w+)\)$",
            r"督办须由高于案件所在层级（\1）的层级发起",
        ),
        (r"^a (\w+) request awaits a decision; one request at a time$", r"已有\1申请待审批，一次只能有一个申请"),
        (r"^no (\w+) request awaits a decision$", r"没有待审批的\1申请"),
        (r"^the new deadline must be later than (\S+)$", r"新的办结时限须晚于 \1"),
        (r"^body\.due must be in the future$", "日期须在将来"),
        (r"^the new deadline asked for is required$", "须填写申请的新办结时限"),
        (r"^the call-back follows the resolution$", "回访须在办结之后"),
        (r"^case (\S+) did not come as a ticket$", r"案件 \1 不是热线工单"),
        (r"^case (\S+) was extended (\d+) times, the most allowed$", r"案件 \1 已延期 \2 次，达到上限"),
        (r"^the deadline is already later than the one asked for$", "现有时限已晚于申请的时限"),
        (r"^missing bearer token$", "缺少登录凭证（Bearer token）"),
        (r"^token expired$", "登录凭证已过期"),
        (r"^String should have at most (\d+) characters$", r"最多 \1 个字符"),
        (r"^String should have at least (\d+) characters?$", r"至少 \1 个字符"),
        (r"^contains a NUL character \(U\+0000\)$", "含有空字符（U+0000）"),
        (r"^not a UTF-8 encoded JSON document$", "不是 UTF-8 编码的 JSON 文档"),
        (r"^the database or the broker is out of reach; try again later$", "数据库或消息队列暂时无法访问，请稍后重试"),
        (r"^an unexpected error; quote the trace id when reporting it$", "发生意外错误；反馈问题时请提供 trace_id"),
    ]
]


# words the services put into their messages, said in Chinese where a phrase carries them
WORDS: dict[str, str] = {
    "extension": "延期",
    "suspension": "缓办",
    "grid": "网格",
    "village": "村（社区）",
    "town": "镇",
    "county": "县",
}


def phrase(message: str) -> str | None:
    """The Chinese of one of the services' messages, or None when the catalogue does not know it."""
    for pattern, render in PHRASES:
        found = pattern.match(message)
        if found:
            if callable(render):
                return render(found)
            return _expand(found, render)
    return None


def _expand(found: re.Match[str], template: str) -> str:
    """The template with its \\N filled by the match's groups, each said in Chinese when WORDS knows it."""

    def group(ref: re.Match[str]) -> str:
        value = found.group(int(ref.group(1)))
        return WORDS.get(value, value)

    return re.sub(r"\\(\d)", group, template)


def title(english: str) -> str:
    return TITLES.get(english, english)


def field_message(message: str, error_type: str | None = None, ctx: Mapping[str, Any] | None = None) -> str:
    """A field's message in Chinese: by pydantic's error type when there is one, else by the phrases, else as is."""
    if error_type == "value_error":
        error = str((ctx or {}).get("error", message))
        return phrase(error) or PYDANTIC["value_error"].format(error=error)
    if error_type in PYDANTIC:
        values = {k: _shown(v) for k, v in (ctx or {}).items()}
        try:
            return PYDANTIC[error_type].format(**values)
        except (KeyError, IndexError):
            pass
    return phrase(message) or message


def detail(english: str, status: int) -> str:
    """A problem's detail in Chinese. `field: message` details translate the message; a detail the catalogue
    does not know keeps the English behind the status's Chinese sentence."""
    known = phrase(english)
    if known is not None:
        return known
    if _CHINESE.search(english):
        return english  # said in Chinese already (a field message the caller translated)
    field, sep, message = english.partition(": ")
    if sep and _looks_like_field(field):
        known = phrase(message)
        if known is not None:
            return f"{field}: {known}"
    lead = FALLBACK.get(status, "请求未能完成")
    return f"{lead}：{english}" if english else lead


_CHINESE = re.compile(r"[\u4e00-\u9fff]")


def _looks_like_field(text: str) -> bool:
    return bool(re.fullmatch(r"(body|query|path|header|token)(\.[\w\-\[\]]+)*", text))


def _shown(value: Any) -> str:
    return str(value)
