"""The one translation layer from Rasa's events, as its tracker store keeps them, to
the turns staff review. Rasa's event format is Rasa's: everything that knows its field
names is here (``parse_data``, ``metadata``, ``utter_action``…)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Rasa's own bookkeeping, of no use to a reviewer.
QUIET_ACTIONS = frozenset({"action_listen", "action_session_start"})
QUIET_SLOTS = frozenset({"requested_slot", "session_started_metadata"})
FALLBACK_INTENT = "nlu_fallback"
FALLBACK_ACTIONS = frozenset({"action_fallback_chain", "action_default_fallback"})
HANDOFF_ACTION = "action_handoff"


@dataclass(frozen=True)
class Turn:
    conversation_id: str
    at: datetime
    kind: str  # user, bot, action, slot
    text: str = ""
    intent: str | None = None
    confidence: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    channel: str | None = None  # a user turn says where it came from
    heard_confidence: float | None = None  # a voice turn: the recogniser's
    call_id: str | None = None

    @property
    def fell_back(self) -> bool:
        return self.intent == FALLBACK_INTENT or (
            self.kind == "action" and self.text in FALLBACK_ACTIONS
        )

    @property
    def handed_over(self) -> bool:
        return self.kind == "action" and self.text == HANDOFF_ACTION


def translate(sender_id: str, data: str) -> Turn | None:
    """One event row as a turn; None for events a reviewer has no use for (or that are
    not JSON: a broken row is skipped, not fatal)."""
    try:
        event = json.loads(data)
    except (TypeError, ValueError):
        return None
    if not isinstance(event, dict):
        return None
    at = datetime.fromtimestamp(float(event.get("timestamp") or 0), UTC)
    kind = event.get("event")
    if kind == "user":
        return _user(sender_id, at, event)
    if kind == "bot":
        data_ = event.get("data") or {}
        detail = {"buttons": data_.get("buttons") or []} if data_.get("buttons") else {}
        return Turn(sender_id, at, "bot", str(event.get("text") or ""), detail=detail)
    if kind == "action" and event.get("name") not in QUIET_ACTIONS:
        return Turn(sender_id, at, "action", str(event.get("name") or ""))
    if kind == "slot" and event.get("name") not in QUIET_SLOTS:
        value = {"value": event.get("value")}
        return Turn(sender_id, at, "slot", str(event.get("name") or ""), detail=value)
    return None


def _user(sender_id: str, at: datetime, event: dict[str, Any]) -> Turn:
    parse = event.get("parse_data") or {}
    intent = parse.get("intent") or {}
    metadata = event.get("metadata") or {}
    entities = [
        {k: e.get(k) for k in ("entity", "value", "start", "end")}
        for e in parse.get("entities") or []
        if isinstance(e, dict)
    ]
    heard = metadata.get("confidence")  # set by a channel that heard the words
    return Turn(
        sender_id,
        at,
        "user",
        str(event.get("text") or ""),
        intent=intent.get("name"),
        confidence=_number(intent.get("confidence")),
        detail={"entities": entities} if entities else {},
        channel=str(metadata.get("channel") or "") or None,
        heard_confidence=_number(heard),
        call_id=str(metadata["call_id"]) if metadata.get("call_id") else None,
    )


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None
