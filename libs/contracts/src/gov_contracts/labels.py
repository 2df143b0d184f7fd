"""Chinese names of the codes the events carry, for subscribers that show them to people.

Events carry codes (`category="dispute.land"`, `status="accepted"`, `level="village"`); a subscriber
that writes a message in Chinese looks the name up here instead of keeping its own copy:

    >>> from gov_contracts.labels import category_label, status_label, level_label
    >>> category_label("dispute.land"), status_label("accepted"), level_label("village")
    ('土地山林纠纷', '已受理', '村(社区)')

Every lookup function answers the code itself for a code it does not know (a category a town
configured for itself, a status newer than this copy of the package), so an old copy never fails
on a new event; it only shows the code. Levels and severities keep their one table in
`gov_contracts.vocabulary` (re-exported here); the others are here. `tests/unit/test_contract_labels.py`
fails when a status, level, severity, category of the default policy, task type or registered
event type has no label.
"""

from __future__ import annotations

from gov_contracts.areas import AreaKind
from gov_contracts.vocabulary import LEVEL_LABEL, SEVERITY_LABEL

__all__ = [
    "AREA_KIND_LABEL",
    "CATEGORY_LABEL",
    "DEADLINE_LABEL",
    "EVENT_TYPE_LABEL",
    "LEVEL_LABEL",
    "LEVEL_SHORT_LABEL",
    "SEVERITY_LABEL",
    "STATUS_LABEL",
    "TASK_STATUS_LABEL",
    "TASK_TYPE_LABEL",
    "area_kind_label",
    "category_label",
    "deadline_label",
    "event_type_label",
    "level_label",
    "level_short_label",
    "severity_label",
    "status_label",
    "task_status_label",
    "task_type_label",
]

# Case categories of the default policy (services/cases/config/policy.yaml, `name:`), as the cases service lists
# them (GET /open311/v2/services.json: service_name). A town that configures categories of its own gets the code
# back for those; the service list is the authority.
CATEGORY_LABEL: dict[str, str] = {
    "dispute.neighbor": "邻里纠纷",
    "dispute.family": "婚姻家庭纠纷",
    "dispute.land": "土地山林纠纷",
    "dispute.labor": "劳资纠纷",
    "dispute.demolition": "征地拆迁纠纷",
    "petition": "信访",
    "hazard.safety": "安全隐患",
    "hazard.fire": "消防隐患",
    "hazard.geologic": "地质灾害隐患",
    "environment.sanitation": "环境卫生",
    "livelihood.request": "民生诉求",
    "public_order": "社会治安",
    "epidemic": "疫情防控",
    "other": "其他",
}

# A case's status (the `status` of every case event).
STATUS_LABEL: dict[str, str] = {
    "reported": "已上报",
    "accepted": "已受理",
    "rejected": "不予受理",
    "withdrawn": "已撤回",
    "dispatched": "已派遣",
    "in_progress": "处置中",
    "resolved": "已办结",
    "verified": "已核查",
    "reopened": "返工",
    "referred": "诉调对接",
    "closed": "已结案",
    "merged": "已合并",
    "suspended": "缓办中",
}

# The level a case is handled at, as a word before 级 reads in a sentence: 已升级至村级, 已派遣至镇级.
# (LEVEL_LABEL, from gov_contracts.vocabulary, is the level's own name: 网格, 村(社区), 镇, 县.)
LEVEL_SHORT_LABEL: dict[str, str] = {"grid": "网格级", "village": "村级", "town": "镇级", "county": "县级"}

# Which deadline of a case passed (gov.case.overdue.v1 `deadline`): 受理超期, 办结超期.
DEADLINE_LABEL: dict[str, str] = {"accept": "受理", "resolve": "办结"}

# Field work a volunteer is offered (the `task_type` of task events; a case's `field_work_task_type`).
TASK_TYPE_LABEL: dict[str, str] = {
    "meal_delivery": "助老送餐",
    "pairing_visit": "结对走访",
    "epidemic_temperature_check": "测温值守",
    "epidemic_publicity": "防疫宣传",
    "epidemic_disinfection": "消毒消杀",
    "dispute_mediation": "纠纷调解",
    "sanitation_cleanup": "环境清扫",
    "patrol": "巡查",
    "cultural_activity": "文化活动",
    "meeting_publicity": "会议宣传",
}

# A task's status (the `status` of every task event).
TASK_STATUS_LABEL: dict[str, str] = {
    "open": "待派发",
    "offered": "邀请中",
    "assigned": "已指派",
    "in_progress": "进行中",
    "completed": "已完成",
    "cancelled": "已取消",
    "unfilled": "无人承接",
}

# The kind of an area in the tree (gov.area.upserted.v1 `kind`).
AREA_KIND_LABEL: dict[str, str] = {
    AreaKind.town.value: "镇",
    AreaKind.village.value: "村",
    AreaKind.community.value: "社区",
    AreaKind.grid.value: "网格",
}

