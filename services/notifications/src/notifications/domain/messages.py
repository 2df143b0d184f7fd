"""The Chinese wording of every kind of message, and the 70-character fit of SMS."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from notifications.domain.kinds import Kind

SMS_MAX = 70  # one SMS of Chinese text


@dataclass(frozen=True)
class Rendered:
    title: str
    text: str
    markdown: str | None = None


def _offer(f: Mapping[str, str]) -> tuple[str, str]:
    # the expiry first: an SMS that has to be shortened loses the details, which the linked page shows
    when = f"，{f['window']}" if f.get("window") else ""
    bring = f"，请带{f['bring']}" if f.get("bring") else ""
    return f"任务邀请：{f['task']}", f"{f['task']}任务邀请，请于{f['expires']}前答复：{f['place']}{when}{bring}"


def _reminder(f: Mapping[str, str]) -> tuple[str, str]:
    return "任务邀请即将过期", f"{f['place']}{f['task']}邀请将于{f['expires']}过期，请尽快答复"


def _unfilled(f: Mapping[str, str]) -> tuple[str, str]:
    when = f"（{f['window']}）" if f.get("window") else ""
    return f"任务无人接单：{f['task']}", f"{f['place']}{f['task']}{when}无人接单，请另行安排"


def _case(f: Mapping[str, str]) -> str:
    return f"{f['number']}（{f['category']}，{f['place']}）"


def _critical(f: Mapping[str, str]) -> tuple[str, str]:
    return f"紧急事件：{f['category']}", f"【{f['severity']}】{_case(f)}，请值班人员立即处置"


def _deadline(f: Mapping[str, str]) -> tuple[str, str]:
    return f"{f['deadline']}时限将到：{f['number']}", f"{_case(f)}{f['deadline']}时限{f['due']}将到，请及时办理"


def _escalated(f: Mapping[str, str]) -> tuple[str, str]:
    return f"事件上报至{f['level']}：{f['number']}", f"{_case(f)}已由{f['from_level']}{f['why']}至{f['level']}，请受理"


def _assigned(f: Mapping[str, str]) -> tuple[str, str]:
    due = f"，请于{f['due']}前办结" if f.get("due") else "，请及时办理"
    to = "给您" if f.get("assignee") else f"至{f.get('unit', '贵单位')}"
    return f"事件派遣：{f['number']}", f"{_case(f)}已派遣{to}{due}"


def _verification(f: Mapping[str, str]) -> tuple[str, str]:
    return f"待核查：{f['number']}", f"{_case(f)}已办结，请核查"


def _weekly(f: Mapping[str, str]) -> tuple[str, str]:
    return (
        f"{f['place']}{f['week']}周研判",
        f"{f['place']}{f['week']}周研判：新增{f['new']}件，办结{f['closed']}件，逾期{f['overdue']}件，红色网格{f['red']}个",
    )


def _pairing(f: Mapping[str, str]) -> tuple[str, str]:
    return "结对走访逾期", f"您在{f['place']}的结对户走访已逾期{f['days']}天，请尽快走访"


def _meeting(f: Mapping[str, str]) -> tuple[str, str]:
    return (
        f"{f['meeting']}通知",
        f"{f['place_name']}定于{f['starts']}在{f['venue']}召开{f['meeting']}，审议民生实事{f['items']}项，请准时参加",
    )


def _supervised(f: Mapping[str, str]) -> tuple[str, str]:
    note = f"：{f['note']}" if f.get("note") else ""
    due = f"请于{f['due']}前报告办理情况" if f.get("due") else "请尽快报告办理情况"
    by = f.get("supervisor", "")
    return f"{by}督办：{f['number']}", f"{_case(f)}列为{by}督办事项{note}。{due}"


def _asked(f: Mapping[str, str]) -> str:
    """延期至12-10 18:00 / 缓办至12-20 18:00 / 缓办"""
    op = f.get("op", "延期")
    return f"{op}至{f['until']}" if f.get("until") else op


def _requested(f: Mapping[str, str]) -> tuple[str, str]:
    by = f.get("from_level", "")
    now = f"（现办结时限{f['due']}）" if f.get("due") else ""
    why = f"，理由：{f['reason']}" if f.get("reason") else ""
    return (
        f"{f.get('op', '延期')}申请待审批：{f['number']}",
        f"{_case(f)}{by}申请{_asked(f)}{now}{why}，请审批",
    )


def _decision(f: Mapping[str, str]) -> str:
    """What now holds: the new deadline of an approved extension, the stopped clock of an approved suspension,
    the unchanged deadline of a refused request."""
    op = f.get("op", "延期")
    if f.get("approved") and op == "缓办":
        return f"暂停计时至{f['until']}" if f.get("until") else "暂停计时"
    if f.get("approved"):
        return f"办结时限延至{f['due']}" if f.get("due") else "办结时限已延长"
    return f"请于{f['due']}前办结" if f.get("due") else "请按原时限办结"


def _decided(f: Mapping[str, str]) -> tuple[str, str]:
    outcome = "已批准" if f.get("approved") else "未获批准"
    why = f"（{f['reason']}）" if f.get("reason") else ""
    return (
        f"{f.get('op', '延期')}申请{outcome}：{f['number']}",
        f"{_case(f)}{f.get('op', '延期')}申请{outcome}{why}，{_decision(f)}",
    )


def _returned(f: Mapping[str, str]) -> tuple[str, str]:
    unit = f.get("unit") or "承办单位"
    why = f"，理由：{f['reason']}" if f.get("reason") else ""
    times = f"（第{f['returns']}次退单）" if f.get("returns") else ""
    return f"事件退单：{f['number']}", f"{_case(f)}已被{unit}退回{times}{why}，请重新派遣"


WORDING: dict[Kind, Callable[[Mapping[str, str]], tuple[str, str]]] = {
    Kind.offer: _offer,
    Kind.offer_reminder: _reminder,
    Kind.task_unfilled: _unfilled,
    Kind.case_critical: _critical,
    Kind.deadline_near: _deadline,
    Kind.case_escalated: _escalated,
    Kind.case_assigned: _assigned,
    Kind.awaiting_verification: _verification,
    Kind.weekly_report: _weekly,
    Kind.pairing_overdue: _pairing,
    Kind.meeting_notice: _meeting,
    Kind.case_supervised: _supervised,
    Kind.approval_requested: _requested,
    Kind.approval_decided: _decided,
    Kind.case_returned: _returned,
}


# SMS leaves room for little besides the link: the offer kinds say the essentials first, more tersely
SMS_WORDING: dict[Kind, Callable[[Mapping[str, str]], str]] = {
    Kind.offer: lambda f: (
        f"{f['task']}邀请，{f['expires']}前答复：{f['place']}" + (f"，{f['window']}" if f.get("window") else "")
    ),
    Kind.offer_reminder: lambda f: f"{f['task']}邀请{f['expires']}过期，请答复：{f['place']}",
    # the case operations: the number, what is asked or decided and the date first; the note or reason last
    Kind.case_supervised: lambda f: (
        f"{f['number']}{f.get('supervisor', '')}督办，"
        + (f"请于{f['due']}前报告" if f.get("due") else "请尽快报告")
        + (f"：{f['note']}" if f.get("note") else "")
    ),
    Kind.approval_requested: lambda f: (
        f"{f['number']}申请{_asked(f)}，请审批" + (f"：{f['reason']}" if f.get("reason") else "")
    ),
    Kind.approval_decided: lambda f: (
        f"{f['number']}{f.get('op', '延期')}申请{'已批准' if f.get('approved') else '未获批准'}，{_decision(f)}"
    ),
    Kind.case_returned: lambda f: (
        f"{f['number']}被{f.get('unit') or '承办单位'}退单，请重新派遣"
        + (f"：{f['reason']}" if f.get("reason") else "")
    ),
}


def fit_sms(text: str, link: str | None) -> str:
    """At most SMS_MAX characters, the link whole: the text is shortened (ending in …) to leave it room."""
    tail = f" {link}" if link else ""
    room = SMS_MAX - len(tail)
    if room < 8:
        raise ValueError(f"a link of {len(tail)} characters leaves no room in one SMS; use a shorter public URL")
    body = text if len(text) <= room else text[: room - 1] + "…"
    return body + tail


def render(kind: Kind, facts: Mapping[str, str], channel: str, link: str | None = None) -> Rendered:
    title, text = WORDING[kind](facts)
    if channel == "sms":
        return Rendered(title, fit_sms(SMS_WORDING[kind](facts) if kind in SMS_WORDING else text, link))
    full = f"{text}\n{link}" if link else text
    if channel in ("wecom", "dingtalk"):
        more = f"\n\n[查看详情]({link})" if link else ""
        return Rendered(title, full, f"### {title}\n{text}{more}")
    return Rendered(title, full)
