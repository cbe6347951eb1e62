"""The Chinese that staff read: ticket states and actions, the notes the system writes on
tickets, and the back office's error messages. One declared table; what citizens hear or
read lives in bot/domain.yml instead."""

from __future__ import annotations

from liangwang.complaints.models import Status, TicketAction

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

# Notes the system itself writes on a ticket's audit trail.
TICKET_NOTES = {
    "withdrawn_by_citizen": "市民撤回",
    "merged_into": "并入 {number}",
}

BACK_OFFICE_ERRORS = {
    "no_such_call": "没有这通电话",
    "no_such_recording": "没有这段录音",
    "unknown_district": "不认识的区：{district} / unknown district",
}
