"""The citizens' web chat: the page at ``/`` and its JSON endpoint ``POST /api/chat``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from backoffice.deps import State
from liangwang.dialogue import DialogueError, MessageTooLong, UserTurn, check_length

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
    return state.templates.TemplateResponse(
        request, "chat.html", {"max_chars": state.settings.max_message_chars}
    )


@router.post("/api/chat")
async def chat(body: ChatIn, state: State) -> ChatOut:
    text = body.text.strip()
    if not text:
        raise HTTPException(422, "请说点什么再发送 / empty message")
    try:
        check_length(text, state.settings.max_message_chars)
        replies = await state.dialogue.send(
            UserTurn(conversation_id=f"web-{body.conversation_id}", text=text, channel="web")
        )
    except MessageTooLong as exc:
        raise HTTPException(
            413, f"消息太长了：最多 {exc.limit} 个字，您发了 {exc.length} 个字。请分几次发。"
        ) from exc
    except DialogueError as exc:
        raise HTTPException(
            503, "助手暂时没有响应。您写的话还在输入框里，请稍后再发一次，或拨打 12345。"
        ) from exc
    return ChatOut(messages=[ChatMessageOut(text=m.text, buttons=m.buttons) for m in replies])