# A few words for each registered event type (gov_contracts.REGISTRY): what happened.
EVENT_TYPE_LABEL: dict[str, str] = {
    "gov.area.upserted.v1": "区域更新",
    # cases
    "gov.case.reported.v1": "案件上报",
    "gov.case.reported.v2": "案件上报",
    "gov.case.accepted.v1": "案件受理",
    "gov.case.rejected.v1": "不予受理",
    "gov.case.withdrawn.v1": "案件撤回",
    "gov.case.dispatched.v1": "案件派遣",
    "gov.case.started.v1": "开始处置",
    "gov.case.resolved.v1": "案件办结",
    "gov.case.verified.v1": "核查通过",
    "gov.case.reopened.v1": "核查返工",
    "gov.case.closed.v1": "案件结案",
    "gov.case.escalated.v1": "案件升级",
    "gov.case.overdue.v1": "案件超期",
    "gov.case.referred.v1": "诉调对接",
    "gov.case.referral_outcome_recorded.v1": "诉调对接结果",
    "gov.case.merged.v1": "案件合并",
    "gov.case.report_count_raised.v1": "重复上报",
    "gov.case.rated.v1": "满意度评价",
    "gov.case.extension_requested.v1": "延期申请",
    "gov.case.extension_decided.v1": "延期审批",
    "gov.case.suspension_requested.v1": "缓办申请",
    "gov.case.suspension_decided.v1": "缓办审批",
    "gov.case.resumed.v1": "恢复办理",
    "gov.case.returned.v1": "退单",
    "gov.case.supervised.v1": "督办",
    "gov.case.callback_recorded.v1": "工单回访",
    # tasks
    "gov.task.created.v1": "任务创建",
    "gov.task.offered.v1": "任务邀请",
    "gov.task.offer_declined.v1": "谢绝邀请",
    "gov.task.offer_expired.v1": "邀请超时",
    "gov.task.assigned.v1": "任务指派",
    "gov.task.checked_in.v1": "到岗签到",
    "gov.task.completed.v1": "任务完成",
    "gov.task.cancelled.v1": "任务取消",
    "gov.task.unfilled.v1": "无人承接",
    # volunteers
    "gov.volunteer.registered.v1": "志愿者登记",
    "gov.volunteer.registered.v2": "志愿者登记",
    "gov.volunteer.updated.v1": "志愿者信息变更",
    "gov.volunteer.hours_corrected.v1": "服务时长更正",
    "gov.pairing.visit_overdue.v1": "结对走访逾期",
    # reports
    "gov.report.weekly_published.v1": "周研判发布",
    "gov.report.livelihood_demand.v1": "民生需求分析",
    # livelihood (民生实事)
    "gov.livelihood.proposal_submitted.v1": "提议",
    "gov.livelihood.proposal_stepped.v1": "议事步骤",
    "gov.livelihood.proposal_reviewed.v1": "支部审议",
    "gov.livelihood.meeting_noticed.v1": "会议通知",
    "gov.livelihood.proposal_decided.v1": "会议表决",
    "gov.livelihood.notice_published.v1": "公示",
    "gov.livelihood.objection_lodged.v1": "异议提出",
    "gov.livelihood.objection_answered.v1": "异议答复",
    "gov.livelihood.implementation_started.v1": "开始实施",
    "gov.livelihood.milestone_recorded.v1": "进度节点",
    "gov.livelihood.spending_recorded.v1": "资金支出",
    "gov.livelihood.budget_changed.v1": "预算变更",
    "gov.livelihood.project_accepted.v1": "项目验收",
    "gov.livelihood.results_published.v1": "结果公开",
}


def category_label(code: str) -> str:
    """土地山林纠纷 for `dispute.land`; the code itself for a category not in the default policy."""
    return CATEGORY_LABEL.get(code, code)


def status_label(code: str) -> str:
    """已受理 for `accepted`; the code itself for an unknown status."""
    return STATUS_LABEL.get(code, code)


def level_label(code: str) -> str:
    """村(社区) for `village`; the code itself for an unknown level."""
    return LEVEL_LABEL.get(code, code)


def level_short_label(code: str) -> str:
    """村级 for `village` (as in 已升级至村级); the code itself for an unknown level."""
    return LEVEL_SHORT_LABEL.get(code, code)


def severity_label(code: str) -> str:
    """较大 for `medium` (一般/较大/重大/特别重大); the code itself for an unknown severity."""
    return SEVERITY_LABEL.get(code, code)


def deadline_label(code: str) -> str:
    """办结 for `resolve`; the code itself for an unknown deadline."""
    return DEADLINE_LABEL.get(code, code)


def task_type_label(code: str) -> str:
    """助老送餐 for `meal_delivery`; the code itself for an unknown task type."""
    return TASK_TYPE_LABEL.get(code, code)


def task_status_label(code: str) -> str:
    """已指派 for `assigned`; the code itself for an unknown task status."""
    return TASK_STATUS_LABEL.get(code, code)


def area_kind_label(code: str) -> str:
    """社区 for `community`; the code itself for an unknown kind."""
    return AREA_KIND_LABEL.get(code, code)


def event_type_label(type_name: str) -> str:
    """案件升级 for `gov.case.escalated.v1`; the type name itself for a type this copy does not know."""
    return EVENT_TYPE_LABEL.get(type_name, type_name)
