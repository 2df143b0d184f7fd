"""The HTML of the answer page (api/answer_page.py): one self-contained mobile page per state, in Chinese, with
inline CSS only (no script, font, image or other request), large tap targets, every value escaped."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

from gov_contracts.vocabulary import LOCAL_TZ

TASK_TYPE_LABEL = {
    "dispute_mediation": "矛盾纠纷调解",
    "epidemic_temperature_check": "疫情防控测温",
    "epidemic_publicity": "防疫宣传",
    "epidemic_disinfection": "消毒消杀",
    "meal_delivery": "爱心送餐",
    "pairing_visit": "结对帮扶走访",
    "sanitation_cleanup": "环境卫生清理",
    "patrol": "巡逻巡查",
    "cultural_activity": "文化活动",
    "meeting_publicity": "会议宣传",
}
WEEKDAY = "一二三四五六日"
REASON_MAX = 200

STYLE = """
*{box-sizing:border-box}
body{margin:0;background:#f3f4f6;color:#111827;font:17px/1.6 -apple-system,"PingFang SC","Noto Sans CJK SC",
"Microsoft YaHei",sans-serif;-webkit-text-size-adjust:100%}
main{max-width:560px;margin:0 auto;padding:20px 16px 40px}
.org{margin:0;color:#b91c1c;font-weight:600;font-size:15px}
h1{margin:4px 0 16px;font-size:26px;line-height:1.3}
.card{background:#fff;border-radius:14px;padding:18px 18px 8px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
.card h2{margin:0 0 10px;font-size:21px;line-height:1.4;word-break:break-word}
.urgent{display:inline-block;margin:0 0 8px;padding:2px 12px;border-radius:999px;background:#dc2626;color:#fff;
font-weight:700;font-size:16px}
dl{margin:0}
dt{color:#6b7280;font-size:14px}
dd{margin:0 0 12px;font-size:18px}
form{margin:18px 0 0}
button{display:block;width:100%;min-height:60px;border:0;border-radius:14px;font-size:22px;font-weight:700;
letter-spacing:.2em;cursor:pointer}
.accept{background:#15803d;color:#fff}
.decline{background:#fff;color:#b91c1c;border:2px solid #b91c1c}
label{display:block;margin:0 0 6px;color:#374151;font-size:15px}
input{display:block;width:100%;min-height:52px;margin:0 0 12px;padding:10px 12px;border:1px solid #d1d5db;
border-radius:10px;font-size:17px;background:#fff}
.note{color:#6b7280;font-size:14px;margin:22px 0 0}
.done{font-size:30px;margin:6px 0 16px}
.done.ok{color:#15803d}
.done.no{color:#b91c1c}
.closed{color:#374151}
"""


def _document(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="robots" content="noindex, nofollow">\n'
        f"<title>{escape(title)} · 长坪镇志愿服务</title>\n<style>{STYLE}</style>\n</head>\n"
        f'<body>\n<main>\n<p class="org">长坪镇志愿服务</p>\n{body}\n</main>\n</body>\n</html>\n'
    )


def local_time(at: datetime, *, with_date: bool = True) -> str:
    t = at.astimezone(LOCAL_TZ)
    clock = t.strftime("%H:%M")
    return f"{t.month}月{t.day}日（周{WEEKDAY[t.weekday()]}）{clock}" if with_date else clock


def time_window(start: datetime, end: datetime) -> str:
    """`12月1日（周二）11:00–12:00`, or both dates when the window spans days (China Standard Time)."""
    same_day = start.astimezone(LOCAL_TZ).date() == end.astimezone(LOCAL_TZ).date()
    return f"{local_time(start)}–{local_time(end, with_date=not same_day)}"


def _task_card(link: Any, *, expiry: bool) -> str:
    rows = [
        ("类型", TASK_TYPE_LABEL.get(link["task_type"], link["task_type"])),
        ("地点", link["grid_name"] or link["grid_id"]),
        ("时间", time_window(link["window_start"], link["window_end"])),
    ]
    if expiry:
        rows.append(("请在此时间前答复", local_time(min(link["offer_expires_at"], link["link_expires_at"]))))
    urgent = '<p class="urgent">紧急</p>\n' if link["urgent"] else ""
    facts = "\n".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows)
    return f'<section class="card">\n{urgent}<h2>{escape(link["title"])}</h2>\n<dl>\n{facts}\n</dl>\n</section>'


def offer_page(link: Any) -> str:
    """The offer with 接受 and 婉拒. Two forms to the page's own URL: Enter in the reason field declines."""
    body = (
        "<h1>任务邀请</h1>\n"
        + _task_card(link, expiry=True)
        + '\n<form method="post">\n<button type="submit" name="answer" value="accept" class="accept">接受</button>\n'
        "</form>\n"
        '<form method="post">\n<label for="reason">婉拒原因（选填）</label>\n'
        f'<input id="reason" name="reason" maxlength="{REASON_MAX}" autocomplete="off">\n'
        '<button type="submit" name="answer" value="decline" class="decline">婉拒</button>\n</form>\n'
        '<p class="note">此链接仅限本人使用，答复一次后失效。</p>'
    )
    return _document("任务邀请", body)


def answered_page(link: Any) -> str:
    accepted = link["used_answer"] == "accept"
    if accepted:
        head = '<p class="done ok">已接受</p>'
        note = "感谢您接受任务，请按时到达，到场后在志愿服务应用中签到。"
    else:
        head = '<p class="done no">已婉拒</p>'
        note = "感谢您的答复，任务将转给其他志愿者。"
    body = f'<h1>任务邀请</h1>\n{head}\n{_task_card(link, expiry=False)}\n<p class="note">{note}</p>'
    return _document("已接受" if accepted else "已婉拒", body)


def message_page(title: str, text: str) -> str:
    """A page that only says what happened: an invalid, used or closed link, a form that cannot be read."""
    return _document(title, f'<h1>{escape(title)}</h1>\n<p class="closed">{escape(text)}</p>')


INVALID = message_page("链接无效", "请检查短信中的链接是否完整；如有疑问，请联系网格员。")
USED = message_page("此链接已使用", "您已通过此链接答复过这项任务，无需再次操作。")
CLOSED = message_page("邀请已过期或已失效", "这项任务可能已超过答复时间、已由他人接受或已撤回，无需再答复。")
