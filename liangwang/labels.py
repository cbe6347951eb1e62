"""The Chinese that staff read: ticket states and actions, the notes the system writes on
tickets, and the back office's error messages. One declared table; what citizens hear or
read lives in bot/domain.yml instead."""

from __future__ import annotations

from liangwang.complaints.models import Status, TicketAction
from liangwang.staff.models import Role

ROLE_NAMES: dict[str, str] = {
    Role.reviewer: "审阅员", Role.dispatcher: "派单员", Role.admin: "管理员",
}  # fmt: skip

STATUS_NAMES: dict[str, str] = {
    Status.received: "受理", Status.dispatched: "已派单", Status.processing: "处置中",
    Status.answered: "已答复", Status.closed: "办结", Status.returned: "退回",
    Status.withdrawn: "撤回", Status.merged: "合并",
}  # fmt: skip

# The actions staff take from the ticket page, in the order the page offers them.
STAFF_ACTION_NAMES: dict[str, str] = {
    TicketAction.dispatch: "派单", TicketAction.start: "开始处置", TicketAction.answer: "答复",
    TicketAction.close: "办结", TicketAction.return_: "退回", TicketAction.withdraw: "撤回",
}  # fmt: skip

# Why a conversation is in the handoff queue.
HANDOFF_REASON_NAMES = {
    "asked": "要求转人工", "fell_back": "两次没听懂", "key_zero": "按了 0",
    "engine_failure": "系统出错", "unfinished_draft": "未提交的反映",
    "call_back": "回访时要求转人工",
}  # fmt: skip
# A secret on the administrators' settings page: whether it is set, never its value.
SETTING_SHOWN = {"set": "（已设置）", "unset": "（未设置）"}
SENDER_NAMES = {"citizen": "市民", "assistant": "智能助手", "staff": "工作人员"}
CHANNEL_NAMES = {
    "web": "网页", "telegram": "Telegram", "phone": "电话", "cli": "终端", "other": "其他",
}  # fmt: skip
TURN_KINDS = {"user": "市民", "bot": "助手", "action": "动作", "slot": "槽位"}

# What the handoff list says of an unfinished complaint its caller could not prove theirs.
HANDOFF_NOTES = {
    "unfinished_draft": "未提交的反映：{description}",
    "unfinished_draft_place": "（{place}）",
}

# Notes the system itself writes on a ticket's audit trail.
TICKET_NOTES = {
    "withdrawn_by_citizen": "市民撤回",
    "merged_into": "并入 {number}",
    # Call backs (回访电话): every attempt, what came of it, a call staff asked for.
    "callback_attempt": "{outcome} 回访电话第{attempt}次：{name}",
    "callback_detail": "（{detail}）",
    "callback_rated": "，评价{stars}分",
    "callback_handoff": "，要求转人工",
    "callback_gave_up": "；已打{attempts}次未告知，等市民下次来电时告诉他",
    "callback_requested": "员工要求回访电话，{at}拨打",
    "callback_now": "马上",
    "callback_at": "{at} 后",
}

# How a call back went (liangwang.complaints.callbacks.Outcome), for staff.
CALLBACK_OUTCOME_NAMES: dict[str, str] = {
    "answered": "接通并告知了答复", "hung_up": "接通后没听完就挂断", "busy": "占线",
    "no_answer": "无人接听", "declined": "拒接", "failed": "呼叫失败",
}  # fmt: skip

BACK_OFFICE_ERRORS = {
    "no_such_call": "没有这通电话",
    "no_such_conversation": "没有这段对话",
    "no_such_turn": "这段对话里没有这一句",
    "no_such_intent": "没有这个意图",
    "not_a_citizen_turn": "只能更正市民说的话",
    "no_such_recording": "没有这段录音",
    "no_such_photo": "没有这张照片",
    "unknown_district": "不认识的区：{district} / unknown district",
    "no_contact_phone": "市民没有留电话，不能回访 / no contact phone: no call back",
    "callbacks_off": "没有配置回访线路 / call backs are off (LIANGWANG_CALLBACK_TRUNK_URI)",
    "database_unavailable": "数据库暂时不可用，请稍后再试 / the database is unavailable",
}
