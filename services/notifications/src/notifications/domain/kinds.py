"""What a notification is about, and who it is for."""

from __future__ import annotations

from enum import Enum


class Kind(str, Enum):  # noqa: UP042  (StrEnum would change str() of a member)
    offer = "offer"  # a task offered to a volunteer
    offer_reminder = "offer_reminder"  # the offer is about to expire unanswered
    task_unfilled = "task_unfilled"  # nobody took a task: the grid and the level that asked for it
    case_critical = "case_critical"  # a critical case, or one of a configured category: the town's on-duty staff
    deadline_near = "deadline_near"  # accept or resolve deadline within the lead time: the level holding the case
    case_escalated = "case_escalated"  # the receiving level
    case_assigned = "case_assigned"  # the dispatched unit or assignee
    awaiting_verification = "awaiting_verification"  # resolved: those who may verify
    weekly_report = "weekly_report"  # the weekly assessment of an area: its leaders, with a link
    pairing_overdue = "pairing_overdue"  # a pairing visit not made in time: the paired volunteer
    meeting_notice = "meeting_notice"  # a 村民会议 / 村民代表会议 called: the representatives invited
    case_supervised = "case_supervised"  # 督办: the handling unit (the unit dispatched to, else the holding level)
    approval_requested = "approval_requested"  # 延期 / 缓办 asked for: the level above, which decides
    approval_decided = "approval_decided"  # 延期 / 缓办 approved or refused: the holding level and the unit
    case_returned = "case_returned"  # 退单: the dispatching level, to dispatch it again

    @property
    def label(self) -> str:
        return KIND_LABEL[self.value]


KIND_LABEL = {
    "offer": "任务邀请",
    "offer_reminder": "任务邀请即将过期",
    "task_unfilled": "任务无人接单",
    "case_critical": "紧急事件",
    "deadline_near": "办理时限将到",
    "case_escalated": "事件上报",
    "case_assigned": "事件派遣",
    "awaiting_verification": "待核查",
    "weekly_report": "周研判报告",
    "pairing_overdue": "结对走访逾期",
    "meeting_notice": "会议通知",
    "case_supervised": "事件督办",
    "approval_requested": "延期/缓办待审批",
    "approval_decided": "延期/缓办审批结果",
    "case_returned": "事件退单",
}

# kinds added after rules files were written: a file that names no channels for them gets these
LATER_KIND_DEFAULTS: dict[Kind, tuple[str, ...]] = {
    Kind.case_supervised: ("in_app", "sms"),
    Kind.approval_requested: ("in_app", "sms"),
    Kind.approval_decided: ("in_app", "sms"),
    Kind.case_returned: ("in_app", "sms"),
}

VOLUNTEER_KINDS = frozenset({Kind.offer, Kind.offer_reminder, Kind.pairing_overdue})
ALWAYS_URGENT = frozenset({Kind.case_critical})

CHANNELS = ("in_app", "sms", "email", "wecom", "dingtalk")
PERSONAL_CHANNELS = ("in_app", "sms", "email")  # a person's own; wecom and dingtalk are group robots
