"""The citizens' web chat: the page at ``/`` and its JSON endpoint ``POST /api/chat``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from backoffice.deps import State
from backoffice.guards import PerAddress, refuse_if_limited
from backoffice.responses import errors
from liangwang.conversation import Channel
from liangwang.dialogue import DialogueError, MessageTooLong, UserTurn, check_length, readable
from liangwang.wording import Say, render

router = APIRouter()


class ChatIn(BaseModel):
    # Chosen by the page and kept in the browser, so a reload continues the conversation.
    conversation_id: str = Field(min_length=8, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")
    text: str = Field(min_length=1)


class ChatMessageOut(BaseModel):
    text: str | None = None
    buttons: list[dict[str, Any]] = []


class ChatOut(BaseModel):
    messages: list[ChatMessageOut]


@router.get("/", response_class=HTMLResponse)
def chat_page(request: Request, state: State) -> HTMLResponse:
    return state.page(request, "chat.html", {"max_chars": state.settings.max_message_chars})


@router.post("/api/chat", responses=errors(400, 413, 429, 503))
async def chat(body: ChatIn, state: State, _limited: PerAddress) -> ChatOut:
    refuse_if_limited(state.rate_limits.conversation, body.conversation_id)
    text = readable(body.text)
    if not text:  # only spaces or control characters: a 400 as documented, said plainly
        raise HTTPException(400, render(Say("utter_channel_empty")))
    try:
        check_length(text, state.settings.max_message_chars)
        replies = await state.dialogue.send(
            UserTurn(
                conversation_id=Channel.web.conversation_id(body.conversation_id),
                text=text,
                channel=Channel.web,
            )
        )
    except MessageTooLong as exc:
        too_long = Say(
            "utter_channel_too_long", {"limit": str(exc.limit), "length": str(exc.length)}
        )
        raise HTTPException(413, render(too_long)) from exc
    except DialogueError as exc:
        raise HTTPException(503, render(Say("utter_channel_unavailable_web"))) from exc
    # Messages carrying only channel instructions (e.g. for the phone line) are not shown.
    shown = [m for m in replies if m.text or m.buttons]
    return ChatOut(messages=[ChatMessageOut(text=m.text, buttons=m.buttons) for m in shown])
